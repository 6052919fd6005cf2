"""The figure bench.ipynb draws for its own run: where each epoch's time went."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns


def epoch_figure(record: dict):
    """Per-epoch wall time as stacked data wait + compute + other, one bar per (repeat, epoch)."""
    epochs = pd.DataFrame(record["epochs"])
    epochs["label"] = [f"r{r} e{e}{' cold' if c else ''}" for r, e, c in
                       zip(epochs["repeat"], epochs["epoch"], epochs["cold"])]
    epochs["other_s"] = (epochs["wall_s"] - epochs["data_wait_s"] - epochs["compute_s"]).clip(lower=0)
    parts = [("data_wait_s", "data wait"), ("compute_s", "compute"), ("other_s", "other")]
    colors = sns.color_palette("deep", len(parts))
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(epochs) + 2), 3.5))
    bottom = pd.Series(0.0, index=epochs.index)
    for (column, name), color in zip(parts, colors):
        ax.bar(epochs["label"], epochs[column], bottom=bottom, label=name, color=color)
        bottom += epochs[column]
    ax.set_xlabel("repeat and epoch")
    ax.set_ylabel("seconds")
    subtitle = f"median epoch {record['epoch_time_s_median']:.2f} s"
    au = record.get("au_median")
    if au is not None and au == au:  # None or NaN for a loader-only run
        subtitle += f", AU {au:.0%}"
    ax.set_title(f"{record['run']}\n{subtitle}", fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    sns.despine(fig)
    fig.tight_layout()
    return fig
