"""The model checked on this machine: every loaderbench row and every bench record predicted from a
profile and set beside its measured rate, the rows the model does not represent listed with the
reason, the misses with theirs, a predicted-vs-measured figure, and the share within 25%.

What is compared. A loaderbench row: its img/s, an epoch of ``n`` images from a loader whose
persistent workers are running (the first batch's latency included, loaderbench's 3 s cut
respected). A bench record: the median steady-state samples/s of the run, predicted as the epoch
of ``n_train`` images with the emulated accelerator's compute per batch (``batch / rate``, the
record's own setting) overlapping the reads when workers (or queued steps) let it. Records of
models trained on the CPU are not modelled: their compute is no primitive.
"""
from __future__ import annotations

import inspect
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..core.record import write_text
from ..results.figure_files import save_png_and_pdf
from .model import NotModelled, Prediction, predict
from .profile import Profile
from .shape import RunShape

WITHIN = 0.25  # a row is a hit when predicted / measured lies in [1 - WITHIN, 1 + WITHIN]
#: Terms a read plan lacks for a format, said with each of its misses.
KNOWN_GAPS = {
    "imagefolder": "no primitive for the peer's ToTensor conversion",
    "webdataset": "no primitive for the per-member slicing of a tar shard",
}


@dataclass(frozen=True)
class Row:
    """One row checked: its ``name``, ``source`` (loaderbench or bench), the shape and the
    measured img/s; ``result`` a Prediction, a NotModelled, or None with ``predicted`` unset."""
    name: str
    source: str
    measured: float
    result: Prediction | NotModelled
    predicted: float | None
    shape: RunShape | None = None

    @property
    def ratio(self) -> float | None:
        return None if self.predicted is None else self.predicted / self.measured

    @property
    def hit(self) -> bool:
        return self.ratio is not None and abs(self.ratio - 1) <= WITHIN


def loaderbench_rows(path: str | os.PathLike, profile: Profile) -> list[Row]:
    """Every row of a loaderbench result (a JSON file it wrote), predicted."""
    from ..tools.loaderbench.rates import time_batches
    result = _json(path, "loaderbench result")
    cut = inspect.signature(time_batches).parameters["max_seconds"].default
    rows = []
    for entry in _table(result, path):
        kind = f" {entry.get('kind')}" if entry.get("kind") else ""
        name = f"{Path(path).stem}: {entry['variant']} / {entry['mode']} / w{entry['workers']}{kind}"
        try:
            shape = RunShape.from_loaderbench(entry, result)
        except (KeyError, ValueError) as exc:
            rows.append(Row(name, "loaderbench", float(entry["samples_per_s"]), NotModelled(_text(exc)), None))
            continue
        images = int(result["batches_per_measurement"] or 0) * shape.batch_size or shape.n_images
        rows.append(_checked(name, "loaderbench", float(entry["samples_per_s"]), shape, profile,
                             lambda p: p.epoch_rate(images, shape.batch_size, 0.0, shape.workers, cut,
                                                    left_over(shape))))
    return rows


def left_over(shape: RunShape) -> float:
    """Batches of work a cut epoch leaves to the next: a DataLoader's workers hold ``prefetch_factor``
    items each, of which the ones being read are half done on average (a stream's workers restart
    their shards instead)."""
    from ..loading import WORKER_OPTIONS
    if not shape.workers or shape.mode == "stream":
        return 0.0
    return shape.workers * WORKER_OPTIONS["prefetch_factor"] - shape.workers / 2


