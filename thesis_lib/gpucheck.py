"""The GPU half of the thesis in one prepared check: ``python -m thesis_lib gpucheck``.

A GPU machine is at hand only now and then, for minutes, and bare, so the check makes its own
data and runs four steps in a few minutes on one H100 or H200; each prints its rows of one table
as it ends, and the table goes to JSON with the device every figure was measured on:

1. **CuPy format**: synthetic CIFAR-size data (50,000 images) opened ``resident`` on the device,
   its bytes checked against the npy copy; the random-batch gather rate, KvikIO's read rate, and
   the fallback without KvikIO (NumPy's ``fromfile`` then ``cupy.asarray``). Each part stands on
   its own: one failing (cuFile, say) leaves its rows not measured, with the error, and the others run.
2. **Every format under real GPU training**: ResNet-18 at 32 px, bf16 autocast, channels_last,
   batch 512, 2 epochs on 20,000 images, files, npy, hdf5, zarr and cupy each in its best mode,
   synchronous and asynchronous (``queue_steps``, see :mod:`.training`); then the emulated
   accelerator at the rate this GPU computed, in both modes, and the two AUs side by side (the
   emulation must come within 10 points of the real AU: it is what the CPU-side results rest on).
3. **GPU decode for files**: nvJPEG on batches of 512 (``decoder=nvjpeg``) against the CPU decoders.
4. **Host to device**: pinned versus pageable copies of a uint8 batch and of a large buffer.

Measuring and reporting are apart: the ``step_*`` functions measure and hand each row on; :func:`judge`,
:func:`au_comparison`, :func:`format_table` and :func:`document` only compute and are tested on
fake timings. A target is ``met`` only when a GPU measured it; a CPU dry run (``--dry-run``: the
CPU-capable parts at tiny sizes, to exercise the check end to end) leaves every target ``not
measured``. Without CUDA and without ``--dry-run`` the command says so in one line and exits 0.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import math
import os
import platform
import shutil
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import cache, formats, loading, models, paths, sources, training
from .formats import cupy_format
from .machine import cpu_model
from .record import write_json
from .stats import H100_DEMAND

BATCH = 512
GB = 1e9
TOLERANCE_POINTS = 10.0
#: Steps the host may run ahead in the asynchronous mode, real and emulated alike.
ASYNC_QUEUE_STEPS = 2

#: What the issue asks, as (comparison, threshold) of a row's value.
GATHER_TARGET = (">=", 1_000_000.0)
KVIKIO_TARGET = (">=", 4.0)
AU_TARGET = ("<=", TOLERANCE_POINTS)
#: Figures measured elsewhere (docs/design.md's H100 host), shown beside ours; never targets.
ANCHORS = {"kvikio": 4.6, "fromfile": 0.55, "resnet18": H100_DEMAND[32], "nvjpeg": 25_500.0,
           "pinned": 55.0, "pageable": 11.3}
#: What the AU figures mean in each mode; the thesis must say which one it reports.
AU_MEANING = {
    "sync": "queue_steps=0: the host waits for every step (CUDA synchronised after each; the emulator "
            "sleeps in the main thread), so with 0 workers no batch is read while the device computes; "
            "AU = compute / wall with compute timed on the host around each synchronised step",
    "async": f"queue_steps={ASYNC_QUEUE_STEPS}: the host runs up to {ASYNC_QUEUE_STEPS} steps ahead of the "
             "device, as a training loop without a per-step .item() does; AU = the device's busy time "
             "(CUDA events, or the emulator's batch / rate) / wall",
}


@dataclass(frozen=True)
class Sizes:
    """How much each step does."""
    cupy_images: int = 50_000
    train_images: int = 20_000
    epochs: int = 2
    batch: int = BATCH
    jpeg_images: int = 10_240
    model: str = "resnet18"
    gather_rounds: int = 5
    copy_repeats: int = 50


FULL = Sizes()
QUICK = Sizes(cupy_images=10_000, train_images=5_120, jpeg_images=2_048, gather_rounds=3, copy_repeats=20)
#: The CPU dry run: tiny, and the small CNN (ResNet-18 trains at some 30 img/s on two cores).
DRY = Sizes(cupy_images=0, train_images=512, epochs=2, batch=128, jpeg_images=256, model="convnet")

#: Each format in its best mode: (format, write options, open options, access mode, workers), workers
#: None meaning "the host's cores less two, at most 8" (image files need decoding cores).
TRAINING_RUNS = [
    ("files", {}, {}, "batch", None),
    ("npy", {}, {}, "batch", 0),
    ("hdf5", {}, {}, "block", 0),
    ("zarr", {}, {}, "block", 0),
    ("cupy", {}, {"resident": True, "use_kvikio": False}, "batch", 0),  # KvikIO: step 1's rows of its own
]


# -- reporting: pure functions, tested on fake timings ------------------------------------------------
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


def by_format_and_mode(runs: list[dict]) -> dict[tuple[str, str], dict[str, dict]]:
    """``{(fmt, mode): {kind: run}}``, in the order the runs came."""
    grouped: dict[tuple[str, str], dict[str, dict]] = {}
    for run in runs:
        grouped.setdefault((run["fmt"], run["mode"]), {})[run["kind"]] = run
    return grouped


def au_comparison(runs: list[dict], tolerance_points: float = TOLERANCE_POINTS) -> list[dict]:
    """The emulated and the real AU of each (format, mode) side by side.

    ``runs``: one dict per training run with ``fmt``, ``mode`` (sync/async), ``kind``
    (real/emulated), ``au`` and ``device``. Returns one dict per (format, mode) with both AUs,
    their difference in points (100 x |emulated - real|) and whether it is within
    ``tolerance_points`` (None when either side is missing).
    """
    out = []
    for (fmt, mode), kinds in by_format_and_mode(runs).items():
        real, emulated = kinds.get("real", {}).get("au"), kinds.get("emulated", {}).get("au")
        diff = None if real is None or emulated is None else 100 * abs(emulated - real)
        out.append({"fmt": fmt, "mode": mode, "real_au": real, "emulated_au": emulated, "diff_points": diff,
                    "within": None if diff is None else diff <= tolerance_points,
                    "device": kinds.get("real", {}).get("device")})
    return out


def au_rows(comparison: list[dict], on_gpu: bool) -> list[dict]:
    rows = []
    for c in comparison:
        note = (f"real {c['real_au']:.3f}, emulated {c['emulated_au']:.3f}" if c["diff_points"] is not None
                else "a side is missing")
        rows.append(make_row("2", f"AU emulated vs real: {c['fmt']}, {c['mode']}", c["diff_points"], "points",
                             c["device"], target=AU_TARGET, note=note, on_gpu=on_gpu))
    return rows


def side_by_side(runs: list[dict]) -> str:
    """Step 2 as one table: per format and mode, the real run beside the emulated one."""
    runs_by_key = by_format_and_mode(runs)
    lines = [f"{'format':<7} {'mode':<6} {'real s/epoch':>12} {'real img/s':>11} {'real AU':>8} "
             f"{'emul s/epoch':>12} {'emul img/s':>11} {'emul AU':>8} {'|diff| pts':>10}"]
    for c in au_comparison(runs):
        cells = []
        for kind in ("real", "emulated"):
            run = runs_by_key[c["fmt"], c["mode"]].get(kind, {})
            cells += [f"{format_value(run.get('epoch_s'), 's'):>12}",
                      f"{format_value(run.get('samples_per_s'), 'img/s'):>11}", f"{format_value(run.get('au')):>8}"]
        lines.append(f"{c['fmt']:<7} {c['mode']:<6} {' '.join(cells)} {format_value(c['diff_points'], 'points'):>10}")
    return "\n".join(lines)


def compute_rate(runs: list[dict]) -> float | None:
    """Images/s the device computes: the median over the real synchronous runs of samples / compute_s
    of their last epoch (the model and batch are the same whatever the format)."""
    rates = [r["samples"] / r["compute_s"] for r in runs
             if r["kind"] == "real" and r["mode"] == "sync" and r.get("compute_s")]
    return statistics.median(rates) if rates else None


def summary(rows: list[dict]) -> str:
    counts = {status: sum(r["status"] == status for r in rows) for status in ("met", "missed", "not measured")}
    return ", ".join(f"{n} {status}" for status, n in counts.items()) + f" of {len(rows)} rows"


def document(rows: list[dict], *, runs: list[dict], comparison: list[dict], device: dict, sizes: Sizes,
             dry_run: bool, versions: dict, seconds: float) -> dict:
    """The JSON document: every row with its device, the runs behind step 2, the AU comparison,
    what AU means in each mode, the device, the host and the package versions."""
    return {
        "check": "gpucheck",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "dry_run": dry_run,
        "measured_on": "CPU dry run: no figure stands for a GPU" if dry_run else device.get("name"),
        "device": device,
        "host": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
        "versions": versions,
        "sizes": asdict(sizes),
        "seconds": seconds,
        "summary": summary(rows),
        "table": format_table(rows),
        "rows": rows,
        "training_runs": runs,
        "au_comparison": comparison,
        "side_by_side": side_by_side(runs),
        "au_meaning": AU_MEANING,
    }


# -- the environment ---------------------------------------------------------------------------------
def versions() -> dict:
    """Versions of what the check relies on; None where a package is missing or does not import."""
    out = {"python": platform.python_version(), "torch": torch.__version__,
           "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    for module in ("torchvision", "numpy", "cupy", "kvikio", "h5py", "zarr", "numcodecs", "tensorstore"):
        try:
            mod = importlib.import_module(module)
        except Exception:  # noqa: BLE001 - missing, or present but broken (a CUDA library not found)
            out[module] = None
            continue
        out[module] = getattr(mod, "__version__", None) or _dist_version(module)
    return out


def _dist_version(module: str) -> str | None:
    from importlib import metadata
    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return "installed"


def device_info(on_gpu: bool) -> dict:
    if not on_gpu:
        return {"kind": "cpu", "name": "cpu", "cpu": cpu_model(), "cores": os.cpu_count()}
    props = torch.cuda.get_device_properties(0)
    return {"kind": "cuda", "name": props.name, "capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1), "multiprocessors": props.multi_processor_count}


# -- measuring ---------------------------------------------------------------------------------------
def timed(fn: Callable[[], object], sync: Callable[[], None] = lambda: None) -> float:
    """Seconds ``fn()`` takes, ``sync()`` after it included (to wait for queued device work)."""
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def cuda_sync() -> None:
    torch.cuda.synchronize()


@functools.lru_cache(maxsize=2)
def synthetic(n: int) -> sources.ArraySource:
    """``n`` generated CIFAR-size images (32 px, 10 classes), made once for every format."""
    source = sources.load("synthetic", n=n)
    images = source.read_range(0, n)
    return sources.ArraySource(images, source.labels[:n], classes=source.classes, class_names=source.class_names,
                               name=source.name, spec=source.spec)


def write_synthetic(fmt: str, n: int, path: Path, **options) -> None:
    formats.get(fmt).write(synthetic(n), path, progress=False, **options)


WHAT_EQUAL, WHAT_GATHER = "resident bytes equal the npy copy", "resident random-batch gather"
KVIKIO_WARM = "KvikIO read into GPU memory, warm page cache"
KVIKIO_COLD = "KvikIO read into GPU memory, cold (evicted)"
FALLBACK, FROMFILE = "format's fallback read: memmap + upload, warm", "no KvikIO: numpy fromfile + cupy.asarray, warm"
#: Step 1's rows, in order: ``{what: (unit, row options)}``.
CUPY_ROWS = {
    WHAT_EQUAL: ("", {"target": ("==", True)}),
    WHAT_GATHER: ("img/s", {"target": GATHER_TARGET}),
    KVIKIO_WARM: ("GB/s", {"target": KVIKIO_TARGET, "anchor": ANCHORS["kvikio"]}),
    KVIKIO_COLD: ("GB/s", {}),
    FALLBACK: ("GB/s", {}),
    FROMFILE: ("GB/s", {"anchor": ANCHORS["fromfile"]}),
}
#: KvikIO's thread pool for the read rate (its default is one thread).
KVIKIO_THREADS = 8


def cupy_row(what: str, value, gpu: str | None, note: str = "") -> dict:
    unit, options = CUPY_ROWS[what]
    return make_row("1", what, value, unit, gpu, note=note, **options)


def cupy_not_measured(what: str, why: str) -> dict:
    unit, options = CUPY_ROWS[what]
    return not_measured("1", what, unit, why, **options)


def cupy_part(emit: Callable[[dict], dict], whats: list[str], measure: Callable[[Callable[[dict], dict]], None]) -> None:
    """``measure(emit)``, one part of step 1 emitting the rows ``whats``; should it fail, each of
    those rows not yet emitted comes out not measured, with the error, and the other parts still run."""
    done = set()

    def emit_part(row: dict) -> dict:
        done.add(row["what"])
        return emit(row)

    try:
        measure(emit_part)
    except Exception as exc:  # noqa: BLE001 - one part failing must not take the others down
        traceback.print_exc()
        for what in whats:
            if what not in done:
                emit(cupy_not_measured(what, f"failed: {_error(exc)}"))


def each(fn: Callable[[object], object], items) -> Callable[[], None]:
    """A function calling ``fn(item)`` for every item, each result dropped before the next call
    (a list of them would keep every result alive, and each call would pay for fresh memory)."""
    def run() -> None:
        for item in items:
            fn(item)
    return run


def read_rate(read: Callable[[], object], nbytes: int, sync: Callable[[], None] = cuda_sync, repeats: int = 3) -> float:
    """GB/s of ``read()`` of ``nbytes``: warmed up once, then the median of ``repeats`` timed reads."""
    read()
    sync()
    return nbytes / GB / statistics.median(timed(read, sync) for _ in range(repeats))


def step_cupy(work: Path, sizes: Sizes, gpu: str | None, emit: Callable[[dict], dict]) -> None:
    """Step 1: the cupy format's bytes, gather rate, KvikIO and fallback read rates; each part on
    its own, so that one failing (cuFile, say) leaves the others measured."""
    if gpu is None:
        for what in CUPY_ROWS:
            emit(cupy_not_measured(what, "no CUDA device"))
        return
    import cupy as cp

    n, path = sizes.cupy_images, work / "c-cupy"
    write_synthetic("npy", n, work / "c-npy")
    write_synthetic("cupy", n, path)
    file = path / cupy_format.IMAGES
    nbytes = file.stat().st_size
    cupy_part(emit, [WHAT_EQUAL, WHAT_GATHER], lambda emit: resident_rows(work, path, sizes, gpu, emit))
    cupy_part(emit, [KVIKIO_WARM, KVIKIO_COLD], lambda emit: kvikio_rows(path, nbytes, gpu, emit))

    def fallback(emit: Callable[[dict], dict]) -> None:
        with formats.get("cupy").open(path, use_kvikio=False) as plain:
            emit(cupy_row(FALLBACK, read_rate(lambda: plain.read_range(0, n), nbytes), gpu))

    cupy_part(emit, [FALLBACK], fallback)
    cupy_part(emit, [FROMFILE], lambda emit: emit(cupy_row(
        FROMFILE, read_rate(lambda: cp.asarray(np.fromfile(file, np.uint8)), nbytes), gpu)))


def resident_rows(work: Path, path: Path, sizes: Sizes, gpu: str, emit: Callable[[dict], dict]) -> None:
    """The resident set's bytes against the npy copy, and its random-batch gather rate. Read
    without KvikIO: KvikIO is measured on rows of its own."""
    import cupy as cp

    n = sizes.cupy_images
    with formats.get("npy").open(work / "c-npy") as npy, \
            formats.get("cupy").open(path, resident=True, use_kvikio=False) as reader:
        equal = bool(np.array_equal(cp.asnumpy(reader.resident), npy.read_range(0, n)))
        emit(cupy_row(WHAT_EQUAL, equal, gpu, note=f"{n:,} images"))
        order = np.random.default_rng(0).permutation(n)
        batches = [order[i:i + sizes.batch] for i in range(0, n - sizes.batch + 1, sizes.batch)]
        reader.read(batches[0])
        cuda_sync()
        seconds = timed(each(reader.read, batches * sizes.gather_rounds), cuda_sync)
        emit(cupy_row(WHAT_GATHER, sizes.gather_rounds * len(batches) * sizes.batch / seconds, gpu,
                      note=f"batch {sizes.batch}, {len(batches)} batches x {sizes.gather_rounds}"))


def kvikio_rows(path: Path, nbytes: int, gpu: str, emit: Callable[[dict], dict]) -> None:
    """KvikIO's read rate with its page cache warm, then cold, on ``KVIKIO_THREADS`` threads."""
    with formats.get("cupy").open(path, use_kvikio=True) as reader:
        import kvikio.defaults as kd

        with kd.set("num_threads", KVIKIO_THREADS), page_cache_reads(kd):
            def read():
                return reader.read_range(0, reader.n)

            settings = kvikio_settings()
            emit(cupy_row(KVIKIO_WARM, read_rate(read, nbytes), gpu, note=settings))
            emit(cold_row([reader.file_path], read, nbytes, gpu, note=settings))


