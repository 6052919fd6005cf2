"""Loader throughput, measured in one process so the ratios compare like with like.

Warm page cache, loader only (uint8 batches as they leave the loader, before any transform),
batch 512, whole epochs. It measures (a) the in-RAM limit, a NumPy gather of random batches;
(b) every format in every access mode, at its best and in the ways people usually read it, in
the steady state of training (workers started, a new order each epoch), beside a plain slice
of the same array (the read block mode builds on); (c) the peer people pick today,
torchvision's ``ImageFolder`` with a ``DataLoader`` over the same images; the workers (CPU
cores) each format needs to keep one H100 busy; and the targets of issue 11 as ratios.

The modules: :mod:`.variants` (what is measured: one table of :class:`Variant`), :mod:`.rates`
(how), :mod:`.report` (the targets and the printed table) and :mod:`.command` (:func:`main`).
"""
from __future__ import annotations

from .command import cores_per_gpu, main, measure_variants, open_variant
from .rates import (BATCH, imagefolder_rate, loader_rates, ram_baseline, single_core_decode_rate, slice_rate,
                    time_batches, warm, workers_needed)
from .report import kinds_side_by_side, render, targets
from .variants import CODEC_VARIANTS, HDF5_GZIP, VARIANTS, ZARR_LAYOUTS, ZARR_READERS, Variant, matching, named
