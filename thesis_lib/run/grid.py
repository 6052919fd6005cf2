"""A grid file (YAML) into the points of a sweep, each a mapping of :class:`~thesis_lib.run.config.BenchConfig` fields.

A grid holds ``defaults`` and a list of ``grids``. In each grid a list value is an axis and the
points are the cartesian product of the axes. Every key is a field of
:class:`~thesis_lib.run.config.BenchConfig` (``write_options``/``open_options``/``storage_options`` take mappings, so a list
of mappings is an axis of option sets), plus two bundle axes whose values are partial points that
travel together: ``datasets`` (e.g. ``{dataset: imagefolder, root: ../shared/data/cifar10-jpeg.zip}``)
and ``variants`` (e.g. ``{fmt: zarr, write_options: {chunk_images: 1024}}``); a bundle's values
override the entry's (``{fmt: cupy, device: cuda, workers: 0}`` in an entry of 2 workers on the
CPU). A relative ``root`` is taken from the folder the sweep is started in; ``$VARS`` and ``~``
are expanded.

A grid is read defensively: a file that is not UTF-8, a key written twice in one mapping (YAML
would keep the last silently), aliases that expand past :data:`MAX_YAML_NODES` nodes (an "alias
bomb" of 1 KB otherwise takes minutes and gigabytes), an empty axis, and a grid of more than
:data:`MAX_POINTS` points (counted from the axes' lengths before anything is expanded) are each
refused with a message naming the file and the entry.
"""
from __future__ import annotations

import functools
import itertools
import json
import math
import os
from pathlib import Path

import yaml

from ..core import paths
from ..core.checks import short_repr
from .config import BenchConfig
from .run_spec import RunSpec

DEFAULT_GRID = paths.REPO_ROOT / "thesis_lib" / "grids" / "default.yaml"
PARAMETERS = BenchConfig.field_names()
BUNDLES = ("datasets", "variants")
OPTION_KEYS = ("write_options", "open_options", "storage_options")
# The project's grids are a few KB; a grid file far larger is a mistake, not a grid.
MAX_GRID_BYTES = 2**20
# Nodes a grid's YAML may hold once its aliases are expanded (the thesis grid: about 1,000).
MAX_YAML_NODES = 100_000
# Points one grid file may expand to: 100,000 points is years of runs; refused even with --yes.
MAX_POINTS = 100_000


class DuplicateKey(yaml.YAMLError):
    """A key written twice in one mapping."""


class GridLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key written twice in one mapping (a ``<<`` merge still
    overrides, as YAML means it to)."""

    def construct_mapping(self, node, deep=False):
        lines = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in lines:
                raise DuplicateKey(f"the key {key_node.value!r} is written twice in one mapping (lines "
                                   f"{lines[key_node.value]} and {line}); YAML would keep only the last")
            lines[key_node.value] = line
        return super().construct_mapping(node, deep=deep)


def read_spec(path: Path) -> object:
    """The YAML document in ``path``, read defensively (see the module's docstring); ValueError
    naming the file otherwise."""
    try:
        if path.stat().st_size > MAX_GRID_BYTES:
            raise ValueError(f"grid {path}: {path.stat().st_size:,} bytes; a grid is at most {MAX_GRID_BYTES:,}")
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"grid {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"grid {path}: not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); "
                         "save it as UTF-8") from None
    loader = GridLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node, path)
        return loader.construct_document(node)
    except DuplicateKey as exc:
        raise ValueError(f"grid {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"grid {path}: not valid YAML ({' '.join(str(exc).split())})") from None
    except RecursionError:
        raise ValueError(f"grid {path}: nested too deep to read") from None
    finally:
        loader.dispose()


def _check_expanded_size(root: yaml.Node, path: Path) -> None:
    """Refuse a document whose aliases expand past :data:`MAX_YAML_NODES` nodes, or refer to
    themselves: the nodes are counted as if every alias were copied out, each shared node once
    (so the count takes time in the file's size, not in the expansion's)."""
    sizes: dict[int, int] = {}
    entered: set[int] = set()
    # Iterative post-order walk: a deep document must not exhaust Python's stack.
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = ([item for pair in node.value for item in pair] if isinstance(node, yaml.MappingNode) else
                    node.value if isinstance(node, yaml.SequenceNode) else [])
        if children_done:
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            entered.discard(key)
            if sizes[key] > MAX_YAML_NODES:
                raise ValueError(f"grid {path}: its aliases expand to more than {MAX_YAML_NODES:,} YAML nodes "
                                 f"(from line {node.start_mark.line + 1}); a grid is far smaller")
            continue
        if key in entered:
            raise ValueError(f"grid {path}: an alias refers to itself (line {node.start_mark.line + 1})")
        entered.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def load_grid(path: str | Path | None = None) -> list[dict]:
    """The grid's points as parameter dicts for bench.ipynb, defaults filled in; each run once."""
    path = Path(path) if path else DEFAULT_GRID
    entries = grid_entries(path)
    points, seen = [], set()
    for axes in entries:
        for combo in itertools.product(*axes.values()):
            chosen = dict(zip(axes, combo))
            point = {key: value for key, value in chosen.items() if key not in BUNDLES}
            for bundle in BUNDLES:  # a bundle's values override the entry's, wherever they are written
                point.update(chosen.get(bundle, {}))
            point = _resolve_root(point)
            if (key := _point_key(point)) not in seen:
                seen.add(key)
                points.append(point)
    return points


def grid_entries(path: Path) -> list[dict[str, list]]:
    """Each entry of the grid as its axes (every value a non-empty list), checked; ValueError naming
    the file and entry for an unknown key, an empty axis, or more than :data:`MAX_POINTS` points
    in all (counted from the axes' lengths, before any point is made)."""
    spec = read_spec(path)
    if not isinstance(spec, dict) or not isinstance(spec.get("grids"), list):
        raise ValueError(f"grid {path}: expected a mapping with a 'grids' list")
    unknown = sorted(set(spec) - {"defaults", "grids", "anchors"}, key=str)
    if unknown:
        raise ValueError(f"grid {path}: unknown top-level key {unknown[0]!r}; valid: defaults, grids, anchors "
                         "(a place for YAML anchors)")
    defaults = spec["defaults"] if spec.get("defaults") is not None else {}
    if not isinstance(defaults, dict):
        raise ValueError(f"grid {path}: defaults must be a mapping of parameters, got {short_repr(defaults)}")
    if not spec["grids"]:
        raise ValueError(f"grid {path}: 'grids' is empty: the grid has no points")
    entries = []
    for k, grid in enumerate(spec["grids"]):
        where = f"grid {path}, entry {k}"
        if not isinstance(grid, dict):
            raise ValueError(f"{where}: expected a mapping of parameters, got {short_repr(grid)}")
        merged = {**defaults, **grid}
        merged.pop("name", None)
        _check_keys(merged, where, allowed=[*PARAMETERS, *BUNDLES])
        axes = {key: value if isinstance(value, list) else [value] for key, value in merged.items()}
        for key, values in axes.items():
            if not values:
                raise ValueError(f"{where}: the axis {key!r} is empty ({key}: []): the entry would have no points")
            if key in OPTION_KEYS:
                _check_options(values, f"{where}, {key}")
        for bundle in BUNDLES:
            for value in axes.get(bundle, []):
                if not isinstance(value, dict):
                    raise ValueError(f"{where}: each of {bundle} must be a mapping of parameters, got {short_repr(value)}")
                _check_keys(value, f"{where}, {bundle}", allowed=PARAMETERS)
                for key in OPTION_KEYS:
                    if key in value:
                        _check_options([value[key]], f"{where}, {bundle}, {key}")
        entries.append(axes)
    counts = [math.prod(len(values) for values in axes.values()) for axes in entries]
    if sum(counts) > MAX_POINTS:
        biggest = max(range(len(entries)), key=counts.__getitem__)
        shape = " x ".join(f"{len(v)} {k}" for k, v in entries[biggest].items() if len(v) > 1)
        raise ValueError(f"grid {path}: {sum(counts):,} points (entry {biggest}: {shape}); at most {MAX_POINTS:,} "
                         "in one grid, even with --yes: split it")
    return entries


def _check_options(values: list, where: str) -> None:
    """Options written as text must be a YAML mapping (``"{codec: zstd}"``); said here, in one
    line, rather than by the failing run with YAML's multi-line pointer."""
    for value in values:
        if not isinstance(value, str):
            continue
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise ValueError(f"{where}: {value!r} is not a YAML mapping ({problem}); write it as a mapping, "
                             "e.g. {codec: zstd}") from None
        if parsed is not None and not isinstance(parsed, dict):
            raise ValueError(f"{where}: {value!r} is not a mapping of option names to values")



def _point_key(point: dict) -> str:
    """What makes two points the same run: their run name (so a setting spelt out at its default,
    ``queue_steps: 0``, is the point that leaves it out), or for an invalid point its text."""
    try:
        return run_name(point)
    except Exception:  # noqa: BLE001 - an invalid point is kept, and fails, or is skipped, when run
        return json.dumps(point, sort_keys=True, default=str)


def _check_keys(mapping: dict, where: str, *, allowed) -> None:
    unknown = sorted(set(mapping) - set(allowed), key=str)
    if unknown:
        raise ValueError(f"{where}: unknown parameter {unknown[0]!r}; valid: {', '.join(allowed)}")


def _resolve_root(point: dict) -> dict:
    """An absolute root: the notebook runs inside notebooks/, where a relative path means another place."""
    root = point.get("root")
    if isinstance(root, str):
        point = {**point, "root": str(Path(os.path.expandvars(root)).expanduser().absolute())}
    return point


def resolve_point(point: dict) -> RunSpec:
    """The point's run, resolved once however often a sweep asks (to tell points apart, to name,
    skip and run one); ValueError naming a bad setting."""
    return _resolve_point_text(json.dumps(point, sort_keys=True, default=str))


@functools.lru_cache(maxsize=4096)
def _resolve_point_text(text: str) -> RunSpec:
    return BenchConfig.from_mapping(json.loads(text)).resolve()


def forget_resolved_points() -> None:
    """Resolve points afresh (their data may have changed since an earlier sweep in this process)."""
    _resolve_point_text.cache_clear()


def run_name(point: dict) -> str:
    return resolve_point(point).run_name
