"""Moot licence files (``cms.lic``), signed with Ed25519 (guide B.14).

The guide's licence file is for one server (its MAC address) and lists the activated
features with their expiry. Moot's is a small armored text file::

    Moot license file (any text outside the blocks is ignored)
    -----BEGIN MOOT LICENSE-----
    <base64 of the payload: UTF-8 JSON, see below>
    -----END MOOT LICENSE-----
    -----BEGIN MOOT LICENSE SIGNATURE-----
    <base64 of the 64-byte Ed25519 signature over the exact payload bytes>
    -----END MOOT LICENSE SIGNATURE-----

The payload (every key required unless marked optional, no others allowed)::

    {"format": "moot-license/1",
     "issuer": "Example Licensing Ltd",          # who issued it (free text)
     "authority": "<hex SHA-256 of the raw authority public key>",
     "serial": "9f2c...",                         # unique per file
     "issued": "2025-06-01",
     "hosts": ["<node id>", ...],                 # the nodes it is valid for (NODE_ID)
     "features": {"callBridge": "2027-06-30", ...},   # feature -> last day (inclusive)
     "personal": {"limit": 10, "expiry": "2027-06-30"},   # optional, PMP Plus
     "shared": {"limit": 20, "expiry": "2027-06-30"}}     # optional, SMP Plus

Because the signature covers the decoded payload bytes, line breaks and whitespace in
the armor (an SFTP client in text mode) do not matter.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from moot.licensing.authority import Authority, key_id
from moot.licensing.feature import Feature, UserLicence, parse_day

FORMAT = "moot-license/1"
#: The name the guide gives the licence file in the file store.
FILE_NAME = "cms.lic"
MAX_FILE_SIZE = 64 * 1024
MAX_HOSTS = 256
MAX_TEXT = 256
MAX_LIMIT = 1_000_000
#: A file issued up to this far in the future is accepted (clocks differ).
CLOCK_SKEW = timedelta(days=1)

_PAYLOAD, _SIGNATURE = "MOOT LICENSE", "MOOT LICENSE SIGNATURE"
_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----\s*(.*?)\s*-----END \1-----", re.S)
_KEYS = {"format", "issuer", "authority", "serial", "issued", "hosts", "features",
         "personal", "shared"}
_OPTIONAL = {"personal", "shared"}


class Refusal(enum.StrEnum):
    """Why a licence file was refused."""

    MALFORMED = "malformed"
    NO_AUTHORITY = "no trusted authority"
    UNKNOWN_AUTHORITY = "unknown authority"
    BAD_SIGNATURE = "bad signature"
    WRONG_HOST = "wrong host"
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"


class LicenseFileError(Exception):
    """A licence file that is refused; ``reason`` says which check failed."""

    def __init__(self, reason: Refusal, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _malformed(detail: str) -> LicenseFileError:
    return LicenseFileError(Refusal.MALFORMED, detail)


@dataclass(frozen=True)
class UserLimit:
    """A number of user licences (PMP Plus or SMP Plus) and their last day."""

    limit: int
    expiry: date


@dataclass(frozen=True)
class LicenseFile:
    """What a licence file grants (its verified payload)."""

    issuer: str
    serial: str
    issued: date
    hosts: tuple[str, ...]
    features: Mapping[Feature, date] = field(default_factory=dict)
    personal: UserLimit | None = None
    shared: UserLimit | None = None
    #: Key id of the authority that signed it (set by ``sign``).
    authority: str = ""

    def user_limit(self, kind: UserLicence) -> UserLimit | None:
        return self.personal if kind is UserLicence.PERSONAL else self.shared

    @property
    def last_day(self) -> date | None:
        """The latest expiry of anything it grants (None: it grants nothing)."""
        days = list(self.features.values())
        days += [u.expiry for u in (self.personal, self.shared) if u is not None]
        return max(days) if days else None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "format": FORMAT,
            "issuer": self.issuer,
            "authority": self.authority,
            "serial": self.serial,
            "issued": self.issued.isoformat(),
            "hosts": list(self.hosts),
            "features": {f.value: d.isoformat() for f, d in sorted(self.features.items())},
        }
        for kind in UserLicence:
            limit = self.user_limit(kind)
            if limit is not None:
                payload[kind.value] = {"limit": limit.limit, "expiry": limit.expiry.isoformat()}
        return payload

    @classmethod
    def from_payload(cls, payload: object) -> LicenseFile:
        """Check every field of a decoded payload; LicenseFileError(MALFORMED) names the bad one."""
        if not isinstance(payload, dict):
            raise _malformed("the payload is not a JSON object")
        missing = _KEYS - _OPTIONAL - payload.keys()
        if missing:
            raise _malformed(f"missing {', '.join(sorted(missing))}")
        unknown = payload.keys() - _KEYS
        if unknown:
            raise _malformed(f"unknown field {', '.join(sorted(unknown))}")
        if payload["format"] != FORMAT:
            raise _malformed(f"format {payload['format']!r} is not {FORMAT!r}")
        hosts = payload["hosts"]
        if not isinstance(hosts, list) or not hosts or len(hosts) > MAX_HOSTS:
            raise _malformed(f"hosts must be a list of 1 to {MAX_HOSTS} host ids")
        features = payload["features"]
        if not isinstance(features, dict):
            raise _malformed("features must be an object of feature: date")
        granted: dict[Feature, date] = {}
        for name, day in features.items():
            try:
                feature = Feature(name)
            except ValueError:
                raise _malformed(f"unknown feature {name!r}") from None
            granted[feature] = _day(day, f"expiry of {name}")
        limits = {kind: _user_limit(payload.get(kind.value), kind) for kind in UserLicence}
        return cls(
            issuer=_text(payload["issuer"], "issuer"),
            serial=_text(payload["serial"], "serial"),
            issued=_day(payload["issued"], "issued"),
            hosts=tuple(_text(h, "host id") for h in hosts),
            features=granted,
            personal=limits[UserLicence.PERSONAL],
            shared=limits[UserLicence.SHARED],
            authority=_text(payload["authority"], "authority"),
        )


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT or not value.isprintable():
        raise _malformed(f"{what} must be printable text of 1 to {MAX_TEXT} characters")
    return value


def _day(value: object, what: str) -> date:
    if not isinstance(value, str):
        raise _malformed(f"{what} must be a YYYY-MM-DD date")
    try:
        return parse_day(value)
    except ValueError as exc:
        raise _malformed(f"{what}: {exc}") from None


def _user_limit(value: object, kind: UserLicence) -> UserLimit | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"limit", "expiry"}:
        raise _malformed(f"{kind} must be an object with limit and expiry")
    limit = value["limit"]
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
        raise _malformed(f"{kind} limit must be a whole number from 0 to {MAX_LIMIT}")
    return UserLimit(limit, _day(value["expiry"], f"{kind} expiry"))


# --- the armored file ---------------------------------------------------------------


def _armor(label: str, data: bytes) -> str:
    text = base64.b64encode(data).decode("ascii")
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"])


def sign(licence: LicenseFile, key: Ed25519PrivateKey) -> str:
    """The armored licence file text for ``licence``, signed by ``key``."""
    licence = LicenseFile.from_payload(
        {**licence.to_payload(), "authority": key_id(key.public_key())}
    )
    payload = json.dumps(licence.to_payload(), indent=1, sort_keys=True).encode()
    return "\n".join([
        f"Moot license file, serial {licence.serial}, issued by {licence.issuer}",
        _armor(_PAYLOAD, payload),
        _armor(_SIGNATURE, key.sign(payload)),
        "",
    ])


@dataclass(frozen=True)
class SignedLicense:
    """A licence file taken apart, not yet verified."""

    payload: bytes
    signature: bytes
    licence: LicenseFile


def decode(data: bytes | str) -> SignedLicense:
    """Take a licence file apart; LicenseFileError(MALFORMED) when it is not one."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if len(data) > MAX_FILE_SIZE:
        raise _malformed(f"larger than {MAX_FILE_SIZE} bytes")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise _malformed("not an ASCII text file") from None
    blocks = [(m.group(1), m.group(2)) for m in _BLOCK.finditer(text)]
    if [label for label, _ in blocks] != [_PAYLOAD, _SIGNATURE]:
        raise _malformed(f"want one {_PAYLOAD} block then one {_SIGNATURE} block")
    try:
        payload, signature = (base64.b64decode("".join(b.split()), validate=True) for _, b in blocks)
    except (binascii.Error, ValueError):
        raise _malformed("a block is not valid base64") from None
    if len(signature) != 64:
        raise _malformed("the signature is not 64 bytes")
    try:
        decoded = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise _malformed("the payload is not JSON") from None
    return SignedLicense(payload, signature, LicenseFile.from_payload(decoded))


