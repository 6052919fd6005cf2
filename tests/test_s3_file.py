"""S3File, one object as a file: small reads share cached blocks (one GET for a read's missing
run of blocks), large reads are one GET of their bytes, every byte equals the object's, and a
response shorter than asked is a FormatError, never zeros handed to h5py."""
from __future__ import annotations

import io

import numpy as np
import pytest

from thesis_lib import FormatError
from thesis_lib.formats.s3_file import S3File
from thesis_lib.formats.s3_objects import S3Location

DATA = np.random.default_rng(0).integers(0, 256, 10_000, dtype=np.uint8).tobytes()


class FakeObjects:
    """S3Objects' ranged read over bytes in memory, counting GETs; ``cut`` bytes short when set."""

    def __init__(self, cut: int = 0):
        self.location = S3Location.parse("s3://bucket/set", "http://127.0.0.1:9")
        self.cut, self.gets = cut, []

    def get_ranges(self, name, starts, ends):
        self.gets.append(list(zip(starts, ends)))
        return [memoryview(DATA[lo:hi - self.cut]) for lo, hi in zip(starts, ends)]


@pytest.mark.timeout(10)
def test_reads_give_the_objects_bytes_with_few_requests():
    objects = FakeObjects()
    file = S3File(objects, "data.h5", len(DATA), block_bytes=1000, cached_blocks=4)
    for start, size in [(0, 8), (8, 40), (990, 30), (5000, 2500), (9990, 100), (3000, 999)]:
        file.seek(start)
        assert file.read(size) == DATA[start:start + size]
    assert file.seek(0, io.SEEK_END) == len(DATA) and file.read(5) == b""
    assert objects.gets == [[(0, 1000)], [(1000, 2000)], [(5000, 7500)], [(9000, 10000)], [(3000, 4000)]]
    file.seek(2500)  # blocks 2 and 3, 3 cached: one GET for block 2 alone
    assert file.read(900) == DATA[2500:3400] and objects.gets[-1] == [(2000, 3000)]
    file.seek(4500)  # blocks 4 and 5 missing: one GET for both
    assert file.read(900) == DATA[4500:5400] and objects.gets[-1] == [(4000, 6000)]


@pytest.mark.timeout(10)
def test_a_short_response_is_a_format_error_naming_the_object():
    file = S3File(FakeObjects(cut=1), "data.h5", len(DATA), block_bytes=1000)
    with pytest.raises(FormatError, match=r"127\.0\.0\.1:9/bucket/set/data\.h5: asked for bytes 0\.\.1000, got 999"):
        file.read(10)
    with pytest.raises(OSError, match="before the start"):
        file.seek(-1)
