"""Generated images with real structure: the offline default dataset and the stand-in for missing data.

Each class has its own shape (a lobed, possibly hollow blob), texture (an oriented grating) and
colours; each image jitters position, scale, rotation, colours and lighting and adds sensor-like
grain. A small convnet learns the classes well above chance, but jitter keeps it from being trivial,
and codecs see smooth fields, edges and noise as in photographs.

Images are rendered in fixed-size blocks, each from its own seed ``(seed, split, block)``, so any
range can be read on its own and always gives the same pixels.
"""
from __future__ import annotations

import os
import zlib

import numpy as np

from ..core.errors import SplitNotFound
from .base import BlockedSource

# Bump when the pixels a given spec produces change, so stale converted copies are not reused.
GENERATOR_VERSION = 1
DEFAULT_SPLITS = {"train": 50_000, "test": 10_000}
_BLOCK_PIXELS = 1 << 16  # pixels rendered per block: 64 images at 32 px, 1 at 256 px
_LOBES = (0, 3, 4, 5, 6, 2, 8, 7)  # lobes of each class's outline, in class order (0: an ellipse)


class SyntheticSource(BlockedSource):
    """``n`` generated ``image_size``-px images in ``num_classes`` balanced classes."""

    def __init__(self, *, seed: int = 0, num_classes: int = 10, image_size: int = 32, n: int | None = None,
                 split: str = "train", splits: dict[str, int] | None = None, name: str = "synthetic"):
        splits = splits or DEFAULT_SPLITS
        if split not in splits:
            raise SplitNotFound(f"{name}: no split {split!r} (valid: {', '.join(splits)})")
        for option, value in (("num_classes", num_classes), ("image_size", image_size), ("n", n)):
            if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
                raise ValueError(f"{name}: {option} must be a positive integer, got {value!r}")
        self.name = name
        self.seed, self.split, self.size = int(seed), split, int(image_size)
        n = int(n or splits[split])
        self.classes = [f"class_{c:02d}" for c in range(num_classes)]
        self.class_names = list(self.classes)
        self.image_shape = (self.size, self.size, 3)
        self._split_key = zlib.crc32(split.encode())
        self.labels = self._rng("labels").permutation(np.arange(n, dtype=np.int64) % num_classes)
        self._styles = _class_styles(np.random.default_rng([self.seed, num_classes]), num_classes)
        block = max(1, _BLOCK_PIXELS // (self.size * self.size))
        self.block_starts = np.append(np.arange(0, n, block), n)
        self.spec = {"name": name, "split": split, "seed": self.seed, "num_classes": int(num_classes),
                     "image_size": self.size, "n": n, "generator": GENERATOR_VERSION}

    def _rng(self, *key: int | str) -> np.random.Generator:
        words = [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in key]
        return np.random.default_rng([self.seed, self._split_key, *words])

    def load_block(self, b: int) -> np.ndarray:
        labels = self.labels[self.block_starts[b]:self.block_starts[b + 1]]
        return render(labels, self._styles, self._rng("block", b), self.size)


def _class_styles(rng: np.random.Generator, num_classes: int) -> dict[str, np.ndarray]:
    """Per-class parameters, each an array indexed by class."""
    c = np.arange(num_classes)
    fg_hue = (c * 0.618034 + rng.uniform(0, 1)) % 1.0  # golden-ratio steps keep hues apart
    return {
        "lobes": np.array(_LOBES)[c % len(_LOBES)].astype(np.float32),
        "lobe_depth": rng.uniform(0.15, 0.4, num_classes),
        # inner radius of ring-shaped classes, as a fraction of the outline; -1 leaves the shape solid
        "hole": np.where(rng.random(num_classes) < 0.3, rng.uniform(0.35, 0.6, num_classes), -1.0),
        "aspect": rng.uniform(0.6, 1.0, num_classes),
        "tex_freq": rng.uniform(2.0, 8.0, num_classes),
        "tex_angle": rng.uniform(0, np.pi, num_classes),
        "tex_contrast": rng.uniform(0.1, 0.35, num_classes),
        "fg_hue": fg_hue,
        "bg_hue": (fg_hue + rng.uniform(0.15, 0.85, num_classes)) % 1.0,
    }


def render(labels: np.ndarray, styles: dict[str, np.ndarray], rng: np.random.Generator, size: int) -> np.ndarray:
    """Render one image per label as uint8 ``(k, size, size, 3)``, vectorised over the block."""
    k = len(labels)
    s = {key: value[labels].astype(np.float32)[:, None, None] for key, value in styles.items()}

    def draw(low, high):  # one value per image, shaped to broadcast over (k, H, W)
        return rng.uniform(low, high, k).astype(np.float32)[:, None, None]

    cx, cy, scale, turn = draw(-0.3, 0.3), draw(-0.3, 0.3), draw(0.35, 0.7), draw(0, 2 * np.pi)
    grid = (np.arange(size, dtype=np.float32) + 0.5) * (2.0 / size) - 1.0
    x, y = grid[None, None, :] - cx, grid[None, :, None] - cy
    cos, sin = np.cos(turn), np.sin(turn)
    u = (x * cos + y * sin) / scale
    v = (y * cos - x * sin) / (scale * s["aspect"])

    rho = np.hypot(u, v)
    outline = 1.0 + s["lobe_depth"] * np.cos(s["lobes"] * np.arctan2(v, u))
    edge = 3.0 / (size * scale)  # a soft, antialiased edge about 1.5 px wide, as through a lens
    mask = np.clip((outline - rho) / edge + 0.5, 0, 1) * np.clip((rho - s["hole"] * outline) / edge + 0.5, 0, 1)

    freq = s["tex_freq"] * draw(0.8, 1.25)
    grating = np.sin(freq * (u * np.cos(s["tex_angle"]) + v * np.sin(s["tex_angle"])) + draw(0, 2 * np.pi))
    fg_shade = 1.0 + s["tex_contrast"] * grating
    light = draw(0, 2 * np.pi)
    bg_shade = 1.0 + draw(0, 0.5) * (x * np.cos(light) + y * np.sin(light)) \
        + 0.1 * np.sin(draw(1, 4) * (x * np.sin(light) - y * np.cos(light)) + draw(0, 2 * np.pi))

    fg = _hsv_to_rgb(s["fg_hue"][:, 0, 0] + rng.normal(0, 0.06, k), rng.uniform(0.25, 0.65, k),
                     rng.uniform(0.55, 1.0, k))
    bg = _hsv_to_rgb(s["bg_hue"][:, 0, 0] + rng.normal(0, 0.1, k), rng.uniform(0.05, 0.4, k),
                     rng.uniform(0.2, 0.8, k))
    background = bg[:, None, None, :] * bg_shade[..., None]
    image = fg[:, None, None, :] * fg_shade[..., None]
    image -= background  # in place from here on: the block's float copies bound generation memory
    image *= mask[..., None]
    image += background
    image += draw(0.003, 0.02)[..., None] * rng.standard_normal((k, size, size, 1), dtype=np.float32)
    image *= 255.0
    image += 0.5
    return np.clip(image, 0, 255, out=image).astype(np.uint8)


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB for 1-D arrays in [0, 1] (hue wraps); returns float32 ``(k, 3)``."""
    h = (h % 1.0) * 6.0
    channel = (np.array([5.0, 3.0, 1.0])[None, :] + h[:, None]) % 6.0  # the colorsys formula, per channel
    ramp = np.clip(np.minimum(channel, 4.0 - channel), 0.0, 1.0)
    return (v[:, None] * (1.0 - s[:, None] * ramp)).astype(np.float32)


def open_synthetic(root: str | os.PathLike | None, split: str, image_size: int | None,
                   download: bool, *, seed: int = 0, num_classes: int = 10,
                   n: int | None = None) -> SyntheticSource:
    if root is not None:
        raise ValueError(f"synthetic: images are generated, so root must be None, got {root!r}")
    return SyntheticSource(seed=seed, num_classes=num_classes, image_size=image_size or 32, n=n, split=split)
