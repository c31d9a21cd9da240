"""``moot api export|import`` on a real data dir: round trips, refused rows, progress, nesting."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from moot.api.engine import Api
from moot.node.context import NodeContext
from moot.node.datadir import DataDir
from tests.helpers import MOOT, prepare_datadir

SPACES = [
    {"name": "Board room", "uri": "Board.Room", "callId": "700100", "passcode": "4321", "defaultLayout": "speakerOnly"},
    {"name": 'Quotes "and", commas', "uri": "quotes", "nonMemberAccess": "false"},
    {"name": "Zweite Zeile\nÜmlaut 会议", "secondaryUri": "second.line", "cdrTag": "tag-1"},
]


@contextmanager
def api_of(dd: DataDir) -> Iterator[Api]:
    node = NodeContext(dd)
    try:
        yield node.api
    finally:
        node.close()


def moot_api(dd: DataDir, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MOOT, "api", args[0], "--data", str(dd.root), *args[1:]],
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
    )


def create(api: Api, path: str, **form: str) -> str:
    loc = api.handle("POST", path, [], list(form.items())).location
    assert loc is not None
    return loc.rsplit("/", 1)[-1]


def listing(api: Api, path: str) -> tuple[int, list[dict[str, object]]]:
    """Total and every object (GET one each) of a collection, without ids."""
    out: list[dict[str, object]] = []
    offset = 0
    total = 0
    while True:
        resp = api.handle("GET", path, [("offset", str(offset))], [])
        assert resp.listing is not None
        _, _, total, items = resp.listing
        for _, oid, _ in items:
            one = api.handle("GET", f"{path}/{oid}", [], []).item
            assert one is not None
            out.append({f if isinstance(f, str) else f.name: v for f, v in one[2] if v is not None})
        offset += len(items)
        if not items or offset >= total:
            return total, out


def count(dd: DataDir, path: str = "/coSpaces") -> int:
    with api_of(dd) as api:
        resp = api.handle("GET", path, [], [])
        assert resp.listing is not None
        return resp.listing[2]


@pytest.fixture
def other(tmp_path: Path) -> DataDir:
    """A second node's data dir to import into."""
    return prepare_datadir(tmp_path / "other")


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_import_round_trip(datadir: DataDir, other: DataDir, tmp_path: Path, fmt: str) -> None:
    with api_of(datadir) as api:
        for space in SPACES:
            create(api, "/coSpaces", **space)
        _, before = listing(api, "/coSpaces")
    out = tmp_path / f"spaces.{fmt}"
    exported = moot_api(datadir, "export", "coSpaces", "--output", str(out))
    assert exported.returncode == 0, exported.stderr
    assert "export coSpaces" in exported.stderr and "3 rows" in exported.stderr
    text = out.read_text(encoding="utf-8")
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows[0]["uri"] == "board.room" and rows[0]["callId"] == "700100"
        assert rows[1]["nonMemberAccess"] == "false" and rows[1]["name"] == 'Quotes "and", commas'
        assert rows[2]["name"] == "Zweite Zeile\nÜmlaut 会议" and len(rows[2]["secret"]) == 22
    else:
        objs = json.loads(text)
        assert objs[0]["defaultLayout"] == "speakerOnly" and objs[1]["nonMemberAccess"] is False
        assert len(text.splitlines()) == 3 + 2  # one object per line between [ and ]

    imported = moot_api(other, "import", "coSpaces", str(out))
    assert imported.returncode == 0, imported.stderr
    assert "imported 3 objects into coSpaces" in imported.stdout
    with api_of(other) as api:
        total, after = listing(api, "/coSpaces")
    assert total == 3
    # Everything but the new ids survives: generated secrets and callIds included.
    assert after == before

    # Importing the same file again refuses the first row: its uri is taken now.
    again = moot_api(other, "import", "coSpaces", str(out))
    assert again.returncode == 1
    assert "line 2: duplicateCoSpaceUri" in again.stderr
    assert count(other) == 3


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


BAD_CSV = (
    "name,uri,defaultLayout\n"
    "Good one,good.one,allEqual\n"  # line 2
    "Bad layout,bad.layout,notALayout\n"  # line 3
    '"Two\nlines",good.one,\n'  # lines 4-5: duplicate uri of line 2
    "Another good,another,\n"  # line 6
)


