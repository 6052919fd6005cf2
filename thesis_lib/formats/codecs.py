"""The compression codecs the two chunked containers share, so the thesis can put one codec in both.

HDF5 gets zstd, Blosc and LZ4 through ``hdf5plugin`` (its filters registered when this module is
imported, in every process that reads); zarr v3 has zstd, gzip and Blosc among its own codecs and
LZ4 through numcodecs. One name means the same compressor in both:

- ``blosc-lz4`` / ``blosc-zstd``: Blosc with byte shuffle, a no-op on uint8, so the bytes differ
  from plain lz4/zstd only by Blosc's blocking and framing. (zarr's older ``blosc`` value is
  zstd with bit shuffle, kept as it was.)
- ``lz4``: plain LZ4 blocks, no level; ``lzf`` (HDF5 only): h5py's LZF, no level.

Levels are checked per codec (:func:`check_level`) before anything is written.
"""
from __future__ import annotations

import warnings

import h5py
import hdf5plugin

#: Each codec's accepted levels; a codec absent here has no level.
LEVELS = {"gzip": (0, 9), "zstd": (-(2**17), 22), "blosc": (0, 9), "blosc-lz4": (0, 9), "blosc-zstd": (0, 9)}
#: The codecs HDF5 takes through hdf5plugin, by the plugin filter each needs.
HDF5_PLUGINS = {"zstd": hdf5plugin.ZSTD_ID, "blosc-lz4": hdf5plugin.BLOSC_ID, "blosc-zstd": hdf5plugin.BLOSC_ID,
                "lz4": hdf5plugin.LZ4_ID}
HDF5_CODECS = ("none", "gzip", "lzf", *HDF5_PLUGINS)
#: zarr's codec names: the new ones beside zarr's own ``blosc`` (zstd, bit shuffle).
ZARR_CODECS = ("none", "zstd", "blosc", "gzip", "blosc-lz4", "blosc-zstd", "lz4")
#: The codecs TensorStore's zarr3 driver cannot decode (numcodecs' LZ4 is not in the zarr v3 spec).
NOT_IN_TENSORSTORE = {"numcodecs.lz4": "lz4"}
# zarr warns of that on every LZ4 codec it builds, each open included; NOT_IN_TENSORSTORE says it once.
warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr version 3 specification")


def check_level(fmt: str, option: str, codec: str, level: int) -> None:
    """ValueError naming the format, ``option=level`` and the codec's range when ``level`` is outside it."""
    if codec in LEVELS:
        low, high = LEVELS[codec]
        if not low <= level <= high:
            raise ValueError(f"format {fmt!r}: write option {option}={level} for codec {codec!r}: "
                             f"expected an integer in {low}..{high}")


def _plugin_available(filter_id: int) -> bool:
    try:
        return bool(h5py.h5z.filter_avail(filter_id))
    except ValueError:  # h5py raises, rather than answering False, for a filter never registered
        return False


def hdf5_available() -> list[str]:
    """The HDF5 codecs this platform can write and read: gzip and lzf (in h5py itself) and each
    plugin codec whose filter hdf5plugin registered."""
    return [codec for codec in HDF5_CODECS if codec not in HDF5_PLUGINS or _plugin_available(HDF5_PLUGINS[codec])]


def check_hdf5_available(codec: str) -> None:
    """ValueError naming ``codec`` and the codecs there are, when hdf5plugin lacks its filter here."""
    if codec in HDF5_PLUGINS and not _plugin_available(HDF5_PLUGINS[codec]):
        raise ValueError(f"format 'hdf5': compression {codec!r} needs hdf5plugin's filter {HDF5_PLUGINS[codec]}, "
                         f"which this platform lacks; available: {', '.join(hdf5_available())}")


def hdf5_filter(codec: str, level: int) -> dict:
    """``create_dataset`` keywords that compress chunks with ``codec`` at ``level``."""
    if codec == "gzip":
        return {"compression": "gzip", "compression_opts": level}
    if codec == "lzf":
        return {"compression": "lzf"}
    if codec == "zstd":
        return dict(hdf5plugin.Zstd(clevel=level))
    if codec in ("blosc-lz4", "blosc-zstd"):
        return dict(hdf5plugin.Blosc(cname=codec.removeprefix("blosc-"), clevel=level,
                                     shuffle=hdf5plugin.Blosc.SHUFFLE))
    if codec == "lz4":
        return dict(hdf5plugin.LZ4())
    return {}


def zarr_compressors(codec: str, level: int) -> list:
    """zarr v3 codecs that compress chunks with ``codec`` at ``level`` (none for ``none``)."""
    import zarr.codecs

    if codec == "zstd":
        return [zarr.codecs.ZstdCodec(level=level)]
    if codec == "gzip":
        return [zarr.codecs.GzipCodec(level=level)]
    if codec == "blosc":
        return [zarr.codecs.BloscCodec(cname="zstd", clevel=level, shuffle="bitshuffle")]
    if codec in ("blosc-lz4", "blosc-zstd"):
        return [zarr.codecs.BloscCodec(cname=codec.removeprefix("blosc-"), clevel=level, shuffle="shuffle")]
    if codec == "lz4":
        from zarr.codecs.numcodecs import LZ4
        return [LZ4()]
    return []


def tensorstore_lacks(codecs) -> str | None:
    """The first of an array's ``codecs`` (zarr metadata objects) TensorStore cannot decode, by
    its option name; None when it can decode them all."""
    for codec in codecs:
        name = getattr(codec, "codec_name", None)
        if name in NOT_IN_TENSORSTORE:
            return NOT_IN_TENSORSTORE[name]
    return None


def check_hdf5_filters(file, dset: h5py.Dataset) -> None:
    """FormatError naming ``file``, the dataset and the filter when ``dset`` is stored with a
    filter this platform cannot decode (HDF5 would fail only at the first read, in a worker)."""
    from ..core.errors import FormatError

    plist = dset.id.get_create_plist()
    for k in range(plist.get_nfilters()):
        filter_id, _, _, name = plist.get_filter(k)
        if not _plugin_available(filter_id):
            raise FormatError(f"{file}: dataset {dset.name!r} is compressed with HDF5 filter {filter_id} "
                              f"({name.decode(errors='replace')}), which this platform cannot decode; "
                              f"its codecs: {', '.join(hdf5_available())}")
