"""The host work of one training step; :mod:`.loop` runs it, :mod:`.clocks` times it.

Real steps train the model under :func:`autocast` and keep the loss summed on the device; emulated
steps have no model, so no work and no loss.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EmulatedSteps", "ModelSteps", "autocast", "make_steps", "train_step"]


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full precision elsewhere (CPU bf16 is slower, not faster)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, optimizer,
               scheduler, device: torch.device) -> torch.Tensor:
    """One optimisation step; returns the (detached) batch loss."""
    with autocast(device):
        loss = F.cross_entropy(model(images), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss.detach()


class ModelSteps:
    """The host work of real steps: train ``model`` on each batch, summing the loss on the device."""

    def __init__(self, model: nn.Module, optimizer, scheduler, device: torch.device):
        self.model, self.optimizer, self.scheduler, self.device = model, optimizer, scheduler, device
        self.loss_sum = torch.zeros((), device=device)  # read once per epoch: a per-step .item() would sync

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.loss_sum += train_step(self.model, images, labels, self.optimizer, self.scheduler,
                                    self.device) * len(labels)

    def mean_loss(self, samples: int) -> float:
        return self.loss_sum.item() / max(1, samples)


class EmulatedSteps:
    """Emulation has no model: a step has no host work and no loss."""

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        pass

    def mean_loss(self, samples: int) -> None:
        return None


def make_steps(model: nn.Module | None, optimizer, scheduler, device: torch.device,
               emulating: bool) -> ModelSteps | EmulatedSteps:
    """The host work of each step: nothing when emulating, else training ``model`` (put in train mode)."""
    if emulating:
        return EmulatedSteps()
    if model is None or optimizer is None:
        raise ValueError("train_one_epoch: a model and an optimizer are needed unless emulating")
    model.train()
    return ModelSteps(model, optimizer, scheduler, device)
