"""The check's table: a row per figure, judged against its target, and its text. Pure functions,
tested on fake timings."""
from __future__ import annotations

import math

import numpy as np


def judge(value, target: tuple[str, float] | None, on_gpu: bool) -> str:
    """``met`` / ``missed`` for a value a GPU measured against its target; ``not measured`` when
    nothing was, or only a CPU stood in for the GPU (a dry run); ``n/a`` for a figure without a target."""
    if value is None:
        return "not measured"
    if target is None:
        return "n/a"
    if not on_gpu:
        return "not measured"
    op, threshold = target
    ok = {">=": value >= threshold, "<=": value <= threshold, "==": value == threshold}[op]
    return "met" if ok else "missed"


def make_row(step: str, what: str, value, unit: str, device: str | None, *, target=None, anchor=None,
             note: str = "", on_gpu: bool = True) -> dict:
    """One row of the table: a figure, the device it was measured on, its target and anchor."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    return {"step": step, "what": what, "value": value, "unit": unit, "device": device,
            "target": None if target is None else {"op": target[0], "value": target[1]},
            "anchor": anchor, "status": judge(value, target, on_gpu and device is not None), "note": note}


def not_measured(step: str, what: str, unit: str, why: str, *, target=None, anchor=None) -> dict:
    return make_row(step, what, None, unit, None, target=target, anchor=anchor, note=why)


def format_value(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if not math.isfinite(value):
        return str(value)
    if unit == "img/s" or abs(value) >= 1000:
        return f"{value:,.0f}"
    if unit in ("GB/s", "s", "points"):
        return f"{value:.2f}" if unit != "points" else f"{value:.1f}"
    return f"{value:.3g}"


def _target_text(row: dict) -> str:
    target = row["target"]
    if target is None:
        return ""
    return f"{target['op']} {format_value(target['value'], row['unit'])}"


def _anchor_text(row: dict) -> str:
    anchor, value = row["anchor"], row["value"]
    if anchor is None:
        return ""
    text = format_value(anchor, row["unit"])
    if isinstance(value, (int, float)) and not isinstance(value, bool) and anchor:
        text += f" (x{value / anchor:.2f})"
    return text


COLUMNS = [("step", 5), ("what", 50), ("value", 11), ("unit", 6), ("device", 24), ("target", 14),
           ("anchor", 20), ("status", 12)]


def table_header() -> str:
    line = "  ".join(f"{name:<{width}}" for name, width in COLUMNS)
    return line + "  note\n" + "-" * (len(line) + 6)


def format_row(row: dict) -> str:
    cells = {"step": row["step"], "what": row["what"], "value": format_value(row["value"], row["unit"]),
             "unit": row["unit"], "device": row["device"] or "-", "target": _target_text(row),
             "anchor": _anchor_text(row), "status": row["status"]}
    line = "  ".join(f"{cells[name]:<{width}}" if name != "value" else f"{cells[name]:>{width}}"
                     for name, width in COLUMNS)
    return f"{line}  {row['note']}".rstrip()


def format_table(rows: list[dict]) -> str:
    return "\n".join([table_header(), *(format_row(r) for r in rows)])


def summary(rows: list[dict]) -> str:
    counts = {status: sum(r["status"] == status for r in rows) for status in ("met", "missed", "not measured")}
    return ", ".join(f"{n} {status}" for status, n in counts.items()) + f" of {len(rows)} rows"
