"""Name lookup shared by the registries of formats, datasets and models."""
from __future__ import annotations


def pick(table: dict, name: str, kind: str):
    """``table[name]``; a ValueError listing the valid names when ``name`` is unknown."""
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(table)}")
    return table[name]
