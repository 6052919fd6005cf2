"""The roofline's part of the report: the profiles it reads by default, the profile as a table, and
``notebooks/roofline.ipynb`` executed over a results folder (what ``make bench`` and the appendix do).

>>> profile = Profile.load(THIS_MACHINE)
>>> profile_frame(profile)                          # field, median, interval, unit, what, source
>>> execute("data/results")                          # data/results/report/roofline.ipynb
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..core import notebook_run, paths
from ..core.record import check_writable
from .profile import FIELDS, Profile

PROFILES = paths.REPO_ROOT / "profiles"
THIS_MACHINE = PROFILES / "this-vm.json"  # the 2-core development VM, measured by `roofline measure`
H100_ANCHOR = PROFILES / "h100-anchor.json"  # the H100 host of docs/design.md's reference figures
NOTEBOOK = paths.REPO_ROOT / "notebooks" / "roofline.ipynb"


def profile_frame(profile: Profile) -> pd.DataFrame:
    """Every primitive: its median and interval with the unit, what it is, and where a figure not
    measured on the profile's machine comes from; unmeasured ones with the reason."""
    rows = []
    for name, (unit, what) in FIELDS.items():
        if name in profile.values:
            stat = profile.values[name]
            rows.append({"primitive": name, "median": f"{stat.median:.4g}", "95% interval":
                         f"[{stat.low:.4g}, {stat.high:.4g}]", "unit": unit, "what": what, "source": stat.source or ""})
        else:
            rows.append({"primitive": name, "median": "–", "95% interval": "", "unit": unit, "what": what,
                         "source": f"unmeasured: {profile.unmeasured[name]}"})
    return pd.DataFrame(rows)


def write_whatif(profile: Profile, out: str | Path) -> list[Path]:
    """The what-if sweep of ``profile`` as ``roofline-whatif.csv`` (every candidate everywhere) and
    its figure as PNG and PDF under ``out``."""
    from ..core.record import write_text
    from ..results.figure_files import save_png_and_pdf
    from . import whatif
    out = Path(out)
    check_writable(out, what="what-if folder")
    frame = whatif.sweep(profile)
    table = out / "roofline-whatif.csv"
    write_text(table, frame.to_csv(index=False))
    return [table, *save_png_and_pdf(whatif.figure(frame), out, "roofline-whatif")]


def loaderbench_results(folder: Path | None = None) -> list[Path]:
    """The loaderbench results written under ``folder`` (default: the data folder's loaderbench/)."""
    folder = Path(folder) if folder is not None else paths.data_root() / "loaderbench"
    return sorted(folder.glob("loaderbench-*.json")) if folder.is_dir() else []


def execute(results_dir: str | Path | None = None, *, profile: str | Path | None = None,
            other_profile: str | Path | None = None, loaderbench: list | None = None) -> Path:
    """Run the roofline notebook over ``results_dir`` into ``report/roofline.ipynb`` there."""
    folder = paths.results_dir(results_dir)
    out = folder / "report" / "roofline.ipynb"
    check_writable(out.parent, what="report folder (inside the results folder)")
    notebook_run.execute(NOTEBOOK, out, {
        "results_dir": str(folder), "profile": str(profile or THIS_MACHINE),
        "other_profile": str(other_profile or H100_ANCHOR),
        "loaderbench": [str(p) for p in (loaderbench if loaderbench is not None else loaderbench_results())]})
    return out
