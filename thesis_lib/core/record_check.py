"""The one check of a benchmark record's schema and ranges, made before ``bench`` writes a record and
again before the report reads one: :func:`record_problems` lists what is wrong, :func:`check_record`
raises :class:`RecordError` naming the run and its problems. A record that fails is quarantined by
the report (:mod:`thesis_lib.results.records`), never analysed.
"""
import collections
import math
import os
import re

from .checks import short_repr
from .errors import ThesisLabError
from .record import Record, _strict


class RecordError(ThesisLabError):
    """A record fails its schema-and-range check; the message names the run and every problem."""


# A record nests three deep (env.storage.<figure>); anything far deeper is not one bench wrote.
MAX_DEPTH = 12
# The longest text a record holds is a path (PATH_MAX on Linux); anything longer is not a record's.
MAX_TEXT = 4096
# The start of an HTML tag or comment: text a report would render as markup.
MARKUP = re.compile(r"<\s*[A-Za-z!/?]")
# Fields that must be text, and those that must be numbers when present.
RECORD_TEXT = ("run", "dataset", "fmt", "access", "model")
RECORD_NUMBERS = ("emulate_rate", "repeats", "batch_size", "workers", "n_train", "bytes_on_disk", "convert_s",
                  "accuracy", "f1_macro", "epoch_time_s_median", "samples_per_s_median", "au_median",
                  "au_mlperf_median", "data_wait_s_median", "peak_rss_mb", "h100_demand")
EPOCH_NUMBERS = ("wall_s", "data_wait_s", "first_batch_s", "compute_s", "samples", "samples_per_s",
                 "samples_per_s_total", "au", "au_mlperf", "cached_fraction", "loss", "peak_rss_mb")
# What each number may be: above zero, zero or more, or a fraction.
POSITIVE = ("epoch_time_s_median", "samples_per_s_median")
NOT_NEGATIVE = ("emulate_rate", "batch_size", "workers", "n_train", "bytes_on_disk", "convert_s", "data_wait_s_median",
                "peak_rss_mb", "h100_demand", "data_wait_s", "first_batch_s", "compute_s", "samples", "samples_per_s",
                "samples_per_s_total")
FRACTIONS = ("accuracy", "f1_macro", "au_median", "au_mlperf_median", "au", "au_mlperf", "cached_fraction")
# Compute and wall time come from different clocks (CUDA events, the emulator's deadline, perf_counter):
# an AU a hair above 1 is timing, not damage.
FRACTION_SLACK = 1e-3


def record_problems(record) -> list[str]:
    """Everything wrong with ``record``, each a short phrase naming the field; empty for a good
    record. Checked: the required keys, the types of the fields the report uses, every number
    finite, times positive (an epoch's ``wall_s`` above zero), fractions (AU, accuracy) in [0, 1]
    or null, ``repeats`` a positive integer, nesting at most :data:`MAX_DEPTH` deep, text at most
    :data:`MAX_TEXT` characters and free of HTML markup (the report renders text as HTML)."""
    if not isinstance(record, dict):
        return [f"not a mapping of fields (a JSON {type(record).__name__})"]
    missing = sorted(Record.__required_keys__ - set(record))
    if missing:
        return [f"not a benchmark record (no {', '.join(missing)})"]
    problems = _shape_problems(record)
    if problems:  # the checks below walk the record: only one of sane shape
        return problems
    for key in RECORD_TEXT:
        if not isinstance(record[key], str):
            problems.append(f"{key} must be text, got {short_repr(record[key])}")
    if not (_is_integer(record["image_size"]) and record["image_size"] >= 1):
        problems.append(f"image_size must be a positive integer, got {short_repr(record['image_size'])}")
    if "repeats" in record and not (_is_integer(record["repeats"]) and record["repeats"] >= 1):
        problems.append(f"repeats must be a positive integer, got {short_repr(record['repeats'])}")
    problems += _number_problems(record, RECORD_NUMBERS, "")
    for key in ("write_options", "open_options", "storage_options", "fmt_options", "config", "env"):
        if not isinstance(record.get(key, {}), dict):
            problems.append(f"{key} must be a mapping, got {short_repr(record[key])}")
    epochs = record["epochs"]
    if not isinstance(epochs, list) or not epochs or not all(isinstance(e, dict) for e in epochs):
        return [*problems, "epochs must be a non-empty list of per-epoch records"]
    for k, epoch in enumerate(epochs):
        wall = epoch.get("wall_s")
        if not (_is_number(wall) and wall > 0):
            problems.append(f"epoch {k}: wall_s must be a number above 0, got {short_repr(wall)}")
        problems += _number_problems(epoch, EPOCH_NUMBERS, f"epoch {k}: ")
    return problems


def check_record(record, where: str | os.PathLike | None = None, *, as_written: bool = False) -> None:
    """Raise :class:`RecordError` naming the record (``where``, else its ``run``) and every
    problem :func:`record_problems` finds. ``as_written``: check what :func:`write_json` would
    write (NaN as null, NumPy values as numbers), as bench does before writing a record."""
    problems = record_problems(_strict(record) if as_written else record)
    if problems:
        name = where if where is not None else record.get("run") if isinstance(record, dict) else None
        raise RecordError(f"record {str(name)[:200] if name else '(no run name)'}: {problems_text(problems)}")


def problems_text(problems: list[str], shown: int = 3) -> str:
    """The first ``shown`` problems in one line, and how many more there are."""
    more = f" (and {len(problems) - shown} more)" if len(problems) > shown else ""
    return "; ".join(problems[:shown]) + more


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)



def _number_problems(fields: dict, keys, where: str) -> list[str]:
    problems = []
    for key in keys:
        value = fields.get(key)
        if value is None:
            continue
        if not _is_number(value):
            problems.append(f"{where}{key} must be a number, got {short_repr(value)}")
        elif key in POSITIVE and not value > 0:
            problems.append(f"{where}{key} must be above 0, got {value!r}")
        elif key in NOT_NEGATIVE and value < 0:
            problems.append(f"{where}{key} must not be negative, got {value!r}")
        elif key in FRACTIONS and not 0 <= value <= 1 + FRACTION_SLACK:
            problems.append(f"{where}{key} must be between 0 and 1, got {value!r}")
    return problems


def _shape_problems(record: dict) -> list[str]:
    """Nesting too deep, numbers that are not finite (a JSON NaN or Infinity), text too long or
    holding markup, anywhere in the record; the first few, each with its place (``epochs[3].wall_s``)."""
    problems = []
    queue = collections.deque([("", record, 1)])
    while queue and len(problems) < 5:
        place, value, depth = queue.popleft()
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                problems.append(f"{place or 'the record'}: nested more than {MAX_DEPTH} deep")
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    problems += _text_problems(f"{place or 'the record'}: the key {key[:40]!r}", key)
                inner = f"{place}[{key}]" if isinstance(value, list) else f"{place}.{key}" if place else str(key)
                queue.append((inner, item, depth + 1))
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{place} must be a finite number, got {value!r}")
        elif isinstance(value, str):
            problems += _text_problems(place, value)
    return problems


def _text_problems(place: str, text: str) -> list[str]:
    if len(text) > MAX_TEXT:
        return [f"{place}: text of {len(text):,} characters (at most {MAX_TEXT:,})"]
    if MARKUP.search(text):
        return [f"{place}: holds HTML markup ({short_repr(text, 60)}), which the report would render"]
    return []
