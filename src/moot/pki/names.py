"""Subject attributes and subject alternative names, as the operator types them.

``pki csr example CN:example.com "OU:Accounts UK" subjectAltName:a.example.com,192.0.2.1``
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from moot.pki.errors import PkiError

#: Attribute name (as typed, lower-cased) -> (canonical name, OID, maximum length).
#: Lengths are the X.520 upper bounds CAs enforce.
SUBJECT_ATTRIBUTES: dict[str, tuple[str, x509.ObjectIdentifier, int]] = {
    "c": ("C", NameOID.COUNTRY_NAME, 2),
    "st": ("ST", NameOID.STATE_OR_PROVINCE_NAME, 128),
    "l": ("L", NameOID.LOCALITY_NAME, 128),
    "o": ("O", NameOID.ORGANIZATION_NAME, 64),
    "ou": ("OU", NameOID.ORGANIZATIONAL_UNIT_NAME, 64),
    "cn": ("CN", NameOID.COMMON_NAME, 64),
    "emailaddress": ("emailAddress", NameOID.EMAIL_ADDRESS, 255),
}
SAN_ATTRIBUTE = "subjectAltName"
#: Names in the order the guide lists them.
ATTRIBUTE_NAMES = ("CN", "OU", "O", "L", "ST", "C", "emailAddress", SAN_ATTRIBUTE)

#: How ``Name.rfc4514_string`` should spell attributes it has no short name for.
NAME_OVERRIDES = {NameOID.EMAIL_ADDRESS: "emailAddress"}

_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_DNS_NAME = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*\.?$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass(frozen=True)
class SubjectSpec:
    """A subject (attributes in DN order) and the subject alternative names."""

    attributes: tuple[tuple[str, str], ...]
    sans: tuple[x509.GeneralName, ...]

    @property
    def common_name(self) -> str | None:
        return dict(self.attributes).get("CN")

    def name(self) -> x509.Name:
        oids = {canonical: oid for canonical, oid, _ in SUBJECT_ATTRIBUTES.values()}
        return x509.Name([x509.NameAttribute(oids[k], v) for k, v in self.attributes])

    def san_extension(self) -> x509.SubjectAlternativeName | None:
        return x509.SubjectAlternativeName(list(self.sans)) if self.sans else None

    def san_text(self) -> str:
        return ", ".join(show_general_name(n) for n in self.sans) or "none"


def parse_attributes(words: list[str], *, cn_in_san: bool = True) -> SubjectSpec:
    """``<attribute>:<value>`` words -> SubjectSpec; PkiError for anything doubtful.

    With ``cn_in_san``, a CN that is a host name or IP address is also put first in the
    subject alternative names (browsers match only those).
    """
    values: dict[str, str] = {}
    san_text: str | None = None
    for word in words:
        attr, sep, raw = word.partition(":")
        if not sep or not attr:
            raise PkiError(
                f"{word!r} is not <attribute>:<value>; attributes are {', '.join(ATTRIBUTE_NAMES)}"
            )
        value = raw.strip()
        if attr.lower() == SAN_ATTRIBUTE.lower():
            if san_text is not None:
                raise PkiError(
                    f"{SAN_ATTRIBUTE} given twice; list all names in one, comma-separated"
                )
            if not value:
                raise PkiError(
                    f"{SAN_ATTRIBUTE} has an empty value; give host names or IP addresses"
                )
            san_text = value
            continue
        spec = SUBJECT_ATTRIBUTES.get(attr.lower())
        if spec is None:
            raise PkiError(
                f"unknown attribute {attr!r}; use {', '.join(ATTRIBUTE_NAMES)}"
            )
        canonical, _, limit = spec
        if canonical in values:
            raise PkiError(f"{canonical} given twice; give each attribute once")
        values[canonical] = _check_value(canonical, value, limit)
    attributes = tuple(
        (canonical, values[canonical])
        for canonical, _, _ in SUBJECT_ATTRIBUTES.values()
        if canonical in values
    )
    sans = [parse_san(item) for item in san_text.split(",")] if san_text is not None else []
    cn = values.get("CN")
    if cn_in_san and cn is not None:
        cn_name = _host_or_ip(cn)
        if cn_name is not None and cn_name not in sans:
            sans.insert(0, cn_name)
    return SubjectSpec(attributes, tuple(_unique(sans)))


def _check_value(canonical: str, value: str, limit: int) -> str:
    if not value:
        raise PkiError(f"{canonical} has an empty value; give a value or leave the attribute out")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise PkiError(f"{canonical} contains control characters; type plain text")
    if canonical == "C":
        if not _COUNTRY.match(value):
            raise PkiError(
                f"C:{value} is not a country code; use the two-letter ISO 3166 code, e.g. C:GB"
            )
        return value.upper()
    if canonical == "emailAddress" and (not value.isascii() or not _EMAIL.match(value)):
        raise PkiError(f"emailAddress:{value} is not an e-mail address (name@domain)")
    if len(value) > limit:
        raise PkiError(f"{canonical} is {len(value)} characters long; at most {limit} are allowed")
    return value


def parse_san(text: str) -> x509.GeneralName:
    """One subject alternative name: a DNS name (``*.`` allowed first) or an IP address.

    The OpenSSL prefixes ``DNS:`` and ``IP:`` are accepted too.
    """
    item = text.strip()
    prefix, sep, rest = item.partition(":")
    if sep and prefix.upper() in ("DNS", "IP"):
        item = rest.strip()
        if prefix.upper() == "IP":
            try:
                return x509.IPAddress(ipaddress.ip_address(item))
            except ValueError:
                raise PkiError(f"IP:{item} is not an IP address") from None
    if not item:
        raise PkiError(f"{SAN_ATTRIBUTE} has an empty entry; separate names with single commas")
    name = _host_or_ip(item)
    if name is None:
        raise PkiError(
            f"{item!r} in {SAN_ATTRIBUTE} is neither a host name nor an IP address"
        )
    return name


def _host_or_ip(text: str) -> x509.GeneralName | None:
    try:
        return x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        pass
    try:
        ascii_name = text if text.isascii() else text.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if len(ascii_name) > 253 or not _DNS_NAME.match(ascii_name):
        return None
    if ascii_name.rstrip(".").rsplit(".", 1)[-1].isdigit():
        return None  # a mistyped IP address such as 192.0.2.300, not a host name
    return x509.DNSName(ascii_name.rstrip(".").lower())


def _unique(names: list[x509.GeneralName]) -> list[x509.GeneralName]:
    seen: list[x509.GeneralName] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return seen


def show_general_name(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DNSName):
        return f"DNS:{name.value}"
    if isinstance(name, x509.IPAddress):
        return f"IP:{name.value}"
    if isinstance(name, x509.RFC822Name):
        return f"email:{name.value}"
    if isinstance(name, x509.UniformResourceIdentifier):
        return f"URI:{name.value}"
    return str(name.value)


def show_name(name: x509.Name) -> str:
    """A distinguished name as OpenSSL prints it: ``C=GB, O=My Company, CN=example.com``."""
    parts = [rdn.rfc4514_string(NAME_OVERRIDES) for rdn in name.rdns]
    return ", ".join(parts) if parts else "(empty)"
