"""TURN credentials: long-term keys, nonce expiry, time-limited REST credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac

from moot.turn.credentials import Credentials, NonceState, rest_credentials, rest_password
from moot.turn.stun import long_term_key


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_long_term_key_is_md5_of_user_realm_password() -> None:
    creds = Credentials("example.org", {"bob": "pw"})
    assert creds.key_for("bob") == hashlib.md5(b"bob:example.org:pw").digest()
    assert creds.key_for("bob") == long_term_key("bob", "example.org", "pw")
    assert creds.key_for("eve") is None


def test_nonce_valid_until_lifetime_then_stale() -> None:
    clock = Clock()
    creds = Credentials("r", nonce_lifetime=600, clock=clock)
    nonce = creds.new_nonce()
    assert creds.check_nonce(nonce) is NonceState.VALID
    clock.now += 599
    assert creds.check_nonce(nonce) is NonceState.VALID
    clock.now += 2
    assert creds.check_nonce(nonce) is NonceState.STALE
    assert creds.check_nonce(creds.new_nonce()) is NonceState.VALID


def test_forged_or_foreign_nonces_are_stale() -> None:
    clock = Clock()
    ours = Credentials("r", clock=clock)
    theirs = Credentials("r", clock=clock)  # another secret
    nonce = ours.new_nonce()
    assert theirs.check_nonce(nonce) is NonceState.STALE
    tampered = format(int(clock.now) + 1000, "x") + nonce[-16:]
    assert ours.check_nonce(tampered) is NonceState.STALE
    for junk in ("", "x", "zz" * 20, nonce[:-1]):
        assert ours.check_nonce(junk) is NonceState.STALE


def test_workers_sharing_the_secret_accept_each_others_nonces() -> None:
    a = Credentials("r", nonce_secret=b"s" * 16)
    b = Credentials("r", nonce_secret=b"s" * 16)
    assert b.check_nonce(a.new_nonce()) is NonceState.VALID


def test_rest_password_matches_the_published_scheme() -> None:
    username = "1700003600:alice"
    expected = base64.b64encode(hmac.new(b"secret", username.encode(), hashlib.sha1).digest()).decode()
    assert rest_password("secret", username) == expected


def test_rest_credentials_valid_until_expiry() -> None:
    clock = Clock()
    creds = Credentials("r", shared_secret="secret", clock=clock)
    username, password = rest_credentials("secret", "alice", ttl=3600, now=clock.now)
    assert username == f"{int(clock.now) + 3600}:alice"
    assert creds.password_for(username) == password
    assert creds.key_for(username) == long_term_key(username, "r", password)
    clock.now += 3601
    assert creds.password_for(username) is None


def test_rest_usernames_need_a_secret_and_a_timestamp() -> None:
    no_secret = Credentials("r")
    assert no_secret.password_for("9999999999:alice") is None
    creds = Credentials("r", shared_secret="secret", clock=Clock())
    assert creds.password_for("alice") is None
    assert creds.password_for("soon:alice") is None
    assert creds.password_for("9999999999") == rest_password("secret", "9999999999")



def test_non_ascii_digits_in_a_time_limited_username_are_refused_not_crashing() -> None:
    # "²".isdigit() is true but int("²") raises: a username from the network must not crash the server.
    creds = Credentials("r", shared_secret="s3cret", clock=lambda: 1000.0)
    assert creds.password_for("²:alice") is None
    assert creds.password_for("2000:alice") == rest_password("s3cret", "2000:alice")
