"""lzsc.atomic: atomic replacement, and append_csv's column union."""

from __future__ import annotations

import csv
import os
import stat

import pytest

from lzsc.atomic import append_csv, atomic_open


def _read(path):
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


def test_append_csv_creates_then_appends_with_new_columns(tmp_path):
    path = tmp_path / "sub" / "r.csv"
    append_csv(path, [{"a": 1, "b": 2}])
    append_csv(path, [{"a": 3, "c": 4}, {"b": 5}])
    columns, rows = _read(path)
    assert columns == ["a", "b", "c"]
    assert rows == [
        {"a": "1", "b": "2", "c": ""},
        {"a": "3", "b": "", "c": "4"},
        {"a": "", "b": "5", "c": ""},
    ]
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_interrupted_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "r.csv"
    append_csv(path, [{"a": 1}])
    before = path.read_text()

    def interrupted_write() -> None:
        with atomic_open(path, "w") as fh:
            fh.write("half")
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        interrupted_write()
    assert path.read_text() == before
    assert list(tmp_path.iterdir()) == [path]


def test_new_files_get_the_permissions_of_a_plain_open(tmp_path):
    plain, atomic = tmp_path / "plain.txt", tmp_path / "atomic.txt"
    plain.write_text("x")
    with atomic_open(atomic, "w") as fh:
        fh.write("x")
    assert stat.S_IMODE(atomic.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    os.chmod(atomic, 0o640)
    with atomic_open(atomic, "w") as fh:
        fh.write("y")
    assert stat.S_IMODE(atomic.stat().st_mode) == 0o640  # a replaced file keeps its permissions
