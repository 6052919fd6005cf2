"""Lossless agreement: lossless formats hold the same bytes, so runs that share a training
configuration must train the same model whatever the format. A disagreement points at a format
that changes the data or the sample order.

>>> verdict, disagreements = lossless_verdict(runs)
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .lang import Words, catalogue
from .labels import optional_column

# The training configuration that, with identical bytes, must give an identical model.
TRAINING_CONFIG = ("dataset", "dataset_name", "image_size", "n_train", "model", "seed", "epochs_per_repeat", "repeats",
                   "access", "block_unit", "batch_size", "workers", "device", "lr", "eval_limit",
                   "world_size")


def layout_ordered_modes() -> list[str]:
    """The access modes whose sample order follows the format's layout (``stream``): the same bytes
    in two formats are read in two orders there, so their runs are never compared."""
    from ..loading import MODES  # deferred, as in order.access_order: the modes import torch

    return [name for name, mode in MODES.items() if mode.order_follows_layout]


def lossless_comparisons(runs: pd.DataFrame, *, tolerance: float = 1e-9) -> pd.DataFrame:
    """Every group of trained runs on lossless formats that share one training configuration
    (:data:`TRAINING_CONFIG`, in an access mode whose order is the format's own: not
    :func:`layout_ordered_modes`) and span two or more formats: formats, runs, accuracy and F1 ranges
    and ``agree`` (both ranges within ``tolerance``). Identical bytes must train identically."""
    keys = [c for c in TRAINING_CONFIG if c in runs]
    result_columns = [*keys, "formats", "runs", "accuracy_min", "accuracy_max", "f1_min", "f1_max", "agree"]
    if runs.empty or "accuracy" not in runs:
        return pd.DataFrame(columns=result_columns)
    trained = runs[runs["lossless"].fillna(True).astype(bool) & runs["accuracy"].notna()
                   & ~runs["access"].isin(layout_ordered_modes())]
    rows = []
    for key, group in trained.groupby(keys, dropna=False):
        if group["format"].nunique() < 2:
            continue
        f1 = pd.to_numeric(optional_column(group, "f1_macro"), errors="coerce")
        spread = max(group["accuracy"].max() - group["accuracy"].min(), np.nan_to_num(f1.max() - f1.min()))
        rows.append([*key, sorted(group["format"].unique()), sorted(group["run"]), group["accuracy"].min(),
                     group["accuracy"].max(), f1.min(), f1.max(), bool(spread <= tolerance)])
    return pd.DataFrame(rows, columns=result_columns)


def disagreeing(comparisons: pd.DataFrame) -> pd.DataFrame:
    """The groups of ``comparisons`` (:func:`lossless_comparisons`) whose formats disagree."""
    return comparisons[~comparisons["agree"].astype(bool)].reset_index(drop=True)


def check_lossless_agreement(runs: pd.DataFrame, *, tolerance: float = 1e-9) -> pd.DataFrame:
    """The groups of :func:`lossless_comparisons` whose formats disagree (empty when all agree)."""
    return disagreeing(lossless_comparisons(runs, tolerance=tolerance))


def lossless_sentence(runs: pd.DataFrame, words: Words | None = None) -> str | None:
    """Whether lossless formats trained identical models, in one finding; None when nothing was
    comparable. A disagreement, a warning to act on, is said in English in every language."""
    return _sentence(lossless_comparisons(runs), words)


def _sentence(comparisons: pd.DataFrame, words: Words | None = None) -> str | None:
    if comparisons.empty:
        return None
    disagree = disagreeing(comparisons)
    if disagree.empty:
        words = words or catalogue()
        return words["lossless.agree"].format(
            count=words.count_phrase(len(comparisons), "comparable training configuration"))
    where = "; ".join(f"{', '.join(r.formats)} at {r.dataset_name} · {r.image_size} px, {r.model}, {r.access} "
                      f"access (accuracy {100 * r.accuracy_min:.2f}–{100 * r.accuracy_max:.2f}%, "
                      f"macro F1 {100 * r.f1_min:.2f}–{100 * r.f1_max:.2f}%)"
                      for r in disagree.itertuples())
    return (f"WARNING: lossless formats disagree in {len(disagree)} of {len(comparisons)} comparable training "
            f"configurations: {where}. Identical bytes should train identically.")


def lossless_verdict(runs: pd.DataFrame, *, tolerance: float = 1e-9) -> tuple[str, pd.DataFrame]:
    """The verdict the results notebook shows, as Markdown: the finding (:func:`lossless_sentence`),
    in red where formats disagree; and the disagreeing groups (:func:`check_lossless_agreement`)."""
    comparisons = lossless_comparisons(runs, tolerance=tolerance)
    sentence = _sentence(comparisons)
    disagreements = disagreeing(comparisons)
    if sentence is None:
        sentence = "No two lossless formats share a training configuration in these records: nothing to compare."
    elif not disagreements.empty:
        sentence = f"<span style='color:crimson'>**⚠ {sentence}**</span>"
    return sentence, disagreements
