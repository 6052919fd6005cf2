"""The classifiers the benchmarks train, each built for a given image size and class count.

>>> model = build("resnet18", num_classes=10, image_size=32)

Every model starts from random weights (no downloads). The torchvision networks were designed for
224 px ImageNet images, whose stem divides the resolution by 4 before the first block; at 32-64 px
that leaves too little to classify, so for images up to :data:`SMALL_IMAGE_MAX` px the stem is a
3x3 stride-1 convolution with no pooling, as in the usual CIFAR adaptations. Larger images keep
the ImageNet stem.
"""
from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torchvision import models as tv
from torchvision.models.googlenet import BasicConv2d

from ..core.registry import pick

#: Largest image side (px) that gets the small-image stem.
SMALL_IMAGE_MAX = 64


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> nn.Sequential:
    padding = (kernel_size - 1) // 2 if stride == 1 else 0
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def convnet(num_classes: int, image_size: int,
            widths: tuple[int, ...] = (16, 64, 128, 128)) -> nn.Sequential:
    """A small CNN that trains quickly on a CPU (about 3,000 img/s on two cores at 32 px).

    Conv-BN-ReLU stages with a 2x2 max-pool between them (ceil mode, so even 4 px images pass), then global average pooling. The first
    stage is kept narrow because at full resolution its activations, not its arithmetic, dominate
    the time. Images larger than 32 px first pass a patchifying stem (kernel = stride =
    image_size // 32), so the cost per image stays near the 32 px cost whatever the resolution.
    """
    stride = max(1, image_size // 32)
    layers = [conv_bn_relu(3, widths[0], kernel_size=stride if stride > 1 else 3, stride=stride)]
    for in_channels, out_channels in zip(widths, widths[1:]):
        layers += [nn.MaxPool2d(2, ceil_mode=True), conv_bn_relu(in_channels, out_channels)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[-1], num_classes))


def small_stem(out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(3, out_channels, kernel_size=3, stride=1, padding=1, bias=False)


def resnet18(num_classes: int, image_size: int) -> nn.Module:
    """torchvision's ResNet-18; up to 64 px a 3x3 stem and no max-pool."""
    model = tv.resnet18(weights=None, num_classes=num_classes)
    if image_size <= SMALL_IMAGE_MAX:
        model.conv1 = small_stem(64)
        model.maxpool = nn.Identity()
    return model


def densenet(num_classes: int, image_size: int) -> nn.Module:
    """torchvision's DenseNet-121; up to 64 px a 3x3 stem and no initial pooling."""
    model = tv.densenet121(weights=None, num_classes=num_classes)
    if image_size <= SMALL_IMAGE_MAX:
        model.features.conv0 = small_stem(64)
        model.features.pool0 = nn.Identity()
    return model


def googlenet(num_classes: int, image_size: int) -> nn.Module:
    """torchvision's GoogLeNet (Inception v1) without auxiliary heads.

    Up to 64 px the 7x7 stride-2 stem and the first two max-pools go, so a 32 px image reaches the
    last inception blocks at 8x8 rather than 1x1.
    """
    model = tv.GoogLeNet(num_classes=num_classes, aux_logits=False, transform_input=False, init_weights=True)
    if image_size <= SMALL_IMAGE_MAX:
        model.conv1 = BasicConv2d(3, 64, kernel_size=3, stride=1, padding=1)
        model.maxpool1 = nn.Identity()
        model.maxpool2 = nn.Identity()
    return model


_BUILDERS: dict[str, Callable[[int, int], nn.Module]] = {
    "convnet": convnet,
    "resnet18": resnet18,
    "densenet": densenet,
    "googlenet": googlenet,
}

#: The smallest image side (px) each model can run on: below it a pooling stage shrinks the image
#: to nothing. Measured by a forward pass at the sides around it (tests/test_hostile_sources.py).
MIN_IMAGE_SIZE: dict[str, int] = {
    "convnet": 1,
    "resnet18": 1,
    "densenet": 8,  # three 2x2 average-pooling transitions
    "googlenet": 2,
}


def names() -> list[str]:
    """The valid model names."""
    return list(_BUILDERS)


def check_image_size(model: str, size: int) -> None:
    """ValueError naming ``image_size``, the model and its minimum when ``model`` cannot run on
    ``size`` px images (or the model is unknown)."""
    pick(_BUILDERS, model, "model")
    least = MIN_IMAGE_SIZE[model]
    if size < least:
        raise ValueError(f"image_size={size} is too small for model {model!r}: it needs at least {least} px "
                         "(its pooling stages would shrink a smaller image to nothing)")


def build(name: str, num_classes: int, image_size: int) -> nn.Module:
    """The model called ``name`` for ``num_classes`` classes and square ``image_size`` px images."""
    builder = pick(_BUILDERS, name, "model")
    if num_classes < 1 or image_size < 1:
        raise ValueError(f"build({name!r}): num_classes and image_size must be >= 1, "
                         f"got {num_classes} and {image_size}")
    check_image_size(name, image_size)
    return builder(num_classes, image_size)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
