"""The storage chapter: runs whose copy was read over S3 (``storage: s3``), as throughput against
zarr chunk size at each link latency, and in words: the best chunk size at each latency and what
request concurrency buys back, each only as far as the 95% intervals over repeats allow.

>>> object_store_figure(runs, catalogue("lv"))   # panels per read path, one line per latency
>>> object_store_sentences(runs, catalogue("lv"))

Runs without S3 records give nothing here (:func:`has_object_store_runs` is False): the report
over local records stays as it was.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import seaborn as sns

from ..core.stats import h100_demand
from .labels import describe, optional_column, varying_columns
from .lang import Words, catalogue
from .plotting import bootstrap_interval, message_figure
from .ranking import Effect, Estimate, by_median, leaders
from .records import warm_repeats

# Read paths in the order the panels show them: the chunked ones first (x: chunk size).
CHUNKED_PATHS = ("zarr-python", "TensorStore")
WHOLE_PATHS = ("npy", "files")
# What a finding's context names: the data and the workload (the rest is the chapter's fixed setup).
SETTING = ("dataset_name", "image_size", "n_train", "workload")


def has_object_store_runs(runs: pd.DataFrame) -> bool:
    """Whether any run in ``runs`` read its copy over S3."""
    return bool((optional_column(runs, "storage") == "s3").any())


def object_store_repeats(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per repeat of the warm runs over S3, with ``read_path`` (``zarr-python``,
    ``TensorStore``, ``npy``, ``files``), ``chunk`` (images per zarr chunk; NaN where there are
    none), ``latency_ms`` and ``concurrency`` (requests in flight per reader)."""
    s3 = runs[optional_column(runs, "storage") == "s3"]
    repeats = warm_repeats(s3) if len(s3) else pd.DataFrame()
    if repeats.empty:
        return pd.DataFrame(columns=["run", "read_path", "chunk", "latency_ms", "concurrency", "wall_s",
                                     "samples_per_s_total"])
    by_run = s3.set_index("run")
    tensorstore = optional_column(s3, "open_options.read_path").eq("tensorstore").to_numpy()
    paths = np.where(s3["fmt"] == "zarr", np.where(tensorstore, "TensorStore", "zarr-python"), s3["fmt"])
    columns = {"read_path": pd.Series(paths, index=s3["run"]),
               "chunk": pd.to_numeric(optional_column(by_run, "write_options.chunk_images"), errors="coerce"),
               "latency_ms": pd.to_numeric(optional_column(by_run, "storage_options.latency_ms"), errors="coerce"),
               "concurrency": pd.to_numeric(optional_column(by_run, "storage_options.concurrency"), errors="coerce")}
    repeats = repeats.assign(**{name: repeats["run"].map(values) for name, values in columns.items()})
    repeats.loc[repeats["read_path"].isin(WHOLE_PATHS), "chunk"] = np.nan
    return repeats


def usual_concurrency(repeats: pd.DataFrame) -> float:
    """The concurrency most runs used (the figure's lines; others are the concurrency contrast)."""
    return repeats.groupby("concurrency")["run"].nunique().idxmax()