@contextlib.contextmanager
def page_cache_reads(kd):
    """KvikIO reading through the page cache, its direct I/O off, so that the warm row is warm
    (the setting counts when a file is opened; the reader opens its CuFile at the first read)."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(kd.set("auto_direct_io_read", False))
        except Exception:  # noqa: BLE001 - a KvikIO without the setting reads through the page cache
            pass
        yield


def cold_row(files: list[Path], read: Callable[[], object], nbytes: int, gpu: str,
             sync: Callable[[], None] = cuda_sync, note: str = "") -> dict:
    """The cold-cache row: ``files`` evicted, then ``read`` timed once. The fraction still cached
    is taken before the read: above ``cache.COLD_CACHED_LIMIT`` the eviction did not take (as
    where fadvise drops nothing) and the read would be warm, so the row is not measured."""
    if not cache.can_evict(files[0]):
        return cupy_not_measured(KVIKIO_COLD, f"{cache.filesystem(files[0])} keeps files in memory")
    cache.evict(files)
    cached = cache.resident_fraction(files)
    if cached > cache.COLD_CACHED_LIMIT:
        return cupy_not_measured(KVIKIO_COLD, f"eviction did not take: {cached:.0%} still cached before the "
                                              f"read (cold means at most {cache.COLD_CACHED_LIMIT:.0%})")
    seconds = timed(read, sync)
    return cupy_row(KVIKIO_COLD, nbytes / GB / seconds, gpu,
                    note=f"{cached:.0%} cached before the read" + (f"; {note}" if note else ""))


def kvikio_settings() -> str:
    """KvikIO's mode (GPUDirect Storage or its POSIX compatibility mode), threads, task size and,
    where it has the setting, whether reads bypass the page cache (direct I/O)."""
    try:
        import kvikio.defaults as kd

        mode = "compat (POSIX)" if kd.is_compat_mode_preferred() else "GDS"
        note = f"mode {mode}, {kd.get('num_threads')} threads, task size {kd.get('task_size') / 2**20:g} MiB"
    except Exception as exc:  # noqa: BLE001 - an older or newer KvikIO without these calls
        return f"KvikIO settings unknown ({_error(exc)})"
    try:
        return note + f", direct I/O reads {'on' if kd.get('auto_direct_io_read') else 'off'}"
    except Exception:  # noqa: BLE001 - a KvikIO without the setting
        return note


def training_workers(workers: int | None) -> int:
    return workers if workers is not None else max(0, min(8, (os.cpu_count() or 1) - 2))


def train_run(reader, access: str, workers: int, device: str, sizes: Sizes, queue_steps: int,
              emulate_rate: float | None) -> list[dict]:
    """The epochs of one training run (real, or emulated at ``emulate_rate``)."""
    real = emulate_rate is None
    torch.manual_seed(0)
    model = models.build(sizes.model, len(reader.classes), reader.image_shape[0]) if real else None
    loader = loading.make_loader(reader, batch_size=sizes.batch, mode=access, shuffle=True, workers=workers,
                                 seed=0, device=device, augment=real, normalize=real)
    try:
        result = training.fit(model, loader, epochs=sizes.epochs, device=device, num_classes=len(reader.classes),
                              emulate_rate=emulate_rate, queue_steps=queue_steps, progress=False)
    finally:
        loader.release()
    return result["epochs"]


def run_summary(epochs: list[dict], **labels) -> dict:
    """A run as the report keeps it: its labels, its last epoch's figures (the first warms up:
    workers, cuDNN's choice of kernels) and every epoch."""
    last = epochs[-1]
    return {**labels, "epoch_s": last["wall_s"], "samples_per_s": last["samples_per_s"], "au": last["au"],
            "data_wait_s": last["data_wait_s"], "compute_s": last["compute_s"], "samples": last["samples"],
            "epochs": epochs}


