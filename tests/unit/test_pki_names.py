"""Subject attributes and subject alternative names as the operator types them."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from moot.pki.errors import PkiError
from moot.pki.names import parse_attributes, parse_san, show_name


def test_guide_example_orders_the_subject_as_a_distinguished_name() -> None:
    spec = parse_attributes(["CN:example.com", "OU:Accounts UK", "O:My Company"])
    assert spec.attributes == (("O", "My Company"), ("OU", "Accounts UK"), ("CN", "example.com"))
    assert show_name(spec.name()) == "O=My Company, OU=Accounts UK, CN=example.com"
    assert spec.common_name == "example.com"


def test_cn_that_is_a_host_name_is_put_first_in_the_sans() -> None:
    spec = parse_attributes(["subjectAltName:www.example.com,192.0.2.1", "CN:example.com"])
    assert spec.sans == (
        x509.DNSName("example.com"),
        x509.DNSName("www.example.com"),
        x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
    )
    assert spec.san_text() == "DNS:example.com, DNS:www.example.com, IP:192.0.2.1"


def test_cn_already_in_sans_is_not_repeated_and_free_text_cn_is_not_added() -> None:
    spec = parse_attributes(["CN:example.com", "subjectAltName:EXAMPLE.com,example.com"])
    assert spec.sans == (x509.DNSName("example.com"),)
    assert parse_attributes(["CN:My Server"]).sans == ()


def test_all_attributes_and_case_insensitive_names() -> None:
    spec = parse_attributes(
        ["cn:a.example", "ou:U", "o:O", "l:London", "st:England", "c:gb", "emailaddress:x@y.z"]
    )
    name = spec.name()
    assert name.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "GB"
    assert name.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)[0].value == "x@y.z"
    assert name.get_attributes_for_oid(NameOID.LOCALITY_NAME)[0].value == "London"
    assert [k for k, _ in spec.attributes] == ["C", "ST", "L", "O", "OU", "CN", "emailAddress"]


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["XX:1"], "unknown attribute 'XX'"),
        (["CN"], "is not <attribute>:<value>"),
        ([":x"], "is not <attribute>:<value>"),
        (["CN:"], "CN has an empty value"),
        (["O:   "], "O has an empty value"),
        (["C:GBR"], "not a country code"),
        (["C:1A"], "not a country code"),
        (["emailAddress:nobody"], "not an e-mail address"),
        (["CN:a", "CN:b"], "CN given twice"),
        (["CN:" + "a" * 65], "at most 64"),
        (["O:bad\x07bell"], "control characters"),
        (["subjectAltName:"], "empty value"),
        (["subjectAltName:a.com,,b.com"], "empty entry"),
        (["subjectAltName:a.com", "subjectAltName:b.com"], "given twice"),
        (["subjectAltName:not a host"], "neither a host name nor an IP address"),
        (["subjectAltName:192.0.2.300"], "neither a host name nor an IP address"),
        (["subjectAltName:-bad.example"], "neither a host name nor an IP address"),
        (["subjectAltName:IP:example.com"], "is not an IP address"),
    ],
)
def test_bad_attributes_say_what_is_wrong(words: list[str], message: str) -> None:
    with pytest.raises(PkiError, match=message):
        parse_attributes(words)


def test_san_forms() -> None:
    assert parse_san("*.example.com") == x509.DNSName("*.example.com")
    assert parse_san("DNS:a.example") == x509.DNSName("a.example")
    assert parse_san("IP:::1") == x509.IPAddress(ipaddress.ip_address("::1"))
    assert parse_san(" 2001:db8::5 ") == x509.IPAddress(ipaddress.ip_address("2001:db8::5"))
    assert parse_san("bücher.example") == x509.DNSName("xn--bcher-kva.example")
    assert parse_san("Host.Example.") == x509.DNSName("host.example")