def verify(
    data: bytes | str,
    authorities: Sequence[Authority],
    *,
    today: date,
    host_id: str | None = None,
) -> LicenseFile:
    """The licence a file grants, once every check passes.

    Checks, in order: the file's form, that its authority is one of ``authorities``,
    the signature, that ``host_id`` (when given) is among its hosts, that it is not
    issued in the future and that something it grants has not yet ended by ``today``.
    """
    signed = decode(data)
    licence = signed.licence
    if not authorities:
        raise LicenseFileError(Refusal.NO_AUTHORITY, "no licence authority is trusted")
    authority = next((a for a in authorities if a.key_id == licence.authority), None)
    if authority is None:
        raise LicenseFileError(
            Refusal.UNKNOWN_AUTHORITY,
            f"signed by authority {licence.authority[:16]}, which is not trusted",
        )
    try:
        authority.public.verify(signed.signature, signed.payload)
    except InvalidSignature:
        raise LicenseFileError(
            Refusal.BAD_SIGNATURE,
            f"the signature does not match (file altered, or not from {authority.source})",
        ) from None
    if host_id is not None and host_id not in licence.hosts:
        raise LicenseFileError(Refusal.WRONG_HOST, f"not issued for this host ({host_id})")
    if licence.issued > today + CLOCK_SKEW:
        raise LicenseFileError(
            Refusal.NOT_YET_VALID, f"issued {licence.issued}, after today ({today})"
        )
    last = licence.last_day
    if last is None or last < today:
        raise LicenseFileError(
            Refusal.EXPIRED, f"everything it grants ended by {last}" if last else "it grants nothing"
        )
    return licence
