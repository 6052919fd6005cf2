"""Step 2's comparison of the emulated accelerator with the real GPU, per format and mode. Pure
functions over the runs, tested on fake timings."""
from __future__ import annotations

import statistics

from .settings import AU_TARGET, TOLERANCE_POINTS
from .table import format_value, make_row


def by_format_and_mode(runs: list[dict]) -> dict[tuple[str, str], dict[str, dict]]:
    """``{(fmt, mode): {kind: run}}``, in the order the runs came."""
    grouped: dict[tuple[str, str], dict[str, dict]] = {}
    for run in runs:
        grouped.setdefault((run["fmt"], run["mode"]), {})[run["kind"]] = run
    return grouped


def au_comparison(runs: list[dict], tolerance_points: float = TOLERANCE_POINTS) -> list[dict]:
    """The emulated and the real AU of each (format, mode) side by side.

    ``runs``: one dict per training run with ``fmt``, ``mode`` (sync/async), ``kind``
    (real/emulated), ``au`` and ``device``. Returns one dict per (format, mode) with both AUs,
    their difference in points (100 x |emulated - real|) and whether it is within
    ``tolerance_points`` (None when either side is missing).
    """
    out = []
    for (fmt, mode), kinds in by_format_and_mode(runs).items():
        real, emulated = kinds.get("real", {}).get("au"), kinds.get("emulated", {}).get("au")
        diff = None if real is None or emulated is None else 100 * abs(emulated - real)
        out.append({"fmt": fmt, "mode": mode, "real_au": real, "emulated_au": emulated, "diff_points": diff,
                    "within": None if diff is None else diff <= tolerance_points,
                    "device": kinds.get("real", {}).get("device")})
    return out


def au_rows(comparison: list[dict], on_gpu: bool) -> list[dict]:
    rows = []
    for c in comparison:
        note = (f"real {c['real_au']:.3f}, emulated {c['emulated_au']:.3f}" if c["diff_points"] is not None
                else "a side is missing")
        rows.append(make_row("2", f"AU emulated vs real: {c['fmt']}, {c['mode']}", c["diff_points"], "points",
                             c["device"], target=AU_TARGET, note=note, on_gpu=on_gpu))
    return rows


def side_by_side(runs: list[dict]) -> str:
    """Step 2 as one table: per format and mode, the real run beside the emulated one."""
    runs_by_key = by_format_and_mode(runs)
    lines = [f"{'format':<7} {'mode':<6} {'real s/epoch':>12} {'real img/s':>11} {'real AU':>8} "
             f"{'emul s/epoch':>12} {'emul img/s':>11} {'emul AU':>8} {'|diff| pts':>10}"]
    for c in au_comparison(runs):
        cells = []
        for kind in ("real", "emulated"):
            run = runs_by_key[c["fmt"], c["mode"]].get(kind, {})
            cells += [f"{format_value(run.get('epoch_s'), 's'):>12}",
                      f"{format_value(run.get('samples_per_s'), 'img/s'):>11}", f"{format_value(run.get('au')):>8}"]
        lines.append(f"{c['fmt']:<7} {c['mode']:<6} {' '.join(cells)} {format_value(c['diff_points'], 'points'):>10}")
    return "\n".join(lines)


def compute_rate(runs: list[dict]) -> float | None:
    """Images/s the device computes: the median over the real synchronous runs of samples / compute_s
    of their last epoch (the model and batch are the same whatever the format)."""
    rates = [r["samples"] / r["compute_s"] for r in runs
             if r["kind"] == "real" and r["mode"] == "sync" and r.get("compute_s")]
    return statistics.median(rates) if rates else None