def test_bad_row_stops_and_rolls_back_its_batch(datadir: DataDir, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.csv", BAD_CSV)
    result = moot_api(datadir, "import", "coSpaces", str(bad))
    assert result.returncode == 1
    assert 'line 3: parameterError parameter="defaultLayout" error="invalidValue"' in result.stderr
    assert "line 4" not in result.stderr  # stopped at the first
    assert "--from-line 2" in result.stderr
    # The good row before it was in the same batch: rolled back with it.
    assert count(datadir) == 0


def test_batches_before_the_bad_row_stay(datadir: DataDir, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.csv", BAD_CSV)
    result = moot_api(datadir, "import", "coSpaces", str(bad), "--batch", "1")
    assert result.returncode == 1
    assert "import stopped: 1 objects were created" in result.stderr
    assert "--from-line 3" in result.stderr
    assert count(datadir) == 1
    # Fixed and resumed from the refused line: the rest goes in, the duplicate is caught.
    write(tmp_path / "bad.csv", BAD_CSV.replace("notALayout", "allEqual"))
    resumed = moot_api(datadir, "import", "coSpaces", str(bad), "--from-line", "3")
    assert resumed.returncode == 1
    assert "line 4: duplicateCoSpaceUri" in resumed.stderr
    assert count(datadir) == 1


def test_keep_going_skips_bad_rows_only(datadir: DataDir, tmp_path: Path) -> None:
    with api_of(datadir) as api:
        create(api, "/coSpaces", name="Existing", uri="another")
    bad = write(tmp_path / "bad.csv", BAD_CSV + "Unknown,x,,\n" + "Tenant,t,\n")
    bad.write_text(bad.read_text().replace("Tenant,t,\n", "Tenant,t,allEqual\n"))
    result = moot_api(datadir, "import", "coSpaces", str(bad), "--keep-going")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("rejected")]
    assert lines == [
        'rejected line 3: parameterError parameter="defaultLayout" error="invalidValue"',
        "rejected line 4: duplicateCoSpaceUri",
        "rejected line 6: duplicateCoSpaceUri",
        'rejected line 7: parameterError parameter="row" error="tooManyValues"',
    ]
    assert "imported 2 objects into coSpaces; 4 rows rejected" in result.stdout
    with api_of(datadir) as api:
        total, objs = listing(api, "/coSpaces")
    assert total == 3
    assert sorted(str(o.get("uri")) for o in objs) == ["another", "good.one", "t"]
    # Nothing of a refused row remains: its uri is still free.
    with api_of(datadir) as api:
        create(api, "/coSpaces", name="Free", uri="bad.layout")


def test_same_reasons_as_the_api(datadir: DataDir, tmp_path: Path) -> None:
    rows = [
        {"name": "x", "unknownThing": "1"},
        {"name": "x" * 201},
        {"name": "x", "tenant": "00000000-0000-0000-0000-000000000000"},
        {"name": "x", "nonMemberAccess": "maybe"},
        {"name": "x", "autoGenerated": "true"},
    ]
    path = write(tmp_path / "rows.json", "\n".join(json.dumps(r) for r in rows) + "\n")
    result = moot_api(datadir, "import", "coSpaces", str(path), "--keep-going")
    reasons = [line.split(": ", 1)[1] for line in result.stderr.splitlines() if line.startswith("rejected")]
    assert reasons == [
        'parameterError parameter="unknownThing" error="unrecognised"',
        'parameterError parameter="name" error="valueTooLong"',
        "tenantDoesNotExist",
        'parameterError parameter="nonMemberAccess" error="invalidValue"',
        'parameterError parameter="autoGenerated" error="unrecognised"',
    ]
    assert count(datadir) == 0


def test_json_array_values_and_line_numbers(datadir: DataDir, tmp_path: Path) -> None:
    path = write(
        tmp_path / "spaces.json",
        '[\n  {"name": "A", "uri": "a", "nonMemberAccess": false, "panePlacementHighestImportance": 3},\n'
        '  {"name": "B",\n   "uri": "a"},\n'
        '  {"name": "C", "uri": null, "callId": 123456}\n]\n',
    )
    result = moot_api(datadir, "import", "coSpaces", str(path), "--keep-going")
    assert "rejected line 3: duplicateCoSpaceUri" in result.stderr
    with api_of(datadir) as api:
        _, objs = listing(api, "/coSpaces")
    assert (objs[0]["name"], objs[0]["nonMemberAccess"]) == ("A", False)
    assert objs[0]["panePlacementHighestImportance"] == 3
    assert objs[1]["callId"] == "123456" and "uri" not in objs[1]


def test_malformed_files_are_refused_before_writing(datadir: DataDir, tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.json", '[\n{"name": "A"},\n{"name": \n')
    result = moot_api(datadir, "import", "coSpaces", str(broken))
    assert result.returncode == 1 and "line 3: not valid JSON" in result.stderr
    assert count(datadir) == 0
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name\nK\xf6ln\n".encode("latin-1"))
    result = moot_api(datadir, "import", "coSpaces", str(latin))
    assert result.returncode == 1 and "not UTF-8" in result.stderr
    noext = write(tmp_path / "spaces.txt", "name\nA\n")
    result = moot_api(datadir, "import", "coSpaces", str(noext))
    assert result.returncode == 1 and "--format" in result.stderr
    assert moot_api(datadir, "import", "coSpaces", str(noext), "--format", "csv").returncode == 0


def test_progress_lines_when_not_a_terminal(datadir: DataDir, tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text("name,uri\n" + "".join(f"S{i},s.{i}\n" for i in range(1500)))
    result = moot_api(datadir, "import", "coSpaces", str(path), "--batch", "500")
    assert result.returncode == 0, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    # A plain line (no carriage returns or bar), with the rate and the elapsed time.
    assert "\r" not in result.stderr and "[" not in last
    assert last.startswith("import coSpaces") and "100.0%" in last and "1,500 rows" in last
    assert "rows/s" in last and " in 0:" in last
    assert count(datadir) == 1500


def test_nested_collection(datadir: DataDir, other: DataDir, tmp_path: Path) -> None:
    with api_of(datadir) as api:
        space = create(api, "/coSpaces", name="Parent", uri="parent")
    methods = write(
        tmp_path / "methods.csv",
        "uri,callId,passcode,name,scope\nam.one,800001,11,One,public\nam.two,,,Two,private\nparent,,,Clash,\n",
    )
    path = f"coSpaces/{space}/accessMethods"
    result = moot_api(datadir, "import", path.upper().replace(space.upper(), space), str(methods), "--keep-going")
    assert "rejected line 4: duplicateCoSpaceUri" in result.stderr
    assert "imported 2 objects into coSpaces/" in result.stdout
    with api_of(datadir) as api:
        total, objs = listing(api, f"/{path}")
        parent = api.handle("GET", f"/coSpaces/{space}", [], []).item
    assert total == 2 and [o["uri"] for o in objs] == ["am.one", "am.two"]
    assert parent is not None and ("numAccessMethods", 2) in [
        (f if isinstance(f, str) else f.name, v) for f, v in parent[2]
    ]
    exported = moot_api(datadir, "export", path, "--format", "json")
    assert exported.returncode == 0
    assert [o["uri"] for o in json.loads(exported.stdout)] == ["am.one", "am.two"]

    missing = "coSpaces/00000000-0000-0000-0000-000000000000/accessMethods"
    result = moot_api(datadir, "import", missing, str(methods))
    assert result.returncode == 1 and "coSpaceDoesNotExist" in result.stderr


def test_bad_collections_and_data_dirs(datadir: DataDir, tmp_path: Path) -> None:
    result = moot_api(datadir, "export", "noSuchThings")
    assert result.returncode == 1 and "unknown collection 'noSuchThings'" in result.stderr
    assert "coSpaces" in result.stderr
    result = moot_api(datadir, "export", "coSpaces/00000000-0000-0000-0000-000000000000")
    assert result.returncode == 1 and "not a collection" in result.stderr
    missing = DataDir(tmp_path / "nowhere")
    result = moot_api(missing, "export", "coSpaces")
    assert result.returncode == 1 and "no node data dir" in result.stderr
    assert not missing.root.exists()
