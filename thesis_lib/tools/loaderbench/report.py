"""loaderbench's report: issue 11's targets as ratios of rates measured in one run, and the printed
table."""
from __future__ import annotations

import io

import pandas as pd


def _rate(table: pd.DataFrame, variant: str, mode: str, workers: int = 0) -> float | None:
    hit = table[(table["variant"] == variant) & (table["mode"] == mode) & (table["workers"] == workers)]
    return float(hit["samples_per_s"].iloc[0]) if len(hit) else None


def targets(table: pd.DataFrame, demand: float, workers: int) -> list[dict]:
    """Issue 11's targets as ratios of rates measured in this run (those whose rows were measured)."""
    ram = float(table.loc[0, "samples_per_s"])
    found = []

    def check(what, measured, reference, goal):
        if measured is not None and reference:
            found.append({"target": what, "ratio": float(measured / reference), "goal": goal,
                          "met": bool(measured / reference >= goal)})

    for variant in ("npy", "hdf5 contiguous, direct"):
        for w in sorted({0, workers}):
            check(f"{variant}, block / batch, {w} workers", _rate(table, variant, "block", w),
                  _rate(table, variant, "batch", w), 1.0)
        # the in-RAM gather runs in this process: compared with the loader in this process
        check(f"{variant}, block / in-RAM, 0 workers", _rate(table, variant, "block"), ram, 0.7)
    zarr_block = table[(table["fmt"] == "zarr") & (table["mode"] == "block") & (table["workers"] == 0)]
    if len(zarr_block):
        best = zarr_block.sort_values("samples_per_s").iloc[-1]
        check(f"zarr best block ({best['variant']}) / in-RAM", best["samples_per_s"], ram, 0.5)
        check(f"zarr best block ({best['variant']}) / its plain slice", best["samples_per_s"],
              _rate(table, best["variant"], "slice"), 0.8)
    random = table[(table["fmt"] == "zarr") & (table["mode"] == "batch") & (table["workers"] <= 2)
                   & table["variant"].str.startswith("zarr chunk 64,")]
    cached = random["variant"].str.contains("cache")
    for rows, what in ((random[~cached], "no chunk cache"), (random[cached], "a chunk cache holding the set")):
        if len(rows):
            best = rows.sort_values("samples_per_s").iloc[-1]
            check(f"zarr chunk 64 random batch, {what}: {best['variant']}, {best['workers']} workers / H100",
                  best["samples_per_s"], demand, 1.0)
    return found


def render(result: dict) -> str:
    """The printed report: the table of medians and ratios, then the cores each format needs."""
    table = pd.DataFrame(result["table"])
    buf = io.StringIO()
    print(f"{result['dataset']} {result['image_size']} px, n={result['n']}, batch {result['batch_size']}, "
          f"{result['workers']} workers, median of {result['repeats']} x "
          f"{result['batches_per_measurement'] or 'an epoch of'} batches, warm cache; "
          f"H100 demand {result['h100_demand']:,.0f} img/s", file=buf)
    shown = table.reindex(columns=["variant", "mode", "workers", "samples_per_s", "x_baseline", "x_h100",
                                   "first_batch_s"])
    print(shown.to_string(index=False, na_rep="", formatters={
        "samples_per_s": "{:,.0f}".format, "x_baseline": "{:.3f}".format, "x_h100": "{:.2f}".format,
        "first_batch_s": lambda v: "" if v != v or v is None else f"{v:.2f}"}), file=buf)
    print("(first_batch_s: a fresh loader's seconds to its first batch, worker start-up included)", file=buf)
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
        print(f"  {fmt:6s} {info['mode']:8s} needs {info['workers']} workers{label}   [{rates}]", file=buf)
    return buf.getvalue()