def object_store_figure(runs: pd.DataFrame, words: Words | None = None) -> plt.Figure:
    """Images/s against zarr chunk size (log x) over S3, one line per link latency, a panel per
    zarr read path; npy and files (no chunks) in a panel beside them; runs at another request
    concurrency as open markers; the dashed line is one H100's demand at the runs' image size."""
    words = words or catalogue()
    say = lambda name: words[f"figure.object_store.{name}"]  # noqa: E731 - one figure's words
    repeats = object_store_repeats(runs).dropna(subset=["samples_per_s_total", "latency_ms"])
    if repeats.empty:
        return message_figure(say("title"), say("empty"))
    usual = usual_concurrency(repeats)
    panels = [p for p in (*CHUNKED_PATHS, *WHOLE_PATHS) if p in set(repeats["read_path"])]
    chunked = [p for p in panels if p in CHUNKED_PATHS]
    latencies = sorted(repeats["latency_ms"].unique())
    colour = dict(zip(latencies, sns.color_palette("viridis_r", len(latencies))))
    fig, axes = plt.subplots(1, len(chunked) + (len(chunked) < len(panels)), sharey=True, squeeze=False,
                             figsize=(4.2 * (len(chunked) + (len(chunked) < len(panels))), 3.8))
    axes = list(axes[0])
    chunks = sorted(repeats["chunk"].dropna().unique())
    for ax, path in zip(axes, chunked):
        ax.set(xscale="log", title=path, xlabel=say("x"))
        _chunk_lines(ax, repeats[repeats["read_path"] == path], usual, colour, words)
        ax.set_xticks(chunks, [str(int(c)) for c in chunks])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.set_xlim(chunks[0] / 1.5, chunks[-1] * 1.5)
    if len(chunked) < len(panels):
        _whole_points(axes[-1], repeats[repeats["read_path"].isin(WHOLE_PATHS)], usual, colour, words)
        axes[-1].set(title=say("whole"), xlabel="")
    sizes = repeats["image_size"].unique()
    for ax in axes:
        ax.set_yscale("log")
        if len(sizes) == 1:
            ax.axhline(h100_demand(int(sizes[0]))[0], color="black", ls="--", lw=1)
    axes[0].set_ylabel(say("value"))
    if len(sizes) == 1:
        axes[0].annotate(say("h100"), (0.02, h100_demand(int(sizes[0]))[0]), xycoords=("axes fraction", "data"),
                         ha="left", va="bottom", fontsize=8)
    handles = [plt.Line2D([], [], color=colour[lat], marker="o", label=say("latency").format(ms=words.num(lat, "g")))
               for lat in latencies]
    if (repeats["concurrency"] != usual).any():
        handles.append(plt.Line2D([], [], color="grey", marker="o", mfc="none", ls="none",
                                  label=say("other_concurrency")))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0), ncol=min(4, len(handles)),
               frameon=False, fontsize=8, title=say("legend").format(n=int(usual)))
    sns.despine(fig)
    fig.tight_layout()
    context = words.phrase(describe(repeats.iloc[0], [c for c in SETTING if c not in varying_columns(repeats, SETTING)]))
    fig.suptitle("\n".join(t for t in (say("title"), context) if t), y=1.01, va="bottom")
    return fig


def _median_and_bars(values: pd.Series) -> tuple[float, float, float]:
    low, high = bootstrap_interval(values)
    median = float(np.median(values))
    return median, median - low, high - median


def _chunk_lines(ax, repeats: pd.DataFrame, usual: float, colour: dict, words: Words) -> None:
    for (latency, concurrency), group in repeats.groupby(["latency_ms", "concurrency"]):
        points = [(chunk, *_median_and_bars(g["samples_per_s_total"])) for chunk, g in group.groupby("chunk")]
        x, y, below, above = map(np.array, zip(*points))
        own = concurrency == usual
        ax.errorbar(x, y, yerr=[below, above], color=colour[latency], marker="o", capsize=3,
                    mfc=colour[latency] if own else "none", ls="-" if own else "none")
        if not own:
            for chunk, rate in zip(x, y):
                ax.annotate(words["figure.object_store.in_flight"].format(n=int(concurrency)), (chunk, rate),
                            xytext=(4, -10), textcoords="offset points", fontsize=7, color=colour[latency])


def _whole_points(ax, repeats: pd.DataFrame, usual: float, colour: dict, words: Words) -> None:
    paths = [p for p in WHOLE_PATHS if p in set(repeats["read_path"])]
    latencies = sorted(colour)
    width = 0.6 / max(len(latencies), 1)
    for k, path in enumerate(paths):
        for j, latency in enumerate(latencies):
            group = repeats[(repeats["read_path"] == path) & (repeats["latency_ms"] == latency)]
            for concurrency, g in group.groupby("concurrency"):
                median, below, above = _median_and_bars(g["samples_per_s_total"])
                own = concurrency == usual
                ax.errorbar([k + (j - (len(latencies) - 1) / 2) * width], [median], yerr=[[below], [above]],
                            color=colour[latency], marker="o", capsize=3, mfc=colour[latency] if own else "none")
    ax.set_xticks(range(len(paths)), paths)
    ax.set_xlim(-0.6, len(paths) - 0.4)


