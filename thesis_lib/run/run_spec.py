"""One resolved run: :class:`RunSpec`, a :class:`~thesis_lib.run.config.BenchConfig` checked, its
format and access mode looked up, its options parsed to their declared types, and its identity,
config id and record name computed, all once, in :meth:`RunSpec.resolve`; frozen after that.

Every layer reads the spec and none resolves again: ``bench.run`` converts and opens with its
resolved options, the sweep skips and names a point by it, and a notebook started by the sweep
rebuilds it from the point and checks that it names the same run (``expect_id``).

What the machine offers (a CUDA GPU, the data on disk) is not part of a run's definition: a
sweep skips a point this machine cannot run, where a bad setting is an error. So it is checked
apart, by :meth:`RunSpec.check_runnable`, just before a run starts.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core import paths
from ..core.checks import check_measured_epochs, check_number, checked_int
from ..core.record import json_default
from ..formats.base import Format
from ..formats.options import ResolvedOptions
from .config import ADDED_LATER, LOCATION, NOT_MEASURED, BenchConfig, choices
from .storage import S3Settings, resolve_storage

#: At most this many characters of the data's file name go into a run's name (a file name has 255).
ROOT_HINT_CHARS = 40


@dataclass(frozen=True)
class RunSpec:
    """A run, resolved. Its settings read through to :attr:`config` (``spec.limit``, ``spec.fmt``)."""

    config: BenchConfig
    format: Format
    write_options: ResolvedOptions
    open_options: ResolvedOptions
    #: The S3 settings of a run with storage 's3' (None: read from local disk).
    s3: S3Settings | None
    #: Where the data lies, absolute (None: the dataset's default place, or generated data).
    root_path: Path | None
    #: Every setting that changes the measurement, canonical (see :func:`identity_of`).
    identity: dict
    config_id: str
    run_name: str

    @classmethod
    def resolve(cls, config: BenchConfig, *, expect_id: str | None = None) -> "RunSpec":
        """The run ``config`` defines; ValueError naming the first bad setting. ``expect_id``: the
        config id a caller resolved before (a sweep, for its notebook): a different one is refused."""
        fmt = check_settings(config)
        write_options = fmt.resolve_options(config.write_options)
        open_options = fmt.resolve_open_options(config.open_options)
        s3 = resolve_storage(config.storage, config.storage_options, fmt.name, open_options)
        if s3 is not None:
            check_s3_run(config)
        identity = identity_of(config, write_options, open_options, s3)
        config_id = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
        if expect_id is not None and expect_id != config_id:
            raise ValueError(f"config_id: this run resolves to {config_id}, not the {expect_id} it was started as "
                             "(the code or the data changed in between); start it again")
        root = Path(config.root).expanduser().absolute() if config.root is not None else None
        return cls(config, fmt, write_options, open_options, s3, root, identity, config_id,
                   run_name(config, config_id))

    @classmethod
    def from_parameters(cls, namespace: dict) -> "RunSpec":
        """The spec of a notebook's parameters (its globals): the fields, and ``config_id`` when a
        sweep resolved the point first."""
        return cls.resolve(BenchConfig.from_namespace(namespace), expect_id=namespace.get("config_id"))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "config":  # never during unpickling or copying
            raise AttributeError(name)
        return getattr(self.config, name)

    @property
    def needs_cuda(self) -> bool:
        """Whether the run needs a CUDA GPU: on device cuda, or reading into GPU memory."""
        return self.config.device == "cuda" or self.format.needs_cuda(self.open_options)

    def check_runnable(self) -> "RunSpec":
        """ValueError when it cannot run here: its data's root is missing, it trains on CUDA that
        torch does not see, or it reads into GPU memory but trains elsewhere. (A sweep skips a
        point that needs CUDA on a machine without it, so the last is then a skip, not an error.)"""
        import torch

        if self.root_path is not None and not self.root_path.exists():
            raise ValueError(f"root={self.config.root!r}: no such file or folder ({self.root_path})")
        if self.config.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' but torch sees no CUDA GPU")
        if self.format.needs_cuda(self.open_options) and self.config.device != "cuda":
            given = "".join(f", {k}={self.open_options[k]!r}" for k in sorted(self.config.open_options))
            raise ValueError(f"fmt={self.config.fmt!r}{given} loads into GPU memory: it needs device='cuda'")
        return self

    def record_path(self, results_dir=None) -> Path:
        """Where its record goes: ``<run_name>.json`` in :func:`thesis_lib.core.paths.results_dir`."""
        return paths.results_dir(results_dir) / f"{self.run_name}.json"


def check_settings(config: BenchConfig) -> Format:
    """ValueError naming the first bad setting of ``config``, listing the valid values where there
    are few; returns its format."""
    from .. import formats
    from ..training import models

    for name, valid in choices().items():
        if getattr(config, name) not in valid:
            raise ValueError(f"{name}={getattr(config, name)!r} is not valid; choose one of: {', '.join(valid)}")
    for name in ("epochs", "batch_size", "repeats"):
        checked_int(getattr(config, name), name, 1)
    checked_int(config.workers, "workers", 0)
    check_measured_epochs(config.epochs, config.warmup_epochs)
    checked_int(config.queue_steps, "queue_steps", 0)
    checked_int(config.seed, "seed", 0, maximum=2**32 - 1)
    for name in ("image_size", "limit", "eval_limit"):
        if getattr(config, name) is not None:
            checked_int(getattr(config, name), name, 1)
    for name in ("download", "distributed"):
        if not isinstance(getattr(config, name), bool):
            raise ValueError(f"{name} must be true or false, got {getattr(config, name)!r}")
    if config.emulate_rate is not None:
        check_number("emulate_rate", config.emulate_rate, minimum=0, what="img/s")
    if config.lr is not None:
        check_number("lr", config.lr, minimum=0, what="the learning rate", strict=True)
    if config.model != "emulate" and config.emulate_rate is not None:
        raise ValueError("emulate_rate applies only with model='emulate'")
    if config.model != "emulate" and config.image_size is not None:  # before a conversion, not after it
        models.check_image_size(config.model, config.image_size)
    return formats.get(config.fmt)


def check_s3_run(config: BenchConfig) -> None:
    """ValueError for the settings a run over S3 cannot honour."""
    if config.cache == "cold":
        raise ValueError("cache='cold' evicts the dataset's local files from the page cache; with storage='s3' "
                         "the reads go to the server, so use cache='warm'")


def identity_of(config: BenchConfig, write_options: dict, open_options: dict, s3: S3Settings | None = None) -> dict:
    """Every field that changes the measurement, canonical: options resolved, and the data by
    what it holds (:func:`thesis_lib.sources.identity.data_identity`), not by where it lies, so the
    same experiment has one identity in any folder and on any machine."""
    from ..sources.identity import data_identity

    values = {k: v for k, v in dataclasses.asdict(config).items()
              if k not in NOT_MEASURED and k != LOCATION and not (k in ADDED_LATER and v == ADDED_LATER[k])}
    if not config.workers:  # no workers: what they would be changes nothing
        values.pop("worker_kind", None)
    values["data"] = data_identity(config.dataset, config.root)
    values["write_options"], values["open_options"] = dict(write_options), dict(open_options)
    if s3 is not None:  # the options resolved, their defaults filled in; the endpoint is a place, like root
        values["storage_options"] = s3.measured()
    return json.loads(json.dumps(values, default=json_default))


def run_name(config: BenchConfig, config_id: str) -> str:
    """``<dataset>-<size>-n<limit>-<fmt>[-s3]-<access>-<model>-<cache>-w<workers>[thread|ring]-b<batch>[-q<queue_steps>]-s<seed>-<id>``
    (``-s3`` only for a run over S3, ``-q`` only for an asynchronous run and the worker kind only for thread or ring workers, so
    the names of the runs made before either stay as they were)."""
    data = config.dataset
    if config.root is not None:  # a readable hint only, never a path: the id tells the data apart
        data += "-" + re.sub(r"[^A-Za-z0-9_-]+", "_", Path(config.root).name.split(".")[0])[:ROOT_HINT_CHARS]
    size = config.image_size or "native"
    model = config.model
    if model == "emulate":
        model += "H100" if config.emulate_rate is None else f"{config.emulate_rate:g}"
    queue = f"-q{config.queue_steps}" if config.queue_steps else ""
    kind = config.worker_kind if config.worker_kind != "process" and config.workers else ""
    storage = "-s3" if config.storage == "s3" else ""
    return (f"{data}-{size}-n{config.limit or 'all'}-{config.fmt}{storage}-{config.access}-{model}-{config.cache}"
            f"-w{config.workers}{kind}-b{config.batch_size}{queue}-s{config.seed}-{config_id}")
