"""Conversion cost per format: write time, bytes on disk and peak memory.

Each conversion runs in a fresh Python process, so its peak resident set size is its own and not
the high-water mark of earlier work. Converting the same source at two sizes shows whether the
writers stream (peak memory flat in the dataset size) or accumulate.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from .. import formats
from ..core import paths
from ..core.errors import FormatError, SourceError, ThesisLabError
from ..core.record import write_json

# Linux keeps a process's peak RSS across fork and exec, so the child would inherit this process's
# high-water mark: it resets it (clear_refs "5") and reads VmHWM, the peak since the reset.
CHILD = """
import json, sys
from thesis_lib import ThesisLabError, formats, sources
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
name, size, limit, out, dataset, root = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:7]
try:
    source = sources.load(dataset, root or None, image_size=size, limit=limit)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status("VmRSS")
    stats = formats.get(name).write(source, out, progress=False)
except (ThesisLabError, ValueError, FileExistsError) as exc:  # bad input: the message says it all
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
    sys.exit(1)
print(json.dumps({**stats, "baseline_rss_mb": before, "peak_rss_mb": status("VmHWM")}))
"""
# The errors a child reports by name, raised again here with its message (not its traceback).
CHILD_ERRORS = {error.__name__: error for error in (SourceError, FormatError, ValueError, FileExistsError)}


def convert_in_child(fmt: str, dataset: str, image_size: int, limit: int, target: Path, root: str | None) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, fmt, str(image_size), str(limit), str(target), dataset,
                             root or ""], capture_output=True, text=True)
    report = _last_json_line(result.stdout)
    if result.returncode == 0 and report is not None:
        return report
    if report is not None and "error" in report:
        error = CHILD_ERRORS.get(report["error"], ThesisLabError)
        raise error(f"converting {dataset} to {fmt}: {report['message']}")
    raise RuntimeError(f"converting {dataset} to {fmt} failed:\n{result.stderr[-2000:]}")


def _last_json_line(stdout: str) -> dict | None:
    lines = stdout.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else None
    except ValueError:
        return None


def _row(fmt: str, requested: int, stats: dict) -> dict:
    """One conversion's figures, for the images written (``n``, from the writer), not those asked
    for (``requested``): a source smaller than the request writes all it holds."""
    return {"fmt": fmt, "n": stats["n"], "requested": requested, "raw_mb": stats["raw_bytes"] / 2**20,
            "on_disk_mb": stats["bytes_on_disk"] / 2**20, "write_s": stats["seconds"],
            "img_per_s": stats["n"] / stats["seconds"], "peak_rss_mb": stats["peak_rss_mb"],
            "rss_before_write_mb": stats["baseline_rss_mb"]}


def main(*, dataset: str = "synthetic", root: str | None = None, image_size: int = 32, sizes=(10_000, 40_000),
         fmts=None, out: str | Path | None = None, workdir: str | Path | None = None) -> pd.DataFrame:
    fmts = fmts or formats.names()
    rows = []
    with tempfile.TemporaryDirectory(dir=workdir or paths.data_dir("tmp")) as tmp:
        for limit in sizes:
            for fmt in fmts:
                stats = convert_in_child(fmt, dataset, image_size, limit, Path(tmp) / f"{fmt}-{limit}", root)
                rows.append(_row(fmt, limit, stats))
                subprocess.run(["rm", "-rf", str(Path(tmp) / f"{fmt}-{limit}")], check=True)
    table = pd.DataFrame(rows)
    print(f"{dataset} at {image_size} px; each conversion in a fresh process")
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    for requested, written in sorted({(r["requested"], r["n"]) for r in rows if r["n"] != r["requested"]}):
        print(f"asked for {requested:,} images: the source holds {written:,}, and that many were written")
    written_sizes = sorted({r["n"] for r in rows})
    if len(written_sizes) > 1:
        wide = table.pivot_table(index="fmt", columns="n", values="peak_rss_mb", aggfunc="max")
        growth = wide[written_sizes[-1]] / wide[written_sizes[0]]
        print(f"\npeak RSS at {written_sizes[-1]:,} / at {written_sizes[0]:,} images (1.0 = streaming):")
        print(growth.to_string(float_format=lambda v: f"{v:.2f}"))
    out = Path(out) if out else paths.data_dir("loaderbench") / f"convertbench-{dataset}-{image_size}.json"
    write_json(out, {"dataset": dataset, "image_size": image_size, "rows": rows})
    print(f"\nwritten: {out}")
    return table
