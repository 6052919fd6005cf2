"""One definition of a benchmark run: :class:`BenchConfig`.

Every field can be set from a grid (``sweep``), from ``bench.ipynb``'s parameter cell and from
the ``bench`` command line; the CLI flags and the notebook's defaults are derived from the fields
here, so the three cannot drift apart. A run's record name is readable and ends in a short hash of
every field that changes the measurement (:attr:`BenchConfig.config_id`), so two different runs
never share a record.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import numpy as np
import yaml

from .checks import check_measured_epochs, checked_int
from .record import json_default

CACHE_STATES = ("warm", "cold")
DEVICES = ("cpu", "cuda")
#: Fields that change how a run is started, never what it measures.
NOT_MEASURED = ("download",)
#: Where the data lies on this machine: a record keeps it; its identity holds the data's content instead.
LOCATION = "root"
#: Fields added after records existed, with the value every earlier run had: left out of
#: :meth:`BenchConfig.identity` at that value, so a field's arrival alone changes no id. (The
#: measurement protocol of docs/design.md changed every id once, deliberately: records made before
#: it charged start-up to every epoch and named the data by its path.)
ADDED_LATER = {"queue_steps": 0}
#: The notebook's own defaults where they differ from the dataclass (a quick interactive run).
NOTEBOOK_DEFAULTS = {"limit": 10_000}


def _param(default, help: str, **metadata):
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"help": help, **metadata})
    return field(default=default, metadata={"help": help, **metadata})


@dataclass
class BenchConfig:
    dataset: str = _param("synthetic", "synthetic | cifar10 | tiny-imagenet | imagefolder | hires")
    root: str | None = _param(None, "where the dataset lies (folder or archive); None: data/<dataset>")
    download: bool = _param(False, "fetch the dataset when it is missing (checksum verified)")
    image_size: int | None = _param(None, "resize every image to S x S px; None: the dataset's own size")
    limit: int | None = _param(None, "first N training images (class-balanced); None: all")
    fmt: str = _param("npy", "files | npy | cupy | hdf5 | zarr")
    write_options: dict = _param({}, "format options that change the bytes on disk (they key the converted "
                                     "copy), e.g. chunk_images: 1024, codec: zstd", flag="write-option")
    open_options: dict = _param({}, "read-time options (read path, decoder, cache sizes, concurrency); "
                                    "never re-convert, e.g. read_path: chunks", flag="open-option")
    access: str = _param("batch", "sample | batch | block | resident")
    model: str = _param("convnet", "convnet | resnet18 | densenet | googlenet | emulate")
    epochs: int = _param(2, "epochs per repeat, the warm-up included")
    warmup_epochs: int = _param(1, "the first epochs of a repeat that are start-up (workers starting, the pipeline and "
                                   "the page cache filling): recorded apart, left out of the steady-state figures")
    batch_size: int = _param(512, "images per batch")
    workers: int = _param(0, "DataLoader worker processes")
    device: str = _param("cpu", "cpu | cuda")
    queue_steps: int = _param(0, "steps the host may run ahead of the accelerator (real or emulated); "
                                 "0: synchronise after every step")
    cache: str = _param("warm", "warm | cold (evict the dataset's files from the page cache before each epoch)")
    emulate_rate: float | None = _param(None, "img/s of the emulated accelerator (model emulate); None: what "
                                              "one H100 consumes at this image size; 0: loader only")
    repeats: int = _param(1, "independent repeats (fresh model and loader each)")
    seed: int = _param(0, "random seed (model init, sample order)")
    lr: float | None = _param(None, "learning rate; None: the model's default")
    eval_limit: int | None = _param(10_000, "held-out images to evaluate on; None: all")
    distributed: bool = _param(False, "run under torchrun, one shard per rank")

    def __post_init__(self):
        for name in ("write_options", "open_options"):
            setattr(self, name, _mapping(name, getattr(self, name)))

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

    # -- checking ---------------------------------------------------------------------------
    def validate(self) -> "BenchConfig":
        """Raise ValueError naming the first bad parameter, listing valid values where there are few."""
        import torch

        from . import formats, loading, models, sources

        choices = {"fmt": formats.names(), "dataset": sources.names(), "access": list(loading.MODES),
                   "model": models.names() + ["emulate"], "cache": list(CACHE_STATES), "device": list(DEVICES)}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"{name}={getattr(self, name)!r} is not valid; choose one of: {', '.join(valid)}")
        for name in ("epochs", "batch_size", "repeats"):
            checked_int(getattr(self, name), name, 1)
        checked_int(self.workers, "workers", 0)
        check_measured_epochs(self.epochs, self.warmup_epochs)
        checked_int(self.queue_steps, "queue_steps", 0)
        checked_int(self.seed, "seed", 0, maximum=2**32 - 1)
        for name in ("image_size", "limit", "eval_limit"):
            if getattr(self, name) is not None:
                checked_int(getattr(self, name), name, 1)
        for name in ("download", "distributed"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.emulate_rate is not None:
            check_number("emulate_rate", self.emulate_rate, minimum=0, what="img/s")
        if self.lr is not None:
            check_number("lr", self.lr, minimum=0, what="the learning rate", strict=True)
        if self.model != "emulate" and self.emulate_rate is not None:
            raise ValueError("emulate_rate applies only with model='emulate'")
        if self.root is not None and not Path(self.root).expanduser().exists():
            raise ValueError(f"root={self.root!r}: no such file or folder ({Path(self.root).expanduser().absolute()})")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' but torch sees no CUDA GPU")
        _, open_options = self.resolved_options()
        if formats.get(self.fmt).needs_cuda(open_options) and self.device != "cuda":
            given = "".join(f", {k}={open_options[k]!r}" for k in sorted(self.open_options))
            raise ValueError(f"fmt={self.fmt!r}{given} loads into GPU memory: it needs device='cuda'")
        return self

    def needs_cuda(self) -> bool:
        """Whether the run needs a CUDA GPU: on device cuda, or reading a format (with its open
        options) that loads into GPU memory."""
        from . import formats

        return self.device == "cuda" or formats.get(self.fmt).needs_cuda(self.resolved_options()[1])

    def resolved_options(self) -> tuple[dict, dict]:
        """``(write_options, open_options)`` with the format's defaults filled in (ValueError on bad ones)."""
        from . import formats

        fmt = formats.get(self.fmt)
        return fmt.resolve_options(self.write_options), fmt.resolve_open_options(self.open_options)

    # -- identity ---------------------------------------------------------------------------
    def identity(self) -> dict:
        """Every field that changes the measurement, canonical: options resolved, and the data by
        what it holds (:func:`thesis_lib.sources.identity.content_id`), not by where it lies, so
        the same experiment has one identity in any folder and on any machine."""
        from .sources.identity import data_identity

        values = {k: v for k, v in dataclasses.asdict(self).items()
                  if k not in NOT_MEASURED and k != LOCATION and not (k in ADDED_LATER and v == ADDED_LATER[k])}
        values["data"] = data_identity(self.dataset, self.root)
        values["write_options"], values["open_options"] = self.resolved_options()
        return json.loads(json.dumps(values, default=json_default))

    @property
    def config_id(self) -> str:
        """Eight hex digits of a hash of :meth:`identity`."""
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:8]

    @property
    def run_name(self) -> str:
        """``<dataset>-<size>-n<limit>-<fmt>-<access>-<model>-<cache>-w<workers>-b<batch>[-q<queue_steps>]-s<seed>-<config_id>``
        (``-q`` only for an asynchronous run, so the names of synchronous runs stay as they were)."""
        data = self.dataset
        if self.root is not None:
            data += "-" + Path(self.root).name.split(".")[0]
        size = self.image_size or "native"
        model = self.model
        if model == "emulate":
            model += "H100" if self.emulate_rate is None else f"{self.emulate_rate:g}"
        queue = f"-q{self.queue_steps}" if self.queue_steps else ""
        return (f"{data}-{size}-n{self.limit or 'all'}-{self.fmt}-{self.access}-{model}-{self.cache}"
                f"-w{self.workers}-b{self.batch_size}{queue}-s{self.seed}-{self.config_id}")


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


def check_number(name: str, value, *, minimum: float, what: str, strict: bool = False) -> None:
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
          and math.isfinite(value) and (value > minimum if strict else value >= minimum))
    if not ok:
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {relation} {minimum} ({what}), got {value!r}")


# -- what the CLI and the notebook derive from the fields ------------------------------------------
def field_types() -> dict[str, Any]:
    return get_type_hints(BenchConfig)


def add_arguments(parser) -> None:
    """One flag per field of :class:`BenchConfig` (``--batch-size``, ``--write-option KEY=VALUE``, ...)."""
    import argparse

    types = field_types()
    for f in dataclasses.fields(BenchConfig):
        kind, help = types[f.name], f.metadata["help"]
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
    """``["k=v", ...]`` from the command line as a dict (values parsed later by the format)."""
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
    """The defaults ``bench.ipynb``'s parameter cell must hold: every field, plus ``results_dir``."""
    defaults = {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
                for f in dataclasses.fields(BenchConfig)}
    return {**defaults, **NOTEBOOK_DEFAULTS, "results_dir": None}
