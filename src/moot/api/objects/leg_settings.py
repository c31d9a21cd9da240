"""In-call behaviour settings shared by call leg profiles, call legs and participants.

A call leg profile sets them for every leg that uses it; a call leg or a
participant can override each of them individually. They are all optional:
an unset value is inherited from the profile one level up, so no defaults are
stored here.
"""

from __future__ import annotations

from moot.api.model import BOOL, LAYOUTS, Field, Number, Text, choice, ref

#: Numbers of participants up to which join/leave tones are played.
TONE_THRESHOLD = Number(minimum=0, maximum=100)
#: The name shown for a leg instead of its own (at most 50 bytes in the product).
NAME_LABEL = Text(max_length=50)
#: DTMF digits, with commas as pauses.
DTMF_SEQUENCE = Text(max_length=128, pattern=r"[0-9A-Da-d*#,]+")

#: Settings a call leg profile, a call leg and a participant all have.
LEG_SETTINGS: tuple[Field, ...] = (
    Field("needsActivation", BOOL),
    Field("defaultLayout", LAYOUTS),
    Field("changeLayoutAllowed", BOOL),
    Field("participantLabels", BOOL),
    Field("presentationDisplayMode", choice("dualStream", "singleStream")),
    Field("presentationContributionAllowed", BOOL),
    Field("presentationViewingAllowed", BOOL),
    Field("endCallAllowed", BOOL),
    Field("muteOthersAllowed", BOOL),
    Field("videoMuteOthersAllowed", BOOL),
    Field("muteSelfAllowed", BOOL),
    Field("videoMuteSelfAllowed", BOOL),
    Field("joinToneParticipantThreshold", TONE_THRESHOLD),
    Field("leaveToneParticipantThreshold", TONE_THRESHOLD),
    Field("videoMode", choice("auto", "disabled")),
    Field("rxAudioMute", BOOL),
    Field("txAudioMute", BOOL),
    Field("rxVideoMute", BOOL),
    Field("txVideoMute", BOOL),
    Field("sipMediaEncryption", choice("optional", "required", "prohibited")),
    Field("audioPacketSizeMs", Number(minimum=1, maximum=1000)),
    Field("deactivationMode", choice("deactivate", "disconnect", "remainActivated")),
    Field("deactivationModeTime", Number()),
    Field("telepresenceCallsAllowed", BOOL),
    Field("sipPresentationChannelEnabled", BOOL),
    Field("bfcpMode", choice("serverOnly", "serverAndClient")),
    Field("disconnectOthersAllowed", BOOL),
    Field("addParticipantAllowed", BOOL),
    Field("qualityMain", choice("unrestricted", "max1080p30", "max720p30", "max480p30")),
    Field("qualityPresentation", choice("unrestricted", "max1080p30", "max720p5")),
    Field("participantCounter", choice("never", "auto", "always")),
    Field("controlRemoteCameraAllowed", BOOL),
    Field("layoutTemplate", ref("layoutTemplate")),
    Field("audioGainMode", choice("disabled", "agc")),
)

#: Permissions only a call leg profile carries (what legs using it may change in the call).
PROFILE_ONLY_SETTINGS: tuple[Field, ...] = (
    Field("allowAllPresentationContributionAllowed", BOOL),
    Field("changeJoinAudioMuteOverrideAllowed", BOOL),
    Field("allowAllMuteSelfAllowed", BOOL),
    Field("callLockAllowed", BOOL),
    Field("setImportanceAllowed", BOOL),
    Field("recordingControlAllowed", BOOL),
    Field("streamingControlAllowed", BOOL),
    Field("maxCallDurationTime", Number()),
)

#: Per-leg extras accepted when a leg or participant is created or changed.
LEG_ONLY_SETTINGS: tuple[Field, ...] = (
    Field("layout", LAYOUTS),
    Field("nameLabelOverride", NAME_LABEL),
)
