"""Step 1, the CuPy format on the device: its resident bytes and gather rate, KvikIO's read rate
warm and cold, and the reads without KvikIO. Each part stands on its own: one failing (cuFile,
say) leaves its rows not measured, with the error, and the others run."""
from __future__ import annotations

import contextlib
import statistics
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ... import formats
from ...core import cache
from ...formats import cupy_format
from .measure import cuda_sync, each, error_text, timed, write_synthetic
from .settings import ANCHORS, GATHER_TARGET, GB, KVIKIO_TARGET, Sizes
from .table import make_row, not_measured

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
                emit(cupy_not_measured(what, f"failed: {error_text(exc)}"))



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
    is taken before the read: where :func:`cache.cache_state` finds the eviction did not take (as
    where fadvise drops nothing), the read would be warm, so the row is not measured."""
    if not cache.can_evict(files[0]):
        return cupy_not_measured(KVIKIO_COLD, f"{cache.filesystem(files[0])} keeps files in memory")
    cache.evict(files)
    cached = cache.resident_fraction(files)
    if cache.cache_state("cold", [cached]) != "cold":
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
        return f"KvikIO settings unknown ({error_text(exc)})"
    try:
        return note + f", direct I/O reads {'on' if kd.get('auto_direct_io_read') else 'off'}"
    except Exception:  # noqa: BLE001 - a KvikIO without the setting
        return note
