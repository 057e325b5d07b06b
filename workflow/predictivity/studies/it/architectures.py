"""Pure-torch copies of four torchvision image classifiers (used when torchvision is unavailable).

Why this module exists
----------------------
The PyPI ``torchvision`` wheels are built against the CUDA build of torch; beside the CPU build
of torch used here they fail at import time (``RuntimeError: operator torchvision::nms does not
exist``). :func:`predictivity.studies.it.networks.build_cnn` therefore uses torchvision when it
imports and these definitions otherwise.

Contract
--------
Each class reproduces torchvision's model of the same name (``torchvision.models.alexnet``,
``resnet18``, ``vgg11``, ``squeezenet1_1``; torchvision 0.2x source):

- **the same module tree and names** (``features.0``, ``layer1.0.conv1``, ``classifier.1`` …), so
  ``named_modules()`` and ``state_dict()`` keys are identical and a torchvision checkpoint
  (e.g. ``alexnet-owt-7be5be79.pth``) loads with ``load_state_dict(strict=True)``;
- **the same parameter count** (AlexNet 61,100,840; ResNet-18 11,689,512; VGG-11 132,863,336;
  SqueezeNet 1.1 1,235,496 — torchvision's published ``num_params``);
- **the same forward computation** (in-place ReLUs, ``torch.flatten(x, 1)`` before the
  classifier, dropout only in training mode);
- **the same random initialisation, in the same order**: modules are constructed in
  torchvision's order (so PyTorch's default ``reset_parameters`` draws the same numbers) and the
  explicit re-initialisation loops are copied (ResNet and VGG: Kaiming-normal fan-out convs,
  VGG linears N(0, 0.01²); SqueezeNet: Kaiming-uniform convs, final conv N(0, 0.01²); AlexNet:
  PyTorch defaults). Under the same ``torch.manual_seed`` the weights therefore equal
  torchvision's.

Only the four architectures the ``it`` study ships are defined; ``num_classes`` is fixed at
1000 (ImageNet), as in the published checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import init

__all__ = [
    "AlexNet",
    "ResNet",
    "BasicBlock",
    "VGG",
    "SqueezeNet",
    "Fire",
    "ARCHITECTURES",
    "alexnet",
    "resnet18",
    "vgg11",
    "squeezenet1_1",
]


# --------------------------------------------------------------------------------------------
# AlexNet ("One weird trick" variant, as torchvision)
# --------------------------------------------------------------------------------------------
class AlexNet(nn.Module):
    """torchvision ``AlexNet``: 5 conv layers (64-192-384-256-256) + 3 linear layers."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


# --------------------------------------------------------------------------------------------
# ResNet-18
# --------------------------------------------------------------------------------------------
def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(
        in_planes,
        out_planes,
        kernel_size=3,
        stride=stride,
        padding=1,
        groups=1,
        bias=False,
        dilation=1,
    )


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """torchvision ``BasicBlock``: conv3x3-BN-ReLU-conv3x3-BN, + identity/downsample, ReLU.

    Note that ``relu`` is called twice per forward pass (as in torchvision).
    """

    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """torchvision ``ResNet`` with :class:`BasicBlock` (``layers=(2, 2, 2, 2)`` = ResNet-18)."""

    def __init__(self, layers=(2, 2, 2, 2), num_classes: int = 1000) -> None:
        super().__init__()
        self.inplanes = 64
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * BasicBlock.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                init.constant_(m.weight, 1)
                init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * BasicBlock.expansion:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, planes * BasicBlock.expansion, stride),
                nn.BatchNorm2d(planes * BasicBlock.expansion),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * BasicBlock.expansion
        for _ in range(1, blocks):
            layers.append(BasicBlock(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


# --------------------------------------------------------------------------------------------
# VGG-11 (configuration "A", no batch norm)
# --------------------------------------------------------------------------------------------
_VGG11_CFG = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


def _vgg_features(cfg) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [
                nn.Conv2d(in_channels, int(v), kernel_size=3, padding=1),
                nn.ReLU(inplace=True),
            ]
            in_channels = int(v)
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """torchvision ``VGG`` (``features`` built from a configuration, 3 linear layers)."""

    def __init__(self, features: nn.Module, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                init.constant_(m.weight, 1)
                init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                init.normal_(m.weight, 0, 0.01)
                init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


# --------------------------------------------------------------------------------------------
# SqueezeNet 1.1
# --------------------------------------------------------------------------------------------
class Fire(nn.Module):
    """torchvision ``Fire``: 1×1 squeeze, then parallel 1×1 and 3×3 expands, concatenated."""

    def __init__(
        self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int
    ) -> None:
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [
                self.expand1x1_activation(self.expand1x1(x)),
                self.expand3x3_activation(self.expand3x3(x)),
            ],
            1,
        )


class SqueezeNet(nn.Module):
    """torchvision ``SqueezeNet`` version ``"1_1"``."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(64, 16, 64, 64),
            Fire(128, 16, 64, 64),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(128, 32, 128, 128),
            Fire(256, 32, 128, 128),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(256, 48, 192, 192),
            Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256),
            Fire(512, 64, 256, 256),
        )
        final_conv = nn.Conv2d(512, self.num_classes, kernel_size=1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1))
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.classifier(self.features(x))
        return torch.flatten(x, 1)


# --------------------------------------------------------------------------------------------
# constructors (torchvision's function names)
# --------------------------------------------------------------------------------------------
def alexnet() -> AlexNet:
    """AlexNet as ``torchvision.models.alexnet(weights=None)``."""
    return AlexNet()


def resnet18() -> ResNet:
    """ResNet-18 as ``torchvision.models.resnet18(weights=None)``."""
    return ResNet((2, 2, 2, 2))


def vgg11() -> VGG:
    """VGG-11 as ``torchvision.models.vgg11(weights=None)``."""
    return VGG(_vgg_features(_VGG11_CFG))


def squeezenet1_1() -> SqueezeNet:
    """SqueezeNet 1.1 as ``torchvision.models.squeezenet1_1(weights=None)``."""
    return SqueezeNet()


#: Architecture name → constructor (random init from torch's global RNG).
ARCHITECTURES = {
    "alexnet": alexnet,
    "resnet18": resnet18,
    "vgg11": vgg11,
    "squeezenet1_1": squeezenet1_1,
}
