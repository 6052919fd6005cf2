"""s3bench's targets: same-run ratios, each said met or not met."""
from __future__ import annotations

import pytest

from thesis_lib.tools.s3bench import targets


def row(variant, fmt, chunk, latency, rate):
    return {"variant": variant, "format": fmt, "chunk": chunk, "latency_ms": latency, "img_s": rate}


@pytest.mark.timeout(10)
def test_each_format_is_judged_by_its_best_path_at_the_largest_latency_and_chunk_64_against_the_h100():
    rows = [row("npy", "npy", None, 0, 3000), row("npy", "npy", None, 20, 1000),
            row("zarr 64, zarr-python", "zarr", 64, 0, 1000), row("zarr 64, zarr-python", "zarr", 64, 20, 400),
            row("zarr 1024, tensorstore", "zarr", 1024, 0, 2000), row("zarr 1024, tensorstore", "zarr", 1024, 20, 1200)]
    said = targets(rows, 64)
    assert said[0] == "npy: best at 20 ms is npy, 1,000 img/s = 33% of its 0 ms rate (target >= 50%): not met"
    assert said[1] == ("zarr: best at 20 ms is zarr 1024, tensorstore, 1,200 img/s = 60% of its 0 ms rate "
                       "(target >= 50%): met")
    assert said[2] == ("zarr 64, zarr-python at 20 ms: 400 img/s = 2.6% of one H100's 15,250 img/s at 64 px "
                       "(target >= 100%): not met")
    assert len(said) == 3
