"""Why each headline row is as fast as it is: the loader's binding resource for the row's runs,
predicted from a profile, in one line a row.

A row (a format with its options, and an access mode) holds runs of several datasets, sizes and
cache states; the line names each binding resource with the number of runs it binds, the most
frequent first, and the words of the first of those (its counts per batch). A run the model does
not represent is counted as such, with the reason.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd

from .model import NotModelled, predict
from .profile import Profile
from .shape import RunShape
from .whatif import resource

ROW_KEYS = ("format", "access")


def binding_of(record: dict, profile: Profile) -> tuple[str, str]:
    """(resource, words) binding the loader of one bench record; ("not modelled", reason) when the
    model has no term for it."""
    try:
        shape = RunShape.from_record(record)
    except (KeyError, ValueError) as exc:
        return "not modelled", f"its shape: {exc}"
    result = predict(shape, profile)
    if isinstance(result, NotModelled):
        return "not modelled", result.reason
    return resource(result.binding), result.binding


def why_lines(runs: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    """One line per headline row of ``runs`` (the results' runs frame, with each record's ``path``):
    the row, and its binding resources with their counts."""
    lines = []
    for key, group in runs.groupby(list(ROW_KEYS), sort=False):
        found = [binding_of(json.loads(Path(path).read_text()), profile) for path in group["path"]]
        counts = Counter(name for name, _ in found)
        first = {}
        for name, words in found:
            first.setdefault(name, words)
        top = counts.most_common(1)[0][0]
        others = ", ".join(f"{name} ({n})" for name, n in counts.most_common()[1:])
        line = f"{first[top]} ({counts[top]} of {len(found)} runs)" + (f"; also {others}" if others else "")
        lines.append({**dict(zip(ROW_KEYS, key)), "binding": line})
    return pd.DataFrame(lines, columns=[*ROW_KEYS, "binding"])


def why_table(runs: pd.DataFrame, profile: Profile, words) -> pd.DataFrame:
    """:func:`why_lines` with its columns in ``words``' language (the results' catalogue)."""
    return why_lines(runs, profile).rename(columns={**{key: words["rows"][key] for key in ROW_KEYS},
                                                    "binding": words["why.binding"]})
