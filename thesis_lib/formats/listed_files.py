"""Data files a manifest lists with their sample count, size and SHA-256 (WebDataset's shards,
LitData's chunks): the list checked, and each file's bytes checked against it."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..core.checks import checked_int
from ..core.errors import FormatError


class Hashed:
    """A file that hashes and counts what is written through it: its SHA-256 and size without
    reading it back."""

    def __init__(self, file):
        self.file, self.sha256, self.bytes = file, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.sha256.update(data)
        self.bytes += len(data)
        return self.file.write(data)


def sha256_of(file: Path) -> str:
    with open(file, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def listed(file: Path, n: int) -> dict:
    """The manifest entry of the finished data ``file`` holding ``n`` samples (read once to hash it)."""
    return {"name": file.name, "n": n, "bytes": file.stat().st_size, "sha256": sha256_of(file)}


@dataclass(frozen=True)
class Shard:
    """One data file as the manifest lists it: file name, samples, bytes and SHA-256."""
    name: str
    n: int
    bytes: int
    sha256: str


def manifest_shards(manifest: dict, file: Path, key: str, name_pattern: re.Pattern, shown: str) -> list[Shard]:
    """The manifest's checked list ``key`` of data files; FormatError naming ``file`` and the entry
    otherwise (a name outside ``name_pattern``, ``shown`` in the message, could climb out of the
    dataset)."""
    entries = manifest.get(key)
    if not isinstance(entries, list):
        raise FormatError(f"{file}: {key!r} must be a list of data files, got {entries!r}")
    shards = []
    for k, entry in enumerate(entries):
        where = f"{file}: {key}[{k}]"
        if not isinstance(entry, dict) or set(entry) != {"name", "n", "bytes", "sha256"}:
            raise FormatError(f"{where} must hold name, n, bytes and sha256, got {entry!r}")
        if not isinstance(entry["name"], str) or not name_pattern.match(entry["name"]):
            raise FormatError(f"{where}: name {entry['name']!r} is not a data file name ({shown})")
        if not isinstance(entry["sha256"], str) or not re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]):
            raise FormatError(f"{where}: sha256 {entry['sha256']!r} is not a SHA-256 hex digest")
        shards.append(Shard(entry["name"], checked_int(entry["n"], f"{where}: n", 0, FormatError),
                            checked_int(entry["bytes"], f"{where}: bytes", 0, FormatError), entry["sha256"]))
    if len({s.name for s in shards}) != len(shards):
        raise FormatError(f"{file}: a data file is listed twice")
    if sum(s.n for s in shards) != manifest["n"]:
        raise FormatError(f"{file}: the data files hold {sum(s.n for s in shards)} samples but n is {manifest['n']}")
    return shards


def check_bytes(file: Path, shard: Shard, verify: bool, noun: str = "shard") -> None:
    """FormatError naming the file (a ``noun``) when it is missing, not a regular file, of another
    size than the manifest's (truncated or grown), or (``verify``) of another SHA-256."""
    if not file.is_file() or file.is_symlink():
        raise FormatError(f"{file}: {noun} missing" if not file.exists() else f"{file}: not a regular file")
    size = file.stat().st_size
    if size != shard.bytes:
        state = "truncated" if size < shard.bytes else "longer than written"
        raise FormatError(f"{file}: {noun} {state} ({size} bytes, the manifest says {shard.bytes})")
    if verify:
        digest = sha256_of(file)
        if digest != shard.sha256:
            raise FormatError(f"{file}: {noun} damaged (SHA-256 {digest[:12]}..., the manifest says "
                              f"{shard.sha256[:12]}...)")
