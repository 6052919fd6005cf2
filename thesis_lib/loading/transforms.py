"""The transforms that run on the target device over whole batches: random crop and flip, then
normalisation.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .shared import Batch


def random_crop_flip(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Per image: a random ``H x W`` crop of the zero-padded image, mirrored with probability 1/2.

    ``images`` is NHWC; crop and flip are one gather, on whatever device ``images`` lives.
    """
    n, height, width, _ = images.shape
    device = images.device
    padded = F.pad(images, (0, 0, padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=device)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=device)
    flip = torch.rand((n, 1), generator=generator, device=device) < 0.5
    cols = torch.arange(width, device=device)
    cols = torch.where(flip, width - 1 - cols, cols) + dx
    rows = torch.arange(height, device=device) + dy
    batch = torch.arange(n, device=device)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]]


class DeviceTransform:
    """Moves a uint8 NHWC batch to the device, then augments and normalises it there."""

    def __init__(self, device: torch.device, *, image_size: int, augment: bool, normalize: bool,
                 mean: Sequence[float], std: Sequence[float], crop_padding: int | None, seed: int):
        self.device = device
        self.augment, self.normalize, self.seed = augment, normalize, seed
        self.crop_padding = max(1, image_size // 8) if crop_padding is None else crop_padding
        # (x / 255 - mean) / std == (x - 255 mean) / (255 std)
        self.shift = 255 * torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.scale = 255 * torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        self.generator = torch.Generator(device=device)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + epoch)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> Batch:
        images = images.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        if self.augment:
            images = random_crop_flip(images, self.crop_padding, self.generator)
        images = images.permute(0, 3, 1, 2)
        if not self.normalize:
            # NCHW view of the NHWC batch, i.e. channels_last: no copy (a uint8 permute-copy costs
            # more than reading the batch did).
            return images, labels
        images = images.to(torch.float32, memory_format=self.memory_format)
        return images.sub_(self.shift).div_(self.scale), labels
