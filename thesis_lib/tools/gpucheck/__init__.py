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
   synchronous and asynchronous (``queue_steps``, see :mod:`thesis_lib.training`); then the emulated
   accelerator at the rate this GPU computed, in both modes, and the two AUs side by side (the
   emulation must come within 10 points of the real AU: it is what the CPU-side results rest on).
3. **GPU decode for files**: nvJPEG on batches of 512 (``decoder=nvjpeg``) against the CPU decoders.
4. **Host to device**: pinned versus pageable copies of a uint8 batch and of a large buffer.

The modules, each with one job, in the order they build on each other:

- :mod:`.settings`: the sizes of each step, the targets, the anchors, what AU means in each mode.
- :mod:`.table`: a row per figure, judged against its target, and the printed table.
- :mod:`.au`: step 2's emulated AU against the real one, per format and mode.
- :mod:`.environment`: package versions and the device.
- :mod:`.measure`: timing, the generated data, a failure's one-line text.
- :mod:`.cupy_kvikio`, :mod:`.training_runs`, :mod:`.nvjpeg`, :mod:`.copies`: steps 1 to 4.
- :mod:`.report`: the JSON document.
- :mod:`.check`: the command, the steps in turn.

Measuring and reporting are apart: the ``step_*`` functions measure and hand each row on;
:func:`judge`, :func:`au_comparison`, :func:`format_table` and :func:`document` only compute and
are tested on fake timings. A target is ``met`` only when a GPU measured it; a CPU dry run
(``--dry-run``: the CPU-capable parts at tiny sizes, to exercise the check end to end) leaves every
target ``not measured``. Without CUDA and without ``--dry-run`` the command says so in one line and exits 0.
"""
from __future__ import annotations

# The names this was used by as one module. Not the helpers of .measure: patch those where they are used.
from .au import au_comparison, au_rows, by_format_and_mode, compute_rate, side_by_side
from .check import default_out, main, run_check
from .copies import copy_rate, step_copies
from .cupy_kvikio import (CUPY_ROWS, FALLBACK, FROMFILE, KVIKIO_COLD, KVIKIO_THREADS, KVIKIO_WARM, WHAT_EQUAL,
                          WHAT_GATHER, cold_row, cupy_not_measured, cupy_part, cupy_row, kvikio_rows,
                          kvikio_settings, page_cache_reads, read_rate, resident_rows, step_cupy)
from .environment import device_info, versions
from .nvjpeg import DIFF_TARGET, WHAT_DIFF, decode_rate, step_decode
from .report import document
from .settings import (ANCHORS, ASYNC_QUEUE_STEPS, AU_MEANING, AU_TARGET, BATCH, DRY, FULL, GATHER_TARGET, GB,
                       KVIKIO_TARGET, QUICK, TOLERANCE_POINTS, Sizes)
from .table import (COLUMNS, format_row, format_table, format_value, judge, make_row, not_measured, summary,
                    table_header)
from .training_runs import (TRAINING_RUNS, TrainingRun, run_row, run_summary, step_training, train_run,
                            training_workers)
