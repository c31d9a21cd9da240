"""Web bridge pieces without sockets: message parsing, the guess limiter, entry rules."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from moot.callbridge.routing import SpaceTarget
from moot.webbridge import signalling
from moot.webbridge.access import AccessDenied, Meeting, check_entry
from moot.webbridge.offer import BadOffer, check_offer
from moot.webbridge.ratelimit import RateLimiter
from moot.webbridge.signalling import Join, Leave, Mute, Ping, ProtocolError

# -- signalling ---------------------------------------------------------------------------


def test_join_is_parsed_field_by_field() -> None:
    message = signalling.parse(json.dumps({
        "type": "join", "meetingId": "123", "passcode": "", "secret": "s3", "name": "  Ann  ",
        "audioMuted": True, "sdp": "v=0",
    }))
    assert message == Join(meeting_id="123", passcode=None, secret="s3", name="Ann", audio_muted=True,
                           video_muted=False, sdp="v=0")
    assert signalling.parse('{"type": "mute", "audio": true, "video": false}') == Mute(True, False)
    assert signalling.parse(b'{"type": "leave"}') == Leave()
    assert signalling.parse('{"type": "ping"}') == Ping()


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        ("{", "badMessage", "JSON object"),
        ("[1, 2]", "badMessage", "JSON object"),
        ('"join"', "badMessage", "JSON object"),
        (b"\xff\xfe", "badMessage", "JSON object"),
        ("{}", "badMessage", "needs a 'type'"),
        ('{"type": 5}', "badMessage", "needs a 'type'"),
        ('{"type": "dance"}', "badMessage", "unknown message type 'dance'"),
        ('{"type": "join", "sdp": "v=0"}', "badMessage", "'meetingId' is missing"),
        ('{"type": "join", "meetingId": 12, "sdp": "v=0"}', "badMessage", "'meetingId' must be a string"),
        ('{"type": "join", "meetingId": "1"}', "badMessage", "'sdp' is missing"),
        ('{"type": "join", "meetingId": "1\\u0000", "sdp": "v"}', "badMessage", "NUL"),
        (json.dumps({"type": "join", "meetingId": "1", "sdp": "v", "name": "n" * 101}), "badMessage",
         "longer than 100"),
        ('{"type": "mute", "audio": "yes"}', "badMessage", "'audio' must be true or false"),
        ("x" * (64 * 1024 + 1), "messageTooLarge", "65536 bytes"),
    ],
)
def test_bad_messages_say_what_is_wrong(raw: str | bytes, code: str, words: str) -> None:
    with pytest.raises(ProtocolError) as err:
        signalling.parse(raw)
    assert err.value.code == code
    assert words in err.value.message


def test_error_messages_carry_extra_fields() -> None:
    assert signalling.error("rateLimited", "wait", fatal=False, retryAfter=30) == {
        "type": "error", "code": "rateLimited", "message": "wait", "fatal": False, "retryAfter": 30}


# -- rate limiting ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_guessing_is_blocked_after_the_allowance_and_the_penalty_doubles(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limiter = RateLimiter(allowed=3, window=60, penalty=30, max_penalty=100, clock=clock)
    # Attached to the logger itself: other tests may have stopped it propagating to the root.
    logging.getLogger("moot.webbridge").addHandler(caplog.handler)
    caplog.set_level(logging.INFO, "moot.webbridge")
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1") is None
        limiter.failed("10.0.0.1", "wrongPasscode")
    assert limiter.retry_after("10.0.0.1") is None
    limiter.failed("10.0.0.1", "wrongPasscode")  # the 4th within the window
    assert limiter.retry_after("10.0.0.1") == pytest.approx(30)
    assert limiter.retry_after("10.0.0.2") is None  # other addresses are not affected
    assert "10.0.0.1 refused for 30 s after more than 3 failed attempts" in caplog.text
    clock.now += 31
    assert limiter.retry_after("10.0.0.1") is None
    for _ in range(4):
        limiter.failed("10.0.0.1", "wrongPasscode")
    assert limiter.retry_after("10.0.0.1") == pytest.approx(60)
    clock.now += 61
    for _ in range(4):
        limiter.failed("10.0.0.1", "wrongPasscode")
    assert limiter.retry_after("10.0.0.1") == pytest.approx(100)  # capped
    logging.getLogger("moot.webbridge").removeHandler(caplog.handler)


def test_failures_outside_the_window_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(allowed=2, window=10, clock=clock)
    for _ in range(10):
        limiter.failed("a", "x")
        clock.now += 6  # never more than 2 in any 10 s
    assert limiter.retry_after("a") is None


# -- entry rules --------------------------------------------------------------------------


def meeting(passcode: str | None = "1234", secret: str | None = "s3cret", **profile: Any) -> Meeting:
    space = {"id": "sp", "name": "Room", "passcode": passcode, "secret": secret}
    return Meeting(SpaceTarget(space), "555", "Room", profile, secret)


def refused(m: Meeting, **kwargs: Any) -> str:
    with pytest.raises(AccessDenied) as err:
        check_entry(m, **{"passcode": None, "secret": None, "signed_in": False, **kwargs})
    return err.value.code


def test_passcode_and_secret_rules() -> None:
    check_entry(meeting(), passcode="1234", secret=None, signed_in=False)
    check_entry(meeting(), passcode=None, secret="s3cret", signed_in=False)
    check_entry(meeting(passcode=None), passcode=None, secret=None, signed_in=False)
    assert refused(meeting()) == "passcodeRequired"
    assert refused(meeting(), passcode="12345") == "wrongPasscode"
    assert refused(meeting(), secret="other") == "unknownMeeting"
    assert refused(meeting(allowSecrets=False), secret="s3cret") == "unknownMeeting"
    assert refused(meeting(allowPasscodes=False), passcode="1234") == "unknownMeeting"
    check_entry(meeting(allowPasscodes=False), passcode=None, secret="s3cret", signed_in=False)
    assert refused(meeting(resolveCoSpaceCallIds=False), passcode="1234") == "unknownMeeting"
    assert refused(meeting(allowUnauthenticatedGuests=False), passcode="1234") == "guestsNotAllowed"
    check_entry(meeting(allowUnauthenticatedGuests=False), passcode="1234", secret=None, signed_in=True)


# -- offers -------------------------------------------------------------------------------

OFFER_HEAD = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
MEDIA_ATTRS = ("c=IN IP4 127.0.0.1\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"
               "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\na=mid:0\r\n"
               "a=rtcp-mux\r\n")


def test_offers_without_audio_or_ice_are_refused() -> None:
    audio = OFFER_HEAD + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" + MEDIA_ATTRS + "a=rtpmap:111 opus/48000/2\r\n"
    check_offer(audio)
    video_only = OFFER_HEAD + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" + MEDIA_ATTRS + "a=rtpmap:96 VP8/90000\r\n"
    with pytest.raises(BadOffer, match="no audio stream"):
        check_offer(video_only)
    with pytest.raises(BadOffer, match="no audio stream"):
        check_offer(OFFER_HEAD)
    no_ice = OFFER_HEAD + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:111 opus/48000/2\r\n"
    with pytest.raises(BadOffer, match="ICE credentials or a DTLS fingerprint"):
        check_offer(no_ice)
    with pytest.raises(BadOffer, match="cannot be read"):
        check_offer("m=audio banana\r\n")
    with pytest.raises(BadOffer, match="cannot be read"):
        check_offer("")
