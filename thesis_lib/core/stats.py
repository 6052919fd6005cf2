"""Summary statistics the measurement protocol asks for: medians with bootstrap 95% intervals."""
from __future__ import annotations

import numpy as np

# ResNet-18 (small-image stem, bf16, channels_last, batch 512) on one H100, from docs/design.md.
H100_DEMAND = {32: 36_300.0, 64: 15_250.0}
_DEMAND_EXPONENT = np.log(H100_DEMAND[32] / H100_DEMAND[64]) / np.log(2)  # about 1.25
# The accelerator utilisation (compute / wall) MLPerf Storage requires of a storage system.
MLPERF_AU_THRESHOLD = 0.90


def h100_demand(image_size: int) -> tuple[float, bool]:
    """Images/s one H100 consumes training ResNet-18 at ``image_size``, and whether that figure
    was measured (32 and 64 px) or extrapolated along the power law through the two measurements."""
    if image_size in H100_DEMAND:
        return H100_DEMAND[image_size], False
    return float(H100_DEMAND[32] * (32 / image_size) ** _DEMAND_EXPONENT), True


def median_ci(values, *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """``(median, low, high)``: the median and its percentile-bootstrap confidence interval."""
    values = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if values.size == 0:
        return (float("nan"),) * 3
    median = float(np.median(values))
    if values.size == 1:
        return median, median, median
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(values, size=(resamples, values.size), replace=True), axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(medians, [alpha, 1 - alpha])
    return median, float(low), float(high)
