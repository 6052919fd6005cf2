"""thesis_lib.core.record: the one atomic writer (text and strict JSON), its JSON default, and the headline."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from thesis_lib.core import record


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_write_json_writes_strict_json_of_numpy_values_and_paths(tmp_path):
    path = tmp_path / "new" / "record.json"  # the folder is created
    record.write_json(path, {"n": np.int64(3), "rate": np.float32(0.5), "ok": np.bool_(True), "shape": (2, 3),
                             "array": np.arange(3), "where": tmp_path, "au": float("nan"),
                             "ci": [np.float64("inf"), 1.0]})
    assert json.loads(path.read_text()) == {"n": 3, "rate": 0.5, "ok": True, "shape": [2, 3], "array": [0, 1, 2],
                                            "where": str(tmp_path), "au": None, "ci": [None, 1.0]}
    assert path.read_text().startswith('{\n  "n": 3,')  # indented as before
    assert leftovers(path.parent) == []


def test_a_value_that_is_not_json_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "record.json"
    record.write_json(path, {"run": "old"})
    with pytest.raises(TypeError, match="not JSON-serialisable: object"):
        record.write_json(path, {"run": "new", "oops": object()})
    assert json.loads(path.read_text()) == {"run": "old"}
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fails", ["os.fsync", "os.replace"])
def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch, fails):
    path = tmp_path / "report.md"
    record.write_text(path, "old")

    def broken(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fails, broken)
    with pytest.raises(OSError, match="No space left"):
        record.write_text(path, "new")
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_written_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        record.write_text(tmp_path / "a.txt", "text")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_json_default_turns_numpy_values_and_paths_into_json():
    assert record.json_default(np.int32(4)) == 4 and record.json_default(Path("/x")) == "/x"
    with pytest.raises(TypeError, match="not JSON-serialisable: set"):
        record.json_default({1})


def test_headline_holds_the_figures_read_first():
    shown = record.headline({"run": "r", "epoch_time_s_median": 1.5, "env": {}})
    assert shown["run"] == "r" and shown["epoch_time_s_median"] == 1.5 and shown["accuracy"] is None
    assert "env" not in shown
