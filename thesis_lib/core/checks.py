"""Checks of parameter values shared by every layer: each error names the parameter and the value."""
from __future__ import annotations

import math

import numpy as np


def checked_int(value, what: str, minimum: int, error: type[Exception] = ValueError, *,
                maximum: int | None = None) -> int:
    """``value`` as an int in ``minimum..maximum`` (no upper bound by default), else ``error`` naming ``what``."""
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum
            or (maximum is not None and value > maximum)):
        bound = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise error(f"{what} must be an integer {bound}, got {value!r}")
    return int(value)


def check_measured_epochs(epochs, warmup_epochs) -> None:
    """ValueError unless ``warmup_epochs`` leaves at least one of ``epochs`` measured."""
    epochs, warmup_epochs = checked_int(epochs, "epochs", 1), checked_int(warmup_epochs, "warmup_epochs", 0)
    if warmup_epochs >= epochs:
        raise ValueError(f"warmup_epochs={warmup_epochs} leaves no measured epoch of epochs={epochs} "
                         f"(every epoch would be start-up): set epochs to at least {warmup_epochs + 1}, "
                         "or warmup_epochs lower")


def check_number(name: str, value, *, minimum: float, what: str, strict: bool = False) -> None:
    """ValueError unless ``value`` is a finite number >= ``minimum`` (> with ``strict``), naming ``name``."""
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
          and math.isfinite(value) and (value > minimum if strict else value >= minimum))
    if not ok:
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {relation} {minimum} ({what}), got {value!r}")


def short_repr(value, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (with ``...``) for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
