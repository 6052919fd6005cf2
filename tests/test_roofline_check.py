"""``python -m thesis_lib roofline``: the whole check (profile, loaderbench cut, validation) ends with
the share line, and writes the profile, the cut and the validation beside each other."""
import json

import pytest

from thesis_lib.__main__ import main as cli
from thesis_lib.roofline import Profile


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_whole_check_measures_cuts_validates_and_ends_with_the_share(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("THESIS_DATA", str(tmp_path / "data"))
    out = tmp_path / "profile.json"
    cli(["roofline", "--quick", "--limit", "300", "--out", str(out), "--results-dir", str(tmp_path / "none")])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].endswith("% of rows within 25%")
    Profile.load(out)  # whole and valid
    cut = json.loads((tmp_path / "profile-loaderbench.json").read_text())
    assert {row["fmt"] for row in cut["table"]} >= {"npy", "hdf5", "zarr", "files", "webdataset"}
    assert (tmp_path / "profile-validation" / "roofline-validation.pdf").is_file()


@pytest.mark.timeout(60)
def test_a_bad_limit_is_named_before_anything_is_measured(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli(["roofline", "--limit", "0", "--out", str(tmp_path / "p.json")])
    assert "--limit" in capsys.readouterr().err and not (tmp_path / "p.json").exists()
