"""The pieces of ``moot api``: CSV/JSON readers with line numbers, the progress bar."""

from __future__ import annotations

import io

import pytest

from moot.api.bulk import BulkError, Row, describe, detect_format, read_csv, read_json
from moot.api.errors import ApiFailure, parameter_error
from moot.api.progress import Progress


def lines(rows: list[Row]) -> list[tuple[int, list[tuple[str, str]]]]:
    return [(r.line, list(r.form)) for r in rows]


def test_csv_rows_start_lines_and_empty_cells() -> None:
    text = 'id,name,uri\nx,A,a\n\n,"two\nlines",\n,C,c\n'
    assert lines(list(read_csv(io.StringIO(text)))) == [
        (2, [("name", "A"), ("uri", "a")]),  # the id column is dropped
        (4, [("name", "two\nlines")]),  # an empty cell is "not given"
        (6, [("name", "C"), ("uri", "c")]),
    ]


def test_csv_too_many_cells_and_bad_headers() -> None:
    rows = list(read_csv(io.StringIO("name\nA,extra\nB\n")))
    assert rows[0].error is not None and describe(rows[0].error) == 'parameterError parameter="row" error="tooManyValues"'
    assert rows[1].form == [("name", "B")]
    with pytest.raises(BulkError, match="named twice"):
        list(read_csv(io.StringIO("name,name\nA,B\n")))
    with pytest.raises(BulkError, match="line 3: not valid CSV"):
        list(read_csv(io.StringIO('name\nA\n"B"x\n')))
    assert list(read_csv(io.StringIO(""))) == []


def test_json_array_and_lines_with_start_lines() -> None:
    text = '[\n {"name": "A",\n  "x": true, "n": 3, "skip": null},\n {"name": "B"}\n]\n'
    assert lines(list(read_json(io.StringIO(text)))) == [
        (2, [("name", "A"), ("x", "true"), ("n", "3")]),
        (4, [("name", "B")]),
    ]
    jsonl = '{"name": "A"}\n\n{"name": "B"}\n'
    assert [r.line for r in read_json(io.StringIO(jsonl))] == [1, 3]


def test_json_reads_across_chunks() -> None:
    text = "[" + ",\n".join(f'{{"name": "{"x" * 50}{i}"}}' for i in range(5000)) + "]"
    rows = list(read_json(io.StringIO(text)))
    assert len(rows) == 5000 and rows[-1].line == 5000 and rows[-1].form == [("name", "x" * 50 + "4999")]


def test_json_bad_values_and_syntax() -> None:
    rows = list(read_json(io.StringIO('[{"name": ["a"]}, 5]')))
    assert [describe(r.error) for r in rows if r.error] == [
        'parameterError parameter="name" error="invalidValue"',
        'parameterError parameter="row" error="notAnObject"',
    ]
    with pytest.raises(BulkError, match="line 2: not valid JSON"):
        list(read_json(io.StringIO('[\n{"name": }\n]')))
    with pytest.raises(BulkError, match="not closed"):
        list(read_json(io.StringIO('[{"name": "A"}')))
    with pytest.raises(BulkError, match="after the JSON array"):
        list(read_json(io.StringIO('[{"name": "A"}] {"name": "B"}')))


def test_describe_and_format_detection() -> None:
    assert describe(ApiFailure("duplicateCoSpaceUri")) == "duplicateCoSpaceUri"
    assert describe(parameter_error("uri", "valueTooLong")) == 'parameterError parameter="uri" error="valueTooLong"'
    assert detect_format("a.CSV", None) == "csv" and detect_format("a.jsonl", None) == "json"
    assert detect_format("-", "json") == "json"
    with pytest.raises(BulkError, match="--format"):
        detect_format("a.txt", None)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Term(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_redraws_one_line_with_rate_and_eta() -> None:
    clock, out = FakeClock(), Term()
    p = Progress("import coSpaces", out, clock=clock)
    assert p.interactive
    clock.now += 10
    p.update(5000, 0.25)
    assert out.getvalue().startswith("\r\x1b[K")
    line = out.getvalue().split("\r\x1b[K")[-1]
    assert "[######" in line and " 25.0%" in line and "5,000 rows" in line
    assert "500 rows/s" in line and "ETA 0:30" in line
    clock.now += 0.01
    p.update(5010, 0.26)  # too soon to redraw
    assert out.getvalue().count("\r") == 1
    clock.now += 10
    p.finish()
    assert out.getvalue().endswith("in 0:20\n") and "100.0%" in out.getvalue()


def test_progress_plain_lines_when_not_a_terminal() -> None:
    clock, out = FakeClock(), io.StringIO()
    p = Progress("export coSpaces", out, clock=clock)
    assert not p.interactive
    for i in range(1, 13):
        clock.now += 1
        p.update(i * 100, None)
    text = out.getvalue().splitlines()
    assert len(text) == 2  # every 5 s
    assert "\r" not in out.getvalue() and "ETA" not in text[0] and "%" not in text[0]
    p.finish()
    assert out.getvalue().splitlines()[-1] == "export coSpaces  1,200 rows  100 rows/s  in 0:12"