def run_row(run: dict, on_gpu: bool) -> dict:
    what = f"{run['fmt']} {run['access']} w{run['workers']}, {run['mode']}, {run['kind']}"
    note = f"epoch {run['epoch_s']:.2f} s, AU {format_value(run['au'])}, wait {run['data_wait_s']:.2f} s"
    return make_row("2", what, run["samples_per_s"], "img/s", run["device"], note=note, on_gpu=on_gpu)


def step_training(work: Path, sizes: Sizes, gpu: str | None, emit: Callable[[dict], dict]) -> list[dict]:
    """Step 2: every format trained for real on ``gpu`` (None: the CPU, a dry run), synchronous
    and asynchronous; then emulated at the rate the device computed, and the AUs compared.
    Returns the runs."""
    on_gpu = gpu is not None
    device, real_name = ("cuda", gpu) if on_gpu else ("cpu", "cpu")
    plan = [r for r in TRAINING_RUNS if on_gpu or not formats.get(r[0]).needs_cuda(
        formats.get(r[0]).resolve_open_options(r[2]))]
    readers, runs = {}, []
    for fmt, write_options, open_options, _, _ in plan:
        try:
            write_synthetic(fmt, sizes.train_images, work / f"t-{fmt}", **write_options)
            readers[fmt] = formats.get(fmt).open(work / f"t-{fmt}", **open_options)
        except Exception as exc:  # noqa: BLE001 - one format failing must not stop the others
            emit(not_measured("2", f"{fmt}: write and open", "", f"failed: {_error(exc)}"))
    modes = {"sync": 0, "async": ASYNC_QUEUE_STEPS}
    bar = tqdm(total=2 * len(readers) * len(modes), desc="gpucheck training", unit="run", leave=False,
               disable=None)  # None: no bar when the output is a pipe or a file (the table saved by tee)

    def run_all(kind: str, rate: float | None) -> None:
        for fmt, _, _, access, workers in plan:
            if fmt not in readers:
                continue
            reader, workers = readers[fmt], training_workers(workers)
            # The emulated accelerator stands in for the GPU on the host, as in the CPU-side runs;
            # a reader that reads into GPU memory keeps its batches there.
            run_device = device if kind == "real" or reader.on_device else "cpu"
            name = real_name if kind == "real" else (
                f"emulated {rate:,.0f} img/s on " + (real_name if run_device == device else "host cpu"))
            for mode, k in modes.items():
                labels = dict(fmt=fmt, access=access, workers=workers, mode=mode, queue_steps=k, kind=kind, device=name)
                try:
                    run = run_summary(train_run(reader, access, workers, run_device, sizes, k, rate), **labels)
                except Exception as exc:  # noqa: BLE001
                    emit(not_measured("2", f"{fmt} {access} w{workers}, {mode}, {kind}", "img/s",
                                      f"failed: {_error(exc)}"))
                else:
                    runs.append(run)
                    emit(run_row(run, on_gpu))
                bar.update()

    try:
        run_all("real", None)
        rate = compute_rate(runs)
        precision = "bf16 channels_last" if on_gpu else "fp32"
        emit(make_row("2", f"{sizes.model} 32 px, batch {sizes.batch}, {precision}: compute rate", rate, "img/s",
                      real_name, anchor=ANCHORS["resnet18"] if on_gpu else None,
                      note="anchor: ResNet-18 on one H100" if on_gpu else "the CPU computing, not a GPU"))
        if rate:
            run_all("emulated", rate)
    finally:
        bar.close()
        for reader in readers.values():
            reader.close()
    for row in au_rows(au_comparison(runs), on_gpu):
        emit(row)
    return runs