def record_rows(results_dir: str | os.PathLike, profile: Profile) -> list[Row]:
    """Every bench record under ``results_dir``, predicted (the quarantined ones listed, unmodelled)."""
    from ..results.records import scan_records
    if not Path(results_dir).is_dir():
        raise FileNotFoundError(f"roofline validate: results folder {results_dir} does not exist")
    records, quarantined = scan_records(results_dir)
    rows = [Row(Path(path).stem, "bench", math.nan, NotModelled(f"quarantined: {why}"), None)
            for path, why in quarantined]
    for record in records:
        name, measured = record["run"], float(record["samples_per_s_median"])
        config = record["config"]
        if config["model"] != "emulate":
            rows.append(Row(name, "bench", measured, NotModelled(
                f"model {config['model']} trained on the {config['device']}: its compute is no primitive"), None))
            continue
        shape = RunShape.from_record(record)
        rate = config["emulate_rate"] if config["emulate_rate"] is not None else record["h100_demand"]
        compute = shape.batch_size / rate if rate else 0.0
        overlap = shape.workers or config.get("queue_steps", 0)
        rows.append(_checked(name, "bench", measured, shape, profile,
                             lambda p: p.epoch_rate(shape.n_images, shape.batch_size, compute, overlap)))
    return rows


def _checked(name, source, measured, shape, profile, rate_of) -> Row:
    result = predict(shape, profile)
    predicted = rate_of(result) if isinstance(result, Prediction) else None
    return Row(name, source, measured, result, predicted, shape)


def table(rows: list[Row]) -> pd.DataFrame:
    """The modelled rows: row, predicted, measured, ratio, within 25%, binding resource."""
    return pd.DataFrame([{"row": r.name, "predicted": round(r.predicted), "measured": round(r.measured),
                          "ratio": round(r.ratio, 2), "within 25%": r.hit, "binding": r.result.binding}
                         for r in rows if r.predicted is not None],
                        columns=["row", "predicted", "measured", "ratio", "within 25%", "binding"])


def unmodelled(rows: list[Row]) -> pd.DataFrame:
    return pd.DataFrame([{"row": r.name, "measured": r.measured, "not modelled": r.result.reason}
                         for r in rows if r.predicted is None], columns=["row", "measured", "not modelled"])


def misses(rows: list[Row]) -> pd.DataFrame:
    """Each modelled row outside 25%, with its reason: the side it misses on, the resource the
    model says binds, and the terms the model lacks for that format."""
    found = []
    for r in rows:
        if r.predicted is None or r.hit:
            continue
        side = "over-predicts" if r.ratio > 1 else "under-predicts"
        reason = f"{side} x{max(r.ratio, 1 / r.ratio):.2f}; model's binding term: {r.result.binding}"
        gap = KNOWN_GAPS.get(r.shape.fmt)
        if gap and r.ratio > 1:
            reason += f"; missing term: {gap}"
        found.append({"row": r.name, "ratio": round(r.ratio, 2), "reason": reason})
    return pd.DataFrame(found, columns=["row", "ratio", "reason"])


def by_group(rows: list[Row]) -> pd.DataFrame:
    """The modelled rows by where they come from and their workers: how many, the share within 25%,
    and the median predicted / measured (above 1: the model is too fast)."""
    groups: dict[tuple, list[Row]] = {}
    for r in rows:
        if r.predicted is not None:
            kind = f"{r.shape.workers} {r.shape.worker_kind}" if r.shape.workers else "0"
            groups.setdefault((r.source, f"workers {kind}"), []).append(r)
    return pd.DataFrame([{"rows": source, "workers": workers, "n": len(members),
                          "within 25%": f"{100 * sum(r.hit for r in members) / len(members):.0f}%",
                          "median ratio": round(float(pd.Series([r.ratio for r in members]).median()), 2)}
                         for (source, workers), members in sorted(groups.items())],
                        columns=["rows", "workers", "n", "within 25%", "median ratio"])


def share_line(rows: list[Row]) -> str:
    modelled = [r for r in rows if r.predicted is not None]
    share = 100 * sum(r.hit for r in modelled) / len(modelled) if modelled else 0.0
    return f"{share:.0f}% of rows within 25%"


