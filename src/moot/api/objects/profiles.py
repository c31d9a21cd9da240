"""Profiles: reusable bundles of settings referenced by spaces, tenants and the system.

Call leg, call, DTMF, user, IVR branding, call branding, compatibility,
dial-in security and web bridge profiles. Their lists take ``usageFilter``
(referenced/unreferenced). Deleting a profile that is still referenced
unsets the references (the objects then inherit from the level above).
"""

from __future__ import annotations

from moot.api.model import (
    BOOL,
    NUMBER,
    URL,
    USAGE_FILTER,
    Field,
    Number,
    ObjectType,
    Text,
    choice,
)
from moot.api.objects.leg_settings import LEG_SETTINGS, PROFILE_ONLY_SETTINGS

PROFILE_FILTERS = (USAGE_FILTER,)
NAME = Text(max_length=200)
#: A DTMF key sequence (digits, ``*``, ``#``, and A-D).
DTMF_KEYS = Text(max_length=32, pattern=r"[0-9A-Da-d*#]+")
SIP_URI = Text(max_length=512, pattern=r"\S+")

CALL_LEG_PROFILE = ObjectType(
    name="callLegProfile",
    collection="callLegProfiles",
    fields=(Field("name", NAME, listed=True), *LEG_SETTINGS, *PROFILE_ONLY_SETTINGS),
    filters=PROFILE_FILTERS,
    summary="In-call behaviour for the legs of spaces, members, access methods and tenants.",
)

CALL_PROFILE = ObjectType(
    name="callProfile",
    collection="callProfiles",
    fields=(
        Field("participantLimit", NUMBER),
        Field("messageBoardEnabled", BOOL),  # removed in API 3.0; kept for older scripts
        Field("locked", BOOL),
        Field("lockMode", choice("all", "needsActivation")),
        Field("recordingMode", choice("disabled", "manual", "automatic"), default="manual"),
        Field("streamingMode", choice("disabled", "manual", "automatic"), default="manual"),
        Field("sipRecorderUri", SIP_URI),
        Field("sipStreamerUri", SIP_URI),
        Field("passcodeMode", choice("required", "timeout")),
        Field("passcodeTimeout", NUMBER),
        Field("gatewayAudioCallOptimization", BOOL),
        Field("lyncConferenceMode", choice("dualHomeCluster", "dualHomeCallBridge", "gateway")),
    ),
    filters=PROFILE_FILTERS,
    summary="Limits and recording/streaming behaviour of calls.",
)

CALL_BRANDING_PROFILE = ObjectType(
    name="callBrandingProfile",
    collection="callBrandingProfiles",
    fields=(
        Field("invitationTemplate", URL, listed=True),
        Field("resourceLocation", URL, listed=True),
    ),
    filters=PROFILE_FILTERS,
    summary="Where calls fetch their branding files and invitation text.",
)

IVR_BRANDING_PROFILE = ObjectType(
    name="ivrBrandingProfile",
    collection="ivrBrandingProfiles",
    fields=(Field("resourceLocation", URL, listed=True),),
    filters=PROFILE_FILTERS,
    summary="Where IVRs fetch their prompts and images.",
)

DTMF_ACTIONS = (
    "lockCall",
    "unlockCall",
    "nextLayout",
    "previousLayout",
    "muteSelfAudio",
    "unmuteSelfAudio",
    "toggleMuteSelfAudio",
    "muteAllExceptSelfAudio",
    "unmuteAllExceptSelfAudio",
    "startRecording",
    "stopRecording",
    "startStreaming",
    "stopStreaming",
    "allowAllMuteSelf",
    "cancelAllowAllMuteSelf",
    "allowAllPresentationContribution",
    "cancelAllowAllPresentationContribution",
    "muteAllNewAudio",
    "unmuteAllNewAudio",
    "defaultMuteAllNewAudio",
    "muteAllNewAndAllExceptSelfAudio",
    "unmuteAllNewAndAllExceptSelfAudio",
    "endCall",
    "getTotalParticipantCount",
)

DTMF_PROFILE = ObjectType(
    name="dtmfProfile",
    collection="dtmfProfiles",
    fields=tuple(Field(action, DTMF_KEYS) for action in DTMF_ACTIONS),
    filters=PROFILE_FILTERS,
    summary="Key sequences participants press to control a call.",
)

USER_PROFILE = ObjectType(
    name="userProfile",
    collection="userProfiles",
    fields=(
        # The first five and the last two were removed in API 3.0; kept for older scripts.
        Field("canCreateCoSpaces", BOOL),
        Field("canCreateCalls", BOOL),
        Field("canUseExternalDevices", BOOL),
        Field("canMakePhoneCalls", BOOL),
        Field("userToUserMessagingAllowed", BOOL),
        Field("audioParticipationAllowed", BOOL),
        Field("videoParticipationAllowed", BOOL),
        Field("presentationParticipationAllowed", BOOL),
        Field("hasLicense", BOOL),
        Field("canReceiveCalls", BOOL),
        Field("canSendEmailInvite", BOOL),
    ),
    filters=PROFILE_FILTERS,
    summary="What users may do, and whether they hold a personal licence (hasLicense).",
)

COMPATIBILITY_PROFILE = ObjectType(
    name="compatibilityProfile",
    collection="compatibilityProfiles",
    fields=(
        Field("sipUdt", BOOL),
        Field("sipMultistream", BOOL),
        Field("sipMediaPayloadTypeMode", choice("auto", "broadsoft")),
        Field("chromeWebRtcVideoCodec", choice("auto", "avoidH264")),
        Field("chromeWebRtcH264interopMode", choice("auto", "none")),
        Field("h264CHPMode", choice("auto", "basic")),
        Field("sipH224", BOOL),
        Field("distributionLinkMediaTraversal", choice("enabled", "disabled")),
    ),
    filters=PROFILE_FILTERS,
    summary="Interoperability switches for SIP and WebRTC media.",
)

DIAL_IN_SECURITY_PROFILE = ObjectType(
    name="dialInSecurityProfile",
    collection="dialInSecurityProfiles",
    fields=(
        Field("name", NAME, listed=True),
        Field("minPasscodeLength", Number(minimum=0, maximum=32)),
    ),
    filters=PROFILE_FILTERS,
    summary="Passcode rules for dialling in (minimum passcode length).",
)

WEB_BRIDGE_PROFILE = ObjectType(
    name="webBridgeProfile",
    collection="webBridgeProfiles",
    fields=(
        Field("name", NAME, listed=True),
        Field("resourceArchive", URL),
        Field("allowPasscodes", BOOL, default=True),
        Field("allowSecrets", BOOL, default=True),
        Field("userPortalEnabled", BOOL, default=True),
        Field("allowUnauthenticatedGuests", BOOL, default=True),
        Field("resolveCoSpaceCallIds", BOOL, default=True),
        Field("resolveLyncConferenceIds", BOOL, default=False),
        Field(
            "resolveCoSpaceUris",
            choice("off", "domainSuggestionDisabled", "domainSuggestionEnabled"),
            default="off",
        ),
    ),
    filters=PROFILE_FILTERS,
    summary="How web bridges let visitors find and join spaces.",
)

TYPES = (
    CALL_LEG_PROFILE,
    CALL_PROFILE,
    CALL_BRANDING_PROFILE,
    IVR_BRANDING_PROFILE,
    DTMF_PROFILE,
    USER_PROFILE,
    COMPATIBILITY_PROFILE,
    DIAL_IN_SECURITY_PROFILE,
    WEB_BRIDGE_PROFILE,
)
