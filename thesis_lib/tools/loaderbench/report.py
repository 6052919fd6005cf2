"""loaderbench's report: issues 11's and 22's targets as ratios of rates measured in one run, the
printed table, and the worker kinds side by side."""
from __future__ import annotations

import io

import pandas as pd

from ...loading import WORKER_KINDS

#: The memory-mapped variants, whose workers of the best kind should keep 0.8x their 0-worker rate.
MAPPED = ("npy", "hdf5 contiguous, direct")
#: The variant whose thread workers should scale with threads (decoding is the work).
DECODED = "files png, torchvision.io"


def _rate(table: pd.DataFrame, variant: str, mode: str, workers: int = 0, kind: str = "process") -> float | None:
    hit = table[(table["variant"] == variant) & (table["mode"] == mode) & (table["workers"] == workers)]
    if workers and "kind" in table:
        hit = hit[hit["kind"] == kind]
    return float(hit["samples_per_s"].iloc[0]) if len(hit) else None


def _best_kind(table: pd.DataFrame, variant: str, mode: str, workers: int) -> tuple[str, float | None]:
    """The worker kind with the higher rate for ``variant`` in ``mode`` with ``workers`` workers."""
    rates = {kind: _rate(table, variant, mode, workers, kind) for kind in WORKER_KINDS}
    kind = max((k for k in rates if rates[k] is not None), key=rates.get, default="process")
    return kind, rates[kind]


def targets(table: pd.DataFrame, demand: float, workers: int) -> list[dict]:
    """Issues 11's and 22's targets as ratios of rates measured in this run (those whose rows were measured)."""
    ram = float(table.loc[0, "samples_per_s"])
    found = []

    def check(what, measured, reference, goal):
        if measured is not None and reference:
            found.append({"target": what, "ratio": float(measured / reference), "goal": goal,
                          "met": bool(measured / reference >= goal)})

    kinds = list(WORKER_KINDS) if workers else ["process"]
    for variant in MAPPED:
        for w, kind in [(0, "process")] + [(workers, k) for k in kinds if workers]:
            named = f"{w} workers" + (f" ({kind})" if w else "")
            check(f"{variant}, block / batch, {named}", _rate(table, variant, "block", w, kind),
                  _rate(table, variant, "batch", w, kind), 1.0)
        # the in-RAM gather runs in this process: compared with the loader in this process
        check(f"{variant}, block / in-RAM, 0 workers", _rate(table, variant, "block"), ram, 0.7)
    zarr_block = table[(table["fmt"] == "zarr") & (table["mode"] == "block") & (table["workers"] == 0)]
    mapped = [(variant, mode) for variant in MAPPED for mode in ("batch", "block")]
    if len(zarr_block):
        best = zarr_block.sort_values("samples_per_s").iloc[-1]
        check(f"zarr best block ({best['variant']}) / in-RAM", best["samples_per_s"], ram, 0.5)
        check(f"zarr best block ({best['variant']}) / its plain slice", best["samples_per_s"],
              _rate(table, best["variant"], "slice"), 0.8)
        mapped.append((best["variant"], "block"))
    if workers:
        for variant, mode in mapped:
            kind, rate = _best_kind(table, variant, mode, workers)
            check(f"{variant} {mode}, {workers} workers of its best kind ({kind}) / 0 workers", rate,
                  _rate(table, variant, mode), 0.8)
        if workers > 1:
            check(f"{DECODED} batch, {workers} threads / 1 thread", _rate(table, DECODED, "batch", workers, "thread"),
                  _rate(table, DECODED, "batch", 1, "thread"), 0.9 * workers)
    random = table[(table["fmt"] == "zarr") & (table["mode"] == "batch") & (table["workers"] <= 2)
                   & table["variant"].str.startswith("zarr chunk 64,")]
    cached = random["variant"].str.contains("cache")
    for rows, what in ((random[~cached], "no chunk cache"), (random[cached], "a chunk cache holding the set")):
        if len(rows):
            best = rows.sort_values("samples_per_s").iloc[-1]
            check(f"zarr chunk 64 random batch, {what}: {best['variant']}, {best['workers']} workers / H100",
                  best["samples_per_s"], demand, 1.0)
    return found


