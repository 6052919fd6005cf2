"""Typed format options: each declared once (:class:`Option`: its type, range and help), and one
parser from what a person writes to that type.

A value reaches a format from YAML (typed already), from ``KEY=VALUE`` text (the CLI, always a
string) or from Python. :meth:`Option.parse` gives all three one meaning: ``"false"``, ``"0"``,
``"no"`` and ``False`` are the same boolean; ``"1024"``, ``1024`` and ``"1KiB"`` the same size.
Anything else is refused where it is first parsed, naming the option, the value and what is
accepted. :class:`ResolvedOptions` marks a mapping that is complete and parsed, so no later layer
parses it again.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

TRUE, FALSE, NONE = ("1", "true", "yes", "on"), ("0", "false", "no", "off"), ("none", "null", "")
#: The largest integer any option takes: beyond it C libraries overflow (HDF5's cache size is a size_t).
INT_LIMIT = 2**62
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?)?b?\s*$", re.IGNORECASE)
KINDS = ("bool", "int", "float", "choice", "bytes", "url")
URL_SCHEMES = ("http://", "https://")


@dataclass(frozen=True)
class Option:
    """One option: ``kind`` is ``bool``, ``int``, ``float``, ``choice`` (one of ``choices``),
    ``bytes`` (an integer byte count, also written ``64MiB``) or ``url`` (``http(s)://HOST:PORT``,
    kept without a trailing ``/``); ``optional`` makes ``None`` (``none``, ``null``) a value of its
    own, meaning "decide for me"."""

    default: Any
    kind: str
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    optional: bool = False

    def __post_init__(self):
        if self.kind not in KINDS or (self.kind == "choice") != bool(self.choices):
            raise TypeError(f"Option kind {self.kind!r} (choices {self.choices!r}): kind is one of {KINDS}, "
                            "and only a choice has choices")

    def accepted(self) -> str:
        """What this option accepts, in words."""
        if self.kind == "bool":
            text = "true or false (also yes/no, on/off, 1/0)"
        elif self.kind == "choice":
            text = "one of " + ", ".join(self.choices)
        elif self.kind == "url":
            text = "a URL http://HOST:PORT (or https://)"
        else:
            low, high = self.minimum, self.maximum if self.maximum is not None and self.maximum < INT_LIMIT else None
            bound = (f" in {_number(low)}..{_number(high)}" if low is not None and high is not None
                     else f" >= {_number(low)}" if low is not None else f" <= {_number(high)}" if high is not None else "")
            noun = {"int": "an integer", "float": "a finite number", "bytes": "a byte count (1024, 64MiB, 1GB)"}
            text = noun[self.kind] + bound
        return text + (", or none" if self.optional else "")

    def parse(self, value, name: str, where: str = "option"):
        """``value`` as this option's type; ValueError naming ``where``, ``name``, the value and what is accepted."""
        try:
            return self._parse(value)
        except (ValueError, TypeError, OverflowError):
            raise ValueError(f"{where} {name}={value!r}: expected {self.accepted()}") from None

    def _parse(self, value):
        text = value.strip().lower() if isinstance(value, str) else None
        if self.optional and (value is None or text in NONE):
            return None
        if self.kind == "bool":
            return self._bool(value, text)
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(value)
            return value
        if self.kind == "url":
            if text is None or not text.startswith(URL_SCHEMES) or len(text.rstrip("/")) <= len("https://"):
                raise ValueError(value)
            return value.strip().rstrip("/")
        number = self._number(value, text)
        low = -math.inf if self.minimum is None else self.minimum
        high = INT_LIMIT if self.maximum is None else self.maximum
        if not low <= number <= high:
            raise ValueError(value)
        return number

    @staticmethod
    def _bool(value, text):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if text in TRUE or text in FALSE:
            return text in TRUE
        if isinstance(value, (int, np.integer)) and value in (0, 1):
            return bool(value)
        raise ValueError(value)

    def _number(self, value, text):
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(value)
        if self.kind == "float":
            number = float(text if text is not None else value)
            if not math.isfinite(number):
                raise ValueError(value)
            return number
        if isinstance(value, (int, np.integer)):
            return int(value)
        if text is None:
            raise TypeError(value)
        if self.kind == "bytes" and (match := _SIZE.match(text)):
            return int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
        return int(text, 10)


class ResolvedOptions(dict):
    """A format's options complete (defaults filled in), parsed and checked: read-only, and known
    to be resolved, so passing it on never parses it again. Equal to the plain dict of its values."""

    def __init__(self, fmt: str, side: str, values: Mapping):
        super().__init__(values)
        self.fmt, self.side = fmt, side

    def _refuse(self, *args, **kwargs):
        raise TypeError(f"format {self.fmt!r}: resolved {self.side} options are read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse

    def __reduce__(self):
        return type(self), (self.fmt, self.side, dict(self))

    def __repr__(self) -> str:
        return f"{self.side} options {dict(self)!r}"


#: The block-mode unit of a format without chunks of its own (an open option of several formats).
BLOCK_SIZE = Option(512, "int", "block-mode unit (images)", minimum=1, maximum=2**31)


def _number(value: float) -> str:
    return f"{value:,}" if float(value).is_integer() else f"{value:g}"


def defaults_of(declared: Mapping[str, Option]) -> dict:
    """Option name -> default value."""
    return {name: option.default for name, option in declared.items()}
