"""Training: the networks and the timed train/eval loop (see docs/design.md, "Measurement protocol").

- :mod:`.models`: the classifiers, by name.
- :mod:`.loop`: :func:`fit`, :func:`train_one_epoch`, :func:`evaluate`, the optimizer and the schedule.
- :mod:`.steps`: a step's host work; :mod:`.clocks`: the clocks that time it.
- :mod:`.metrics`: accuracy and F1 from a confusion matrix.

The loop's names are re-exported here, so ``training.fit`` is the one callers use (and tests patch);
a name the loop itself calls (``make_clock``) is patched in :mod:`.loop`.
"""
from . import clocks, loop, metrics, models, steps
from .clocks import EmulatedAccelerator
from .loop import (all_reduce_sum, data_parallel, evaluate, fit, make_optimizer, make_scheduler, prepare_model,
                   train_one_epoch, utilisation)

__all__ = ["EmulatedAccelerator", "all_reduce_sum", "clocks", "data_parallel", "evaluate", "fit", "loop",
           "make_optimizer", "make_scheduler", "metrics", "models", "prepare_model", "steps", "train_one_epoch",
           "utilisation"]