# --------------------------------------------------------------------------------------------
# In words


def object_store_sentences(runs: pd.DataFrame, words: Words | None = None) -> list[str]:
    """For each zarr read path and latency, the best chunk size (named alone only where its epoch
    time's interval clears every other chunk size's; else the sizes tied with it); then, for each
    condition measured at two request concurrencies, how much the larger buys back (ratio of epoch
    times with the bounds the intervals allow)."""
    if not has_object_store_runs(runs):
        return []
    words = words or catalogue()
    repeats = object_store_repeats(runs).dropna(subset=["wall_s", "latency_ms"])
    if repeats.empty:
        return []
    usual = usual_concurrency(repeats)
    sentences = []
    for key, at_setting in repeats.groupby(list(SETTING), sort=False):
        context = words.phrase(describe(dict(zip(SETTING, key)), SETTING))
        sentences += _setting_sentences(words, context, at_setting, usual)
    return sentences


def _setting_sentences(words: Words, context: str, repeats: pd.DataFrame, usual: float) -> list[str]:
    sentences = []
    for path in CHUNKED_PATHS:
        for latency, group in repeats[(repeats["read_path"] == path) & (repeats["concurrency"] == usual)].groupby(
                "latency_ms"):
            estimates = {chunk: Estimate.of(str(int(chunk)), g["wall_s"]) for chunk, g in group.groupby("chunk")}
            if len(estimates) >= 2:
                sentences.append(_best_chunk(words, context, path, latency, estimates, group))
    for (path, chunk, latency), group in repeats.groupby(["read_path", "chunk", "latency_ms"], dropna=False):
        levels = sorted(group["concurrency"].unique())
        if len(levels) >= 2:
            sentences.append(_concurrency(words, context, path, chunk, latency, group, levels[0], levels[-1]))
    return sentences


def _rate(words: Words, group: pd.DataFrame) -> str:
    return words.estimate(Estimate.of("", group["samples_per_s_total"]), words["object_store.unit"], ",.0f")


def _best_chunk(words, context, path, latency, estimates: dict, group: pd.DataFrame) -> str:
    tied = leaders(estimates.values())
    fields = {"context": context, "path": path, "ms": words.num(latency, "g")}
    if len(tied) == 1:
        best = tied[0]
        runner = by_median(estimates.values())[1]
        return words["object_store.best"].format(
            chunk=best.label, rate=_rate(words, group[group["chunk"] == float(best.label)]),
            next=runner.label, next_rate=_rate(words, group[group["chunk"] == float(runner.label)]), **fields)
    listed = [f"{e.label} ({_rate(words, group[group['chunk'] == float(e.label)])})" for e in tied]
    return words["object_store.tied"].format(chunks=words.listing(listed), **fields)


def _concurrency(words, context, path, chunk, latency, group: pd.DataFrame, few: float, many: float) -> str:
    slow = Estimate.of(str(int(few)), group.loc[group["concurrency"] == few, "wall_s"])
    fast = Estimate.of(str(int(many)), group.loc[group["concurrency"] == many, "wall_s"])
    effect = Effect(slow, fast, path)
    where = path if np.isnan(chunk) else words["object_store.chunk"].format(path=path, chunk=int(chunk))
    key = ("object_store.concurrency" if effect.low > 1 else "object_store.concurrency.costs" if effect.high < 1
           else "object_store.concurrency.tied")
    return words[key].format(context=context, where=where, ms=words.num(latency, "g"), many=int(many),
                             few=int(few), effect=words.effect(effect),
                             fast=_rate(words, group[group["concurrency"] == many]),
                             slow=_rate(words, group[group["concurrency"] == few]))