def validation_figure(rows: list[Row]):
    """Predicted against measured, log-log, with the diagonal and a +-25% band."""
    import matplotlib.pyplot as plt
    modelled = [r for r in rows if r.predicted is not None]
    fig, ax = plt.subplots(figsize=(6, 6))
    values = [v for r in modelled for v in (r.predicted, r.measured)] or [1.0, 10.0]
    line = [min(values) / 2, max(values) * 2]
    ax.plot(line, line, color="black", linewidth=1, label="predicted = measured")
    ax.fill_between(line, [v * (1 - WITHIN) for v in line], [v * (1 + WITHIN) for v in line], color="grey",
                    alpha=0.25, label="within 25%")
    for source, marker in (("loaderbench", "o"), ("bench", "s")):
        points = [r for r in modelled if r.source == source]
        if points:
            ax.scatter([r.measured for r in points], [r.predicted for r in points], marker=marker, s=18,
                       label=f"{source} ({len(points)})")
    ax.set(xscale="log", yscale="log", xlim=line, ylim=line, xlabel="measured img/s", ylabel="predicted img/s",
           title=f"Loader roofline: {share_line(rows)}")
    ax.legend(loc="upper left")
    return fig


def figure(rows: list[Row], out: Path) -> list[Path]:
    """:func:`validation_figure` as PNG and PDF under ``out``."""
    import matplotlib
    matplotlib.use("Agg")
    return save_png_and_pdf(validation_figure(rows), out, "roofline-validation", dpi=150)


def main(profile_path, loaderbench: list | None = None, results_dir=None, out=None) -> list[Row]:
    """Validate and print: the table, the rows not modelled, the misses, and the share line last."""
    profile = Profile.load(profile_path)
    if not loaderbench and results_dir is None:
        raise ValueError("roofline validate: give --loaderbench J.json or --results-dir D (or both)")
    rows = [row for path in loaderbench or [] for row in loaderbench_rows(path, profile)]
    if results_dir is not None:
        rows += record_rows(results_dir, profile)
    text = render(rows)
    if out is not None:
        out = Path(out)
        figure(rows, out)
        write_text(out / "roofline-validation.txt", text + "\n")
        table(rows).to_csv(out / "roofline-validation.csv", index=False)
    print(text)
    return rows


def render(rows: list[Row]) -> str:
    modelled = table(rows)
    parts = [f"Predicted vs measured ({len(modelled)} rows modelled):", _text_table(modelled)]
    skipped = unmodelled(rows)
    parts += [f"\nNot modelled ({len(skipped)} rows):", _text_table(skipped)]
    missed = misses(rows)
    parts += [f"\nMisses ({len(missed)} rows outside 25%):", _text_table(missed)]
    parts += ["\nBy group:", _text_table(by_group(rows))]
    parts.append(f"\n{int(modelled['within 25%'].sum())} of {len(modelled)} modelled rows within 25%; "
                 f"{len(skipped)} rows not modelled")
    parts.append(share_line(rows))
    return "\n".join(parts)


def _text_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "(none)"
    with pd.option_context("display.max_colwidth", 200, "display.width", 250):
        return frame.to_string(index=False)


def _json(path, what: str) -> dict:
    where = f"roofline validate: {what} {os.fspath(path)}"
    if not Path(path).is_file():
        raise FileNotFoundError(f"{where} does not exist")
    try:
        doc = json.loads(Path(path).read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{where} must be a JSON object")
    return doc


def _table(result: dict, path) -> list[dict]:
    """The result's rows, each checked for the keys the model reads."""
    needed = ("variant", "fmt", "mode", "workers", "samples_per_s")
    for key in ("table", "image_size", "n", "batch_size"):
        if key not in result:
            raise ValueError(f"roofline validate: loaderbench result {os.fspath(path)} has no {key!r}")
    for k, entry in enumerate(result["table"]):
        missing = [key for key in needed if not isinstance(entry, dict) or key not in entry]
        if missing:
            raise ValueError(f"roofline validate: {os.fspath(path)} table row {k} lacks {', '.join(missing)}")
        rate = entry["samples_per_s"]
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"roofline validate: {os.fspath(path)} table row {k} samples_per_s must be a finite "
                             f"number > 0, got {rate!r}")
    return result["table"]


def _text(exc: Exception) -> str:
    return exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
