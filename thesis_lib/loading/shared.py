"""What every module of :mod:`thesis_lib.loading` shares: the batch type and the default
normalisation, CIFAR-10's per-channel mean and standard deviation. The package's lowest layer:
it imports nothing of the package.
"""
from __future__ import annotations

import torch

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

Batch = tuple[torch.Tensor, torch.Tensor]
