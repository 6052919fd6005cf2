"""Name lookup shared by the registries of formats, datasets, access modes and models: finding a
name, the order names read in, and how a help text lists them."""
from __future__ import annotations

from collections.abc import Iterable


def pick(table: dict, name: str, kind: str):
    """``table[name]``; a ValueError listing the valid names when ``name`` is unknown."""
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(table)}")
    return table[name]


def in_order(registered: Iterable[str], preferred: Iterable[str] = ()) -> list[str]:
    """A registry's names in reading order: ``preferred``'s first, in its order, then every
    registered name it leaves out, in the registry's order. ``preferred`` only overrides the
    order: it may name what no registry holds, and it never hides a registered name."""
    return list(dict.fromkeys([*preferred, *registered]))


def one_of(names: Iterable[str]) -> str:
    """``"files | npy | zarr"``: the valid names as a help text lists them."""
    return " | ".join(names)
