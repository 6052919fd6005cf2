"""A profile of round values for the roofline's tests: each hand computation reads its figures here."""
from thesis_lib.roofline import FIELDS, Profile, Stat

ROUND = {"memory.gather_gbps": 1.0, "page_cache.read_gbps": 10.0, "storage.seq_mbps": 1000.0,
         "storage.latency_4k_us": 100.0, "request.memmap.fixed_us": 0.1, "request.memmap.us_per_mib": 1000.0,
         "request.zarr-python-oindex.fixed_us": 500.0, "request.zarr-python-oindex.call_us": 2000.0,
         "decode.zstd.64": 10.0, "python.batch_us_per_batch": 100.0, "handover.process.fixed_us": 20000.0,
         "handover.process.us_per_mib": 1000.0}  # every other primitive: 1.0


def round_profile(cores=2, unmeasured=None, **machine):
    unmeasured = unmeasured or {}
    values = {name: ROUND.get(name, 1.0) for name in FIELDS if name not in unmeasured}
    return Profile({"cores": cores, **machine}, {k: Stat(v, v, v) for k, v in values.items()}, unmeasured)
