"""One definition of a benchmark run: :class:`BenchConfig`, the settings as a person gives them.

Every field can be set from a grid (``sweep``), from ``bench.ipynb``'s parameter cell and from
the ``bench`` command line; the CLI flags and the notebook's defaults are derived from the fields
here, so the three cannot drift apart. :meth:`BenchConfig.resolve` checks them once and returns the
frozen :class:`~thesis_lib.run.run_spec.RunSpec` that every layer reads: its record name is readable
and ends in a short hash of every field that changes the measurement, so two different runs never
share a record.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from ..core.registry import one_of

CACHE_STATES = ("warm", "cold")
DEVICES = ("cpu", "cuda")
#: Fields that change how a run is started, never what it measures.
NOT_MEASURED = ("download",)
#: Where the data lies on this machine: a record keeps it; its identity holds the data's content instead.
LOCATION = "root"
#: Fields added after records existed, with the value every earlier run had: left out of
#: a run's identity at that value, so a field's arrival alone changes no id. (The
#: measurement protocol of docs/design.md changed every id once, deliberately: records made before
#: it charged start-up to every epoch and named the data by its path.)
ADDED_LATER = {"queue_steps": 0, "worker_kind": "process", "storage": "local", "storage_options": {}}
#: The notebook's own defaults where they differ from the dataclass (a quick interactive run).
NOTEBOOK_DEFAULTS = {"limit": 10_000}


def _param(default, help: str, **metadata):
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"help": help, **metadata})
    return field(default=default, metadata={"help": help, **metadata})


@dataclass(frozen=True)
class BenchConfig:
    dataset: str = _param("synthetic", "the image source")
    root: str | None = _param(None, "where the dataset lies (folder or archive); None: data/<dataset>")
    download: bool = _param(False, "fetch the dataset when it is missing (checksum verified)")
    image_size: int | None = _param(None, "resize every image to S x S px; None: the dataset's own size")
    limit: int | None = _param(None, "first N training images (class-balanced); None: all")
    fmt: str = _param("npy", "the storage format")
    write_options: dict = _param({}, "format options that change the bytes on disk (they key the converted "
                                     "copy), e.g. chunk_images: 1024, codec: zstd", flag="write-option")
    open_options: dict = _param({}, "read-time options (read path, decoder, cache sizes, concurrency); "
                                    "never re-convert, e.g. read_path: chunks", flag="open-option")
    storage: str = _param("local", "where the converted copy is read from: local (disk) or s3 (uploaded to an S3 "
                                   "bucket and read over HTTP)")
    storage_options: dict = _param({}, "storage s3: endpoint (none: a private server for the run), latency_ms and "
                                       "bandwidth_mbps (a link proxy; 0: none), concurrency (requests in flight), "
                                       "e.g. latency_ms: 2", flag="storage-option")
    access: str = _param("batch", "the access mode")
    model: str = _param("convnet", "the network, or emulate (a fixed compute time per batch)")
    epochs: int = _param(2, "epochs per repeat, the warm-up included")
    warmup_epochs: int = _param(1, "the first epochs of a repeat that are start-up (workers starting, the pipeline and "
                                   "the page cache filling): recorded apart, left out of the steady-state figures")
    batch_size: int = _param(512, "images per batch")
    workers: int = _param(0, "DataLoader workers")
    worker_kind: str = _param("process", "what the workers are: process (torch DataLoader), thread (threads of the "
                                         "training process; for readers that release the GIL) or ring (processes "
                                         "writing batches into a shared-memory ring)")
    device: str = _param("cpu", "where the model trains")
    queue_steps: int = _param(0, "steps the host may run ahead of the accelerator (real or emulated); "
                                 "0: synchronise after every step")
    cache: str = _param("warm", "cold: evict the dataset's files from the page cache before each epoch")
    emulate_rate: float | None = _param(None, "img/s of the emulated accelerator (model emulate); None: what "
                                              "one H100 consumes at this image size; 0: loader only")
    repeats: int = _param(1, "independent repeats (fresh model and loader each)")
    seed: int = _param(0, "random seed (model init, sample order)")
    lr: float | None = _param(None, "learning rate; None: the model's default")
    eval_limit: int | None = _param(10_000, "held-out images to evaluate on; None: all")
    distributed: bool = _param(False, "run under torchrun, one shard per rank")

    def __post_init__(self):
        for name in ("write_options", "open_options", "storage_options"):
            object.__setattr__(self, name, _mapping(name, getattr(self, name)))

    # -- building one -----------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_mapping(cls, values: dict) -> "BenchConfig":
        """A config from a mapping (a grid point, parsed YAML); unknown keys are refused, naming the valid ones."""
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}; valid: {', '.join(cls.field_names())}")
        return cls(**values)

    @classmethod
    def from_namespace(cls, namespace: dict) -> "BenchConfig":
        """A config from the variables of a namespace that are fields (a notebook's globals)."""
        return cls(**{name: namespace[name] for name in cls.field_names() if name in namespace})

    def resolve(self, *, expect_id: str | None = None):
        """The run this defines, checked and resolved once: a frozen :class:`~thesis_lib.run.run_spec.RunSpec`."""
        from .run_spec import RunSpec

        return RunSpec.resolve(self, expect_id=expect_id)


def choices() -> dict[str, list[str]]:
    """The settings that name one of a few values, and those values, from the registries."""
    from .. import formats, loading, sources
    from ..training import models
    from .storage import STORAGES

    return {"fmt": formats.names(), "dataset": sources.names(), "access": list(loading.MODES),
            "model": models.names() + ["emulate"], "cache": list(CACHE_STATES), "device": list(DEVICES),
            "worker_kind": list(loading.WORKER_KINDS), "storage": list(STORAGES)}


def _mapping(name: str, value) -> dict:
    """A dict option given as a dict, as JSON/YAML text (``papermill -p``, the CLI), or None."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value) if value.strip() else {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{name}: not a JSON or YAML mapping: {value!r} ({exc})") from None
        value = {} if value is None else value
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{name} must be a mapping of option names to values, got {value!r}")
    return dict(value)


# -- what the CLI and the notebook derive from the fields ------------------------------------------
def field_types() -> dict[str, Any]:
    return get_type_hints(BenchConfig)


def add_arguments(parser) -> None:
    """One flag per field of :class:`BenchConfig` (``--batch-size``, ``--write-option KEY=VALUE``, ...)."""
    import argparse

    types, named = field_types(), choices()
    for f in dataclasses.fields(BenchConfig):
        kind, help = types[f.name], f.metadata["help"]
        if f.name in named:
            help += ": " + one_of(named[f.name])
        flag = "--" + f.metadata.get("flag", f.name.replace("_", "-"))
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default,
                                help=help)
        elif kind is dict:
            parser.add_argument(flag, dest=f.name, action="append", metavar="KEY=VALUE", default=None,
                                help=f"{help} (repeatable)")
        else:
            parser.add_argument(flag, dest=f.name, type=_parser_for(kind), default=f.default,
                                metavar=f.name.upper(), help=f"{help} (default: {f.default})")


def config_from_args(args) -> BenchConfig:
    values = {}
    for name in BenchConfig.field_names():
        value = getattr(args, name)
        values[name] = key_values(value, name) if field_types()[name] is dict else value
    return BenchConfig(**values)


def key_values(pairs: list[str] | None, name: str = "option") -> dict:
    """``["k=v", ...]`` from the command line as a dict of text: the format's declared options
    (:mod:`thesis_lib.formats.options`) give each value its type, as they do for YAML's."""
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{name} {pair!r}: expected KEY=VALUE")
        options[key] = value
    return options


def _parser_for(kind):
    base = next((t for t in (int, float, str) if kind in (t, t | None)), str)
    optional = kind is not base

    def parse(text: str):
        if optional and text.lower() in ("none", "null"):
            return None
        return base(text)

    parse.__name__ = base.__name__  # argparse names the type in its error messages
    return parse


def notebook_parameters() -> dict:
    """The defaults ``bench.ipynb``'s parameter cell must hold: every field, plus ``results_dir``
    and ``config_id`` (the id a sweep resolved the point to, checked again in the kernel)."""
    defaults = {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
                for f in dataclasses.fields(BenchConfig)}
    return {**defaults, **NOTEBOOK_DEFAULTS, "results_dir": None, "config_id": None}