def decode_rate(reader, n: int, batch: int, sync: Callable[[], None] = lambda: None) -> float:
    reader.read(np.arange(min(n, batch)))  # warm up (nvJPEG's handles, the page cache)
    sync()
    batches = [np.arange(s, min(s + batch, n)) for s in range(0, n, batch)]
    return n / timed(each(reader.read, batches), sync)


def step_decode(work: Path, sizes: Sizes, gpu: str | None, emit: Callable[[dict], dict]) -> None:
    """Step 3: JPEG decode of CIFAR-size files, on one host core and by nvJPEG on the GPU."""
    from .formats.files import decode_nvjpeg

    n, path = sizes.jpeg_images, work / "jpeg"
    write_synthetic("files", n, path, encoding="jpeg", quality=90)
    fmt, host = formats.get("files"), "host cpu, 1 core" if gpu else "cpu, 1 core"
    for decoder in ("pil", "torchvision"):
        with fmt.open(path, decoder=decoder) as reader:
            emit(make_row("3", f"JPEG decode, files decoder={decoder}", decode_rate(reader, n, sizes.batch),
                          "img/s", host, note=f"{n:,} images, batches of {sizes.batch}"))
    what_nv, what_read = f"JPEG decode, nvJPEG, batch {sizes.batch} (bytes in memory)", "files decoder=nvjpeg (read + decode)"
    if gpu is None:
        emit(not_measured("3", what_nv, "img/s", "no CUDA device", anchor=ANCHORS["nvjpeg"]))
        emit(not_measured("3", what_read, "img/s", "no CUDA device"))
        emit(not_measured("3", WHAT_DIFF, "", "no CUDA device", target=DIFF_TARGET))
        return
    with fmt.open(path, decoder="nvjpeg") as reader, fmt.open(path, decoder="pil") as pil:
        blobs = [(reader.path / rel).read_bytes() for rel in reader.rel_paths]
        decode_nvjpeg(blobs[:sizes.batch])
        cuda_sync()
        seconds = timed(each(decode_nvjpeg, [blobs[s:s + sizes.batch] for s in range(0, n, sizes.batch)]), cuda_sync)
        emit(make_row("3", what_nv, n / seconds, "img/s", gpu, anchor=ANCHORS["nvjpeg"]))
        emit(make_row("3", what_read, decode_rate(reader, n, sizes.batch, cuda_sync), "img/s", gpu))
        first = np.arange(min(n, sizes.batch))
        diff = float(np.abs(reader.read(first).cpu().numpy().astype(np.int16) - pil.read(first)).mean())
        emit(make_row("3", WHAT_DIFF, diff, "", gpu, target=DIFF_TARGET, note="JPEG decoders may differ slightly"))


