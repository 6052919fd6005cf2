"""Image files on a filesystem: ``<class>/<index>.png`` (or ``.jpg``) plus ``index.tsv``.

``index.tsv`` lists every image's relative path and label in dataset order, so the reader never
walks the tree. PNG is lossless and the default; JPEG takes a ``quality``. The decoder is an open
option: PIL (``pil``), torchvision's libjpeg-turbo/libpng bindings (``torchvision``), or nvJPEG on
the GPU (``nvjpeg``, JPEG only): the files are read on the host and each batch is decoded at once
by ``torchvision.io.decode_jpeg(..., device="cuda")``, so that reader is ``on_device`` and hands
out CUDA tensors, as the cupy format's does.
"""
from __future__ import annotations

import io
import re
import warnings
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..core.errors import FormatError
from ..core.paths import read_regular_file
from .base import Format
from .options import BLOCK_SIZE, Option
from .reader import Reader
from .writing import naming

ENCODINGS = {"png": ".png", "jpeg": ".jpg"}
DECODERS = ("pil", "torchvision", "nvjpeg")
INDEX = "index.tsv"


def _folder_name(class_id: str) -> str:
    """A class id made safe as a folder name (``.`` and ``..`` would name the dataset or its parent)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(class_id)) or "_"
    return f"_{name}" if name in (".", "..") else name


def decode_pil(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        if img.mode != "RGB":  # the writer stores 8-bit RGB only; converting e.g. 16-bit would clip
            raise ValueError(f"stored as PIL mode {img.mode}, not 8-bit RGB")
        return np.asarray(img)


def quiet_torchvision_io() -> None:
    # torchvision 0.29 marks its decoders deprecated in favour of TorchCodec; they still work and
    # are what most training code calls today, which is what these decoder options measure.
    warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision")


def byte_tensor(data: bytes):
    import torch
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def decode_torchvision(data: bytes) -> np.ndarray:
    from torchvision.io import ImageReadMode, decode_image

    quiet_torchvision_io()
    tensor = decode_image(byte_tensor(data), mode=ImageReadMode.RGB)
    return tensor.permute(1, 2, 0).numpy()


def decode_nvjpeg(blobs: list[bytes]):
    """JPEG files' bytes decoded together on the GPU: a list of CUDA uint8 CHW tensors."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    quiet_torchvision_io()
    # torchvision's CUDA decode_jpeg allocates its outputs on the caller's stream but writes them
    # from a private stream that does not wait for the caller's (pytorch/vision PR #9606): it can
    # be handed a block just freed that kernels still queued on the caller's stream have yet to
    # read, and overwrite it. Waiting for the caller's stream first leaves nothing queued there.
    torch.cuda.current_stream().synchronize()
    return decode_jpeg([byte_tensor(data) for data in blobs], mode=ImageReadMode.RGB, device="cuda")


_DECODE = {"pil": decode_pil, "torchvision": decode_torchvision}


