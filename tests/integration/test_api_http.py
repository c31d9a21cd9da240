"""/api/v1 over HTTPS on a running node, as an operator's existing script drives the product.

The script below is written the way scripts against the commercial API are:
urllib, HTTP Basic, form-urlencoded bodies, the id cut from the last 36
characters of Location, failure reasons read out of the XML.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from tests.helpers import ADMIN_PASSWORD, RunningNode


class Client:
    """A minimal client in the style of existing scripts for the product's API."""

    def __init__(self, port: int, user: str = "admin", password: str = ADMIN_PASSWORD) -> None:
        self.base = f"https://127.0.0.1:{port}/api/v1"
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE

    def call(self, method: str, path: str, data: dict[str, str] | None = None, accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, method=method)
        req.add_header("Authorization", self.auth)
        if body is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        if accept:
            req.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()


def test_operator_script_runs_unchanged(node: RunningNode) -> None:
    api = Client(node.ports.https)
    # Create a space with uri, callId and passcode.
    status, headers, body = api.call("POST", "/coSpaces", {"name": "Sales Team", "uri": "Sales.Team", "callId": "7001", "passcode": "1234"})
    assert (status, body) == (200, b"")
    space = headers["Location"][-36:]
    assert headers["Location"] == f"/api/v1/coSpaces/{space}"
    # Add an access method.
    status, headers, _ = api.call("POST", f"/coSpaces/{space}/accessMethods", {"uri": "sales.guests", "callId": "7002", "passcode": "99"})
    assert status == 200 and headers["Location"].startswith(f"/api/v1/coSpaces/{space}/accessMethods/")
    # Page through spaces with filters.
    for i in range(12):
        assert api.call("POST", "/coSpaces", {"name": f"Room {i}", "uri": f"room.{i}"})[0] == 200
    status, headers, body = api.call("GET", "/coSpaces?filter=room&offset=0&limit=5")
    assert status == 200 and headers["Content-Type"].startswith("text/xml")
    assert body.startswith(b'<?xml version="1.0"?><coSpaces total="12">') and b"\n" not in body
    root = ET.fromstring(body)
    assert len(root.findall("coSpace")) == 5
    seen = set()
    offset = 0
    while True:
        root = ET.fromstring(api.call("GET", f"/coSpaces?offset={offset}&filter=&tenantFilter=")[2])
        page = root.findall("coSpace")
        seen.update(e.get("id") for e in page)
        offset += len(page)
        if offset >= int(root.get("total", "0")) or not page:
            break
    assert len(seen) == 13
    # Lower-case paths and a trailing slash work too.
    root = ET.fromstring(api.call("GET", f"/cospaces/{space}/")[2])
    assert root.findtext("uri") == "sales.team" and root.findtext("callId") == "7001"
    # Update (only what is sent) and unset with an empty value.
    status, headers, body = api.call("PUT", f"/coSpaces/{space}", {"name": "Sales", "passcode": ""})
    assert (status, body, headers.get("Content-Length")) == (200, b"", "0")
    root = ET.fromstring(api.call("GET", f"/coSpaces/{space}")[2])
    assert root.findtext("name") == "Sales" and root.find("passcode") is None and root.findtext("uri") == "sales.team"
    # Failure reasons, cut out by byte position as some clients do.
    status, _, body = api.call("POST", "/coSpaces", {"name": "Dup", "uri": "SALES.TEAM"})
    assert status == 400 and body == b'<?xml version="1.0"?><failureDetails><duplicateCoSpaceUri /></failureDetails>'
    assert body[37:-17] == b"<duplicateCoSpaceUri />"
    status, _, body = api.call("GET", "/coSpaces/00000000-0000-0000-0000-000000000000")
    assert status == 400 and b"<coSpaceDoesNotExist />" in body
    status, _, body = api.call("POST", "/coSpaces", {"name": "x", "defaultLayout": "sideways"})
    assert status == 400 and b'<parameterError parameter="defaultLayout" error="invalidValue" />' in body
    # JSON for clients that ask for it.
    status, headers, body = api.call("GET", f"/coSpaces/{space}", accept="application/json")
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["coSpace"]["uri"] == "sales.team"
    # Delete.
    status, headers, body = api.call("DELETE", f"/coSpaces/{space}")
    assert (status, body) == (200, b"")
    assert api.call("GET", f"/coSpaces/{space}")[0] == 400


def test_authentication(node: RunningNode) -> None:
    status, headers, body = Client(node.ports.https, password="wrong").call("GET", "/coSpaces")
    assert status == 401 and body == b"" and headers["WWW-Authenticate"].startswith("Basic realm=")
    unauth = Client(node.ports.https)
    unauth.auth = ""
    req = urllib.request.Request(unauth.base + "/coSpaces")
    try:
        urllib.request.urlopen(req, context=unauth.ctx, timeout=10)
    except urllib.error.HTTPError as err:
        assert err.code == 401 and "WWW-Authenticate" in err.headers
    else:  # pragma: no cover
        raise AssertionError("no credentials must give 401")
    # An api-role account may use the API but not the MMP or the web admin.
    res = node.mmp("user add robot api", input="Rob0t-Api-Pass\nRob0t-Api-Pass\n")
    assert res.returncode == 0, res.stdout
    status, _, _ = Client(node.ports.https, "robot", "Rob0t-Api-Pass").call("GET", "/coSpaces")
    assert status == 200


def test_curl_and_bad_bodies(node: RunningNode) -> None:
    url = f"https://127.0.0.1:{node.ports.https}/api/v1/coSpaces"
    out = subprocess.run(
        ["curl", "-sk", "-u", f"admin:{ADMIN_PASSWORD}", "-d", "name=curl&uri=from.curl", "-D", "-", url],
        capture_output=True, text=True, timeout=30,
    ).stdout
    assert out.startswith("HTTP/1.1 200") and "Location: /api/v1/coSpaces/" in out
    out = subprocess.run(
        ["curl", "-sk", "-u", f"admin:{ADMIN_PASSWORD}", "-H", "Content-Type: application/json",
         "-d", '{"name": "x"}', url],
        capture_output=True, text=True, timeout=30,
    ).stdout
    assert "parameterError" in out and "invalidContentType" in out
    out = subprocess.run(
        ["curl", "-sk", "-u", f"admin:{ADMIN_PASSWORD}", "--data-binary", "name=%ZZ&&=", url],
        capture_output=True, text=True, timeout=30,
    ).stdout
    assert "parameterError" in out
    status, _, body = Client(node.ports.https).call("GET", "/openapi.json")
    doc = json.loads(body)
    assert status == 200 and "/coSpaces/{coSpaceId}" in doc["paths"]