WHAT_DIFF, DIFF_TARGET = "nvJPEG vs PIL, mean |difference| per pixel", ("<=", 2.0)


def copy_rate(nbytes: int, pinned: bool, repeats: int) -> float:
    """GB/s of host-to-device copies of ``nbytes`` uint8 bytes from pinned or pageable memory."""
    src = torch.randint(0, 256, (nbytes,), dtype=torch.uint8)
    if pinned:
        src = src.pin_memory()
    dst = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    dst.copy_(src, non_blocking=pinned)
    cuda_sync()
    seconds = timed(lambda: [dst.copy_(src, non_blocking=pinned) for _ in range(repeats)], cuda_sync)
    return nbytes * repeats / GB / seconds


def step_copies(work: Path, sizes: Sizes, gpu: str | None, emit: Callable[[dict], dict]) -> None:
    """Step 4: pinned versus pageable host-to-device copies, of one uint8 batch and of 256 MiB."""
    batch_bytes = sizes.batch * 32 * 32 * 3
    shapes = [(f"batch {sizes.batch}x32x32x3 ({batch_bytes / 2**20:.1f} MiB)", batch_bytes, sizes.copy_repeats),
              ("256 MiB", 256 * 2**20, max(3, sizes.copy_repeats // 10))]
    for label, nbytes, repeats in shapes:
        for kind in ("pinned", "pageable"):
            what = f"host to device, {kind}, {label}"
            if gpu is None:
                emit(not_measured("4", what, "GB/s", "no CUDA device", anchor=ANCHORS[kind]))
            else:
                emit(make_row("4", what, copy_rate(nbytes, kind == "pinned", repeats), "GB/s", gpu,
                              anchor=ANCHORS[kind]))


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


def run_check(*, sizes: Sizes, dry_run: bool, out: Path | None, work_dir: Path | None = None,
              printer: Callable[[str], None] = tqdm.write) -> dict:
    """Run the four steps (the CPU-capable parts only when ``dry_run``), print the table as it
    grows, write the JSON to ``out``; returns the JSON document."""
    started = time.perf_counter()
    on_gpu = not dry_run
    device = device_info(on_gpu)
    gpu = device["name"] if on_gpu else None
    if on_gpu:
        torch.backends.cudnn.benchmark = True  # as a training script on a fixed input size would
    label = f"on {gpu}" if on_gpu else "CPU DRY RUN: nothing here stands for a GPU; every target 'not measured'"
    found = versions()
    printer(f"gpucheck {label}; {sizes}")
    printer("versions: " + ", ".join(f"{k} {v}" for k, v in found.items()))
    printer(table_header())
    rows: list[dict] = []

    def emit(row: dict) -> dict:
        printer(format_row(row))
        rows.append(row)
        return row

    work = Path(tempfile.mkdtemp(prefix="gpucheck-", dir=work_dir))
    runs: list[dict] = []

    def make_doc() -> dict:
        return document(rows, runs=runs, comparison=au_comparison(runs), device=device, sizes=sizes,
                        dry_run=dry_run, versions=found, seconds=time.perf_counter() - started)

    steps = [("1", "CuPy format", step_cupy), ("2", "training", step_training), ("3", "JPEG decode", step_decode),
             ("4", "host to device", step_copies)]
    try:
        for step, name, measure in steps:
            try:
                result = measure(work, sizes, gpu, emit)
            except Exception as exc:  # noqa: BLE001 - the other steps still run and report
                traceback.print_exc()
                emit(not_measured(step, f"{name}: the step failed", "", _error(exc)))
            else:
                if step == "2":
                    runs = result
                    printer(f"step 2, real and emulated side by side:\n{side_by_side(runs)}")
            if out is not None:  # what is done so far survives a run cut short
                write_json(out, {**make_doc(), "complete": False, "last_step_done": step})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    doc = {**make_doc(), "complete": True}
    printer(f"gpucheck: {doc['summary']} in {doc['seconds']:.0f} s" + (" (CPU dry run)" if dry_run else ""))
    if out is not None:
        write_json(out, doc)
        printer(f"gpucheck: JSON written to {out}")
    return doc


def default_out(dry_run: bool) -> Path:
    return paths.data_dir("gpucheck") / ("gpucheck-dry-run.json" if dry_run else "gpucheck.json")


def main(*, out: str | None = None, quick: bool = False, dry_run: bool = False, work_dir: str | None = None) -> int:
    """The command. Without CUDA (and without ``dry_run``): one line saying so, exit status 0.
    ValueError, before anything runs, when ``out`` names a folder (the JSON could not be written)."""
    out_path = Path(out) if out else default_out(dry_run)
    if out_path.is_dir():
        raise ValueError(f"gpucheck --out {out_path}: that is a folder; name the JSON file to write")
    if not dry_run and not torch.cuda.is_available():
        print(f"gpucheck: no CUDA device (torch {torch.__version__} sees none), nothing measured; "
              "`python -m thesis_lib gpucheck --dry-run` runs the CPU-capable parts")
        return 0
    sizes = DRY if dry_run else QUICK if quick else FULL
    run_check(sizes=sizes, dry_run=dry_run, out=out_path, work_dir=Path(work_dir) if work_dir else None)
    return 0