def kinds_side_by_side(table: pd.DataFrame, workers: int) -> pd.DataFrame:
    """Per variant and mode: the rate with 0 workers and with ``workers`` workers of each kind,
    and each kind's ratio to 0 workers."""
    streaming = table[~table["mode"].isin(["slice", "resident"])]
    rows = []
    for (variant, mode), _ in streaming.groupby(["variant", "mode"], sort=False):
        none = _rate(table, variant, mode)
        rates = {kind: _rate(table, variant, mode, workers, kind) for kind in WORKER_KINDS}
        if all(rate is None for rate in rates.values()):
            continue
        row = {"variant": variant, "mode": mode, "0 workers": none}
        row.update({f"{workers} {kind}": rate for kind, rate in rates.items()})
        row.update({f"{kind} / 0": rate / none if rate and none else None for kind, rate in rates.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def render(result: dict) -> str:
    """The printed report: the table of medians and ratios, then the cores each format needs."""
    table = pd.DataFrame(result["table"])
    buf = io.StringIO()
    print(f"{result['dataset']} {result['image_size']} px, n={result['n']}, batch {result['batch_size']}, "
          f"{result['workers']} workers, median of {result['repeats']} x "
          f"{result['batches_per_measurement'] or 'an epoch of'} batches, warm cache; "
          f"H100 demand {result['h100_demand']:,.0f} img/s", file=buf)
    shown = table.reindex(columns=["variant", "mode", "workers", "kind", "samples_per_s", "x_baseline", "x_h100",
                                   "first_batch_s"])
    print(shown.to_string(index=False, na_rep="", formatters={
        "samples_per_s": "{:,.0f}".format, "x_baseline": "{:.3f}".format, "x_h100": "{:.2f}".format,
        "first_batch_s": lambda v: "" if v != v or v is None else f"{v:.2f}"}), file=buf)
    print("(first_batch_s: a fresh loader's seconds to its first batch, worker start-up included)", file=buf)
    if result["workers"]:
        side = kinds_side_by_side(table, result["workers"])
        if len(side):
            print(f"\nworker kinds side by side (img/s; process: torch DataLoader workers, thread: a pool of "
                  "threads in this process, ring: processes writing into a shared-memory ring):", file=buf)
            def rate(v):
                return "" if pd.isna(v) else f"{v:,.0f}"

            def ratio(v):
                return "" if pd.isna(v) else f"{v:.2f}"
            print(side.to_string(index=False, na_rep="", formatters={
                c: (ratio if "/" in c else rate) for c in side.columns if c not in ("variant", "mode")}), file=buf)
    print(f"\npeer ImageFolder read {result.get('peer_images', 'the files format PNG tree')}", file=buf)
    if result.get("single_core_png_decode_rate"):
        print(f"single-core PNG decode (files format, PIL): {result['single_core_png_decode_rate']:,.0f} img/s",
              file=buf)
    if result.get("targets"):
        print("\ntargets (ratios of rates measured above, in this run):", file=buf)
        for t in result["targets"]:
            print(f"  {'met   ' if t['met'] else 'MISSED'} {t['target']}: {t['ratio']:.2f}x (goal >= {t['goal']}x)",
                  file=buf)
    print("\nworkers (CPU cores) to feed one H100, each format in its best streaming mode "
          "(resident needs RAM for the whole set, so it is left out):", file=buf)
    for fmt, info in result["cores_per_gpu"].items():
        rates = ", ".join(f"{w}w {r:,.0f}" for w, r in info["rates"].items())
        label = " (extrapolated)" if info["extrapolated"] else ""
        kind = info.get("kind", "process")
        print(f"  {fmt:6s} {info['mode']:8s} {kind:7s} needs {info['workers']} workers{label}   [{rates}]", file=buf)
    return buf.getvalue()
