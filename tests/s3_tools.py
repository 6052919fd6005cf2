"""Helpers for the tests that run a real S3 server: which ``weed`` processes are alive."""
from __future__ import annotations

from pathlib import Path


def weed_processes(marker: str | Path) -> list[int]:
    """The ids of live ``weed`` processes whose command line contains ``marker`` (a test's folder)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and args and Path(args[0].decode(errors="replace")).name == "weed" \
                and str(marker).encode() in b" ".join(args):
            found.append(int(proc.name))
    return found
