"""``python -m thesis_lib roofline``: the whole check in one command. This machine's primitives
measured into a profile, a fresh cut of loaderbench measured right after (the same load on the
machine for both), and the model validated against that cut and the results folder's records; the
last line printed is ``N% of rows within 25%``."""
from __future__ import annotations

from pathlib import Path

from ..core import paths

#: The loaderbench variants the check measures: one for each term of the model (a memory map's
#: gather, per-request cost of each library, each decode, a peer's per-image files), about five
#: minutes at 20,000 images of 64 px on two cores.
CUT = ("npy", "hdf5 contiguous, direct", "hdf5 chunk 64 gzip, raw chunk + zlib", "zarr chunk 64, zarr-python",
       "zarr chunk 64, tensorstore", "zarr chunk 1024, tensorstore", "zarr chunk 64 zstd, tensorstore",
       "files png, PIL", "webdataset npy, shard 1000")


def main(*, out=None, dataset: str = "synthetic", root=None, limit: int = 20_000, workers: int = 2,
         results_dir=None, quick: bool = False) -> list:
    """Measure, cut, validate; returns the validated rows. ``quick``: a seconds-long measure and a
    one-repeat cut of a few batches (for tests; its share says little)."""
    from ..tools import loaderbench
    from . import measure, validate
    out = Path(out) if out else paths.data_dir("roofline") / "profile.json"
    folder = paths.results_dir(results_dir)
    measure.main(out=out, dataset=dataset, root=root, quick=quick)
    cut = out.with_name(f"{out.stem}-loaderbench.json")
    loaderbench.main(dataset=dataset, root=root, limit=limit, workers=workers, repeats=1 if quick else 3,
                     batches=4 if quick else None, only=list(CUT), out=cut)
    return validate.main(out, loaderbench=[cut], results_dir=folder if folder.is_dir() else None,
                         out=out.parent / f"{out.stem}-validation")