class FilesReader(Reader):
    def __init__(self, path, manifest, *, decoder: str = "pil", block_size: int = 512):
        super().__init__(path, manifest)
        self.decoder = decoder
        self._decode = _DECODE.get(decoder)
        if decoder == "nvjpeg":
            self._check_nvjpeg(self.path, manifest)
            self.on_device = True
            self.gathers_any_order = True  # files are opened one by one anyway: order costs nothing
        self.block_size = block_size

    @staticmethod
    def _check_nvjpeg(path: Path, manifest: dict) -> None:
        import torch

        encoding = manifest.get("options", {}).get("encoding")
        if encoding != "jpeg":
            raise FormatError(f"{path}: open option decoder=nvjpeg decodes JPEG only, but these files are "
                              f"encoded as {encoding}; write them with encoding=jpeg, or use decoder=pil")
        if not torch.cuda.is_available():
            raise FormatError(f"{path}: open option decoder=nvjpeg decodes on a CUDA GPU, and torch sees none; "
                              "use decoder=pil or decoder=torchvision")

    def _index(self) -> tuple[str, bytes]:
        """How errors name ``index.tsv``, and its bytes."""
        index = self.path / INDEX
        if not index.is_file():
            raise FormatError(f"{index}: missing")
        try:
            return str(index), read_regular_file(index)
        except OSError as exc:
            raise FormatError(f"{index}: unreadable ({exc})") from None

    def _load_labels(self):
        index, data = self._index()
        rel_paths, labels = [], []
        try:
            lines = data.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise FormatError(f"{index}: unreadable ({exc})") from None
        for lineno, line in enumerate(lines, 1):
            parts = line.split("\t")
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise FormatError(f"{index}:{lineno}: expected 'path<TAB>label', got {line!r}")
            rel = PurePosixPath(parts[0])
            if rel.is_absolute() or not rel.parts or ".." in rel.parts or "\\" in parts[0]:
                raise FormatError(f"{index}:{lineno}: image path {parts[0]!r} points outside the dataset")
            rel_paths.append(parts[0])
            labels.append(int(parts[1]))
        self.rel_paths = rel_paths
        return np.asarray(labels, dtype=np.int64)

    def _read_file(self, i: int) -> tuple[Path, bytes]:
        file = self.path / self.rel_paths[i]
        try:
            return file, read_regular_file(file)
        except FileNotFoundError:
            raise FormatError(f"{file}: image file missing") from None
        except OSError as exc:
            raise FormatError(f"{file}: cannot read image file ({exc.strerror})") from None

    def _check_decoded(self, file: Path, shape: tuple, dtype: str) -> None:
        """FormatError unless a decoded image is uint8 of the dataset's (H, W, 3) (NumPy or torch dtype name)."""
        if tuple(shape) != self.image_shape or dtype.removeprefix("torch.") != "uint8":
            raise FormatError(f"{file}: decoded {dtype} {tuple(shape)}, expected uint8 {self.image_shape}")

    def _decode_file(self, i: int) -> np.ndarray:
        return self._decode_data(*self._read_file(i))

    def _decode_data(self, file, data: bytes) -> np.ndarray:
        try:
            image = self._decode(data)
        except (UnidentifiedImageError, OSError, RuntimeError, ValueError, SyntaxError) as exc:
            # PIL raises SyntaxError for a broken PNG chunk
            raise FormatError(f"{file}: cannot decode image ({type(exc).__name__}: {exc})") from None
        self._check_decoded(file, image.shape, str(image.dtype))
        return image

    def _read_sorted(self, indices):
        if self.decoder == "nvjpeg":
            return self._decode_batch_on_gpu(indices)
        out = np.empty((len(indices), *self.image_shape), np.uint8)
        for k, i in enumerate(indices):
            out[k] = self._decode_file(int(i))
        return out

    def _decode_batch_on_gpu(self, indices):
        """The files at ``indices`` read here and decoded together by nvJPEG: CUDA uint8 NHWC."""
        import torch

        files, blobs = zip(*(self._read_file(int(i)) for i in indices))
        try:
            images = decode_nvjpeg(list(blobs))
        except RuntimeError:  # one bad file fails the batch: find it
            for file, data in zip(files, blobs):
                try:
                    decode_nvjpeg([data])
                except RuntimeError as exc:
                    raise FormatError(f"{file}: cannot decode image (nvjpeg: {exc})") from None
            raise
        for file, image in zip(files, images):
            self._check_decoded(file, (*image.shape[1:], image.shape[0]), str(image.dtype))
        return torch.stack(images).permute(0, 2, 3, 1).contiguous()

    def read(self, indices):
        """Images at ``indices`` as uint8 ``(n, H, W, 3)``: NumPy, or with ``decoder=nvjpeg`` a CUDA tensor."""
        if self.decoder == "nvjpeg" and np.asarray(indices).size == 0:
            import torch
            return torch.empty((0, *self.image_shape), dtype=torch.uint8, device="cuda")
        return super().read(indices)

    def read_torch(self, indices):
        """(``decoder=nvjpeg``) like :meth:`read`, which already gives a CUDA tensor."""
        return self.read(indices)

    def files(self):
        return [self.path / rel for rel in self.rel_paths] + [self.path / INDEX]


class FilesFormat(Format):
    name = "files"
    write_spec = {
        "encoding": Option("png", "choice", "png (lossless) or jpeg", choices=tuple(ENCODINGS)),
        "quality": Option(90, "int", "JPEG quality", minimum=1, maximum=100),
        "png_level": Option(6, "int", "zlib level for PNG (PIL's default 6)", minimum=0, maximum=9),
    }
    open_spec = {"decoder": Option("pil", "choice", "who decodes the images", choices=DECODERS),
                 "block_size": BLOCK_SIZE}
    reader = FilesReader

    def needs_cuda(self, open_options):
        return open_options["decoder"] == "nvjpeg"

    def lossless(self, options=None):
        return (options or self.defaults)["encoding"] == "png"

    def _write(self, chunks, tmp, source, options):
        folders = [_folder_name(c) for c in source.classes]
        for folder in set(folders):
            (tmp / folder).mkdir()
        suffix = ENCODINGS[options["encoding"]]
        save = ({"format": "PNG", "compress_level": options["png_level"]} if options["encoding"] == "png"
                else {"format": "JPEG", "quality": options["quality"]})
        width = max(len(str(len(source))), 5)
        pos = 0
        with naming(tmp / INDEX), open(tmp / INDEX, "w") as index:
            for images, labels in chunks:
                for image, label in zip(images, labels):
                    rel = f"{folders[label]}/{pos:0{width}d}{suffix}"
                    with naming(tmp / rel):
                        Image.fromarray(image).save(tmp / rel, **save)
                    index.write(f"{rel}\t{int(label)}\n")
                    pos += 1
        return {}


FORMAT = FilesFormat()
