"""The model zoo: every model builds without downloads and classifies small images."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from thesis_lib.training import models


def test_names():
    assert models.names() == ["convnet", "resnet18", "densenet", "googlenet"]


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(ValueError, match="valid models: convnet, resnet18, densenet, googlenet"):
        models.build("vgg", 10, 32)


@pytest.mark.slow
@pytest.mark.parametrize("name", models.names())
def test_classifies_32_px_images(name):
    model = models.build(name, num_classes=7, image_size=32).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 7)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["convnet", "googlenet"])
def test_training_mode_gives_plain_logits_that_backpropagate(name):
    model = models.build(name, num_classes=7, image_size=32)
    logits = model(torch.randn(2, 3, 16, 16))  # GoogLeNet: no auxiliary heads, so no named tuple
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 7)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("size", [4, 8, 64, 128])
def test_convnet_takes_any_size(size):
    model = models.build("convnet", 10, size).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, size, size)).shape == (1, 10)


def test_convnet_is_small():
    assert models.parameter_count(models.build("convnet", 10, 32)) < 500_000


@pytest.mark.slow
def test_small_images_get_the_small_stem():
    small, large = models.build("resnet18", 10, 32), models.build("resnet18", 10, 224)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, nn.Identity)
    assert large.conv1.kernel_size == (7, 7) and isinstance(large.maxpool, nn.MaxPool2d)
    densenet = models.build("densenet", 10, 64)
    assert densenet.features.conv0.kernel_size == (3, 3) and isinstance(densenet.features.pool0, nn.Identity)
    googlenet = models.build("googlenet", 10, 32)
    assert isinstance(googlenet.maxpool1, nn.Identity) and googlenet.aux1 is None
