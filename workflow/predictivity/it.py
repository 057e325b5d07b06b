"""The ``it`` study kind: images, CNN activations, simulated macaque IT (after Elmoznino & Bonner 2024).

Pure functions, no file I/O apart from reading the images that ship inside scikit-image and
scikit-learn (or a user's image folder, whose paths the caller passes); the caller writes every
output.

Stages (DESIGN.md §2 and §5)
----------------------------
1. stimuli      :func:`make_images` — seeded crops/flips/rotations/grey versions of the sample
                images bundled with scikit-image and scikit-learn (no download), with stable ids
                ``img0000 …`` and a ``group`` column (the source image) for grouped CV folds;
                or :func:`load_image_folder` for a user's folder of images.
2. recordings   :func:`simulate_it` — offline stand-in for MajajHong2015 IT sites: a fixed random
                sparse nonlinear readout of a held-out V1-like feature model (Gabor energy and
                colour-opponent channels pooled on a coarse grid; NOT a candidate network)
                plus Gaussian noise whose s.d. differs across sites.
3. activations  :func:`build_cnn` + :func:`cnn_activations` — torchvision's AlexNet, ResNet-18,
                VGG-11 and SqueezeNet 1.1, random init under a seed (offline: ImageNet weights
                need a download, so the offline demo has untrained networks only), per-layer
                activations by forward hooks, global average pooling or flattening with a
                seeded Gaussian random projection (:func:`random_projection`).

When ``torchvision`` imports, :func:`build_cnn` uses ``torchvision.models.get_model``; otherwise
the architecture-identical definitions of :mod:`predictivity.cnn` (same module names, same
parameter counts, same initialisation under the same seed — so results do not depend on which
is used). The PyPI torchvision wheels fail to import beside the CPU build of torch
(``operator torchvision::nms does not exist``), which is why the fallback exists.

Defaults are collected in :data:`DEFAULTS`, whose keys mirror the study's config keys; every
function's default argument is taken from it.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from predictivity.errors import InputError
from predictivity.studies.noise import repetition_noise
from predictivity.studies.noise import zscore as _zscore

#: Defaults of the ``it`` study kind; keys mirror the config keys of a ``kind: it`` study.
#:
#: - ``n_images``: number of generated stimuli (:func:`make_images`).
#: - ``image_size``: side in pixels of every (square, RGB) stimulus; also used for a user folder.
#: - ``image_seed``: seed of the crops/transforms of :func:`make_images`.
#: - ``image_folder``: ``None`` = generate the sample-image stimuli; a folder path = use
#:   :func:`load_image_folder` on it instead.
#: - ``arch``: network architecture, one of :data:`ARCHITECTURES`.
#: - ``weights``: ``None`` = random initialisation under ``init_seed`` (the offline demo); a
#:   local ``.pth``/``.pt`` state-dict file; or, with torchvision importable and internet, a
#:   torchvision weights name such as ``"IMAGENET1K_V1"`` / ``"DEFAULT"`` (passed as-is to
#:   ``torchvision.models.get_model``).
#: - ``init_seed``: torch seed of the random initialisation (ignored when weights are given).
#: - ``layers``: module names whose outputs are recorded; ``None`` = :data:`DEFAULT_LAYERS`.
#: - ``pooling``: ``"gap"`` (global average over spatial positions) or ``"none"`` (flatten).
#: - ``max_units``: ``None`` = keep every unit; an integer k = a layer with more than k units is
#:   reduced by a seeded Gaussian random projection to k units (Elmoznino & Bonner used 1024
#:   with unpooled layers).
#: - ``projection_seed``: seed of that projection (the same matrix rows for every layer).
#: - ``batch_size``: images per forward pass.
#: - ``threads``: torch intra-op threads for the forward pass (the rule's ``threads:``).
#: - ``simulation``: options of :func:`simulate_it` (n_sites, n_repetitions, noise,
#:   noise_spread, seed, feature_size, sparsity, gain).
DEFAULTS: dict = {
    "n_images": 300,
    "image_size": 224,
    "image_seed": 0,
    "image_folder": None,
    "arch": "alexnet",
    "weights": None,
    "init_seed": 0,
    "layers": None,
    "pooling": "gap",
    "max_units": None,
    "projection_seed": 0,
    "batch_size": 16,
    "threads": 1,
    "simulation": {
        "n_sites": 168,
        "n_repetitions": 2,
        "noise": 1.0,
        "noise_spread": 2.0,
        "seed": 0,
        "feature_size": 64,
        "sparsity": 0.05,
        "gain": 2.0,
    },
}

#: Architectures :func:`build_cnn` knows (torchvision names).
ARCHITECTURES = ("alexnet", "resnet18", "vgg11", "squeezenet1_1")

#: Parameter counts of the four architectures (torchvision's published ``num_params``).
N_PARAMETERS = {
    "alexnet": 61_100_840,
    "resnet18": 11_689_512,
    "vgg11": 132_863_336,
    "squeezenet1_1": 1_235_496,
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
}

#: ImageNet channel mean and s.d. (of RGB values in [0, 1]) used by torchvision's weights.
IMAGENET_NORMALIZE = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

POOLINGS = ("gap", "none")

#: Rows of the random projection matrix drawn per chunk (see :func:`random_projection`).
PROJECTION_CHUNK_ROWS = 8192

#: Sample images used by :func:`make_images`, in this order: name → (package, loader).
#: Every one is bundled inside the installed package (scikit-image ``skimage/data/*.png|jpg``,
#: scikit-learn ``sklearn/datasets/images/*.jpg``) — none needs pooch or a download.
#: Greyscale originals: brick, camera, clock, coins, grass, gravel, horse, moon, page.
SAMPLE_SOURCES: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage", "astronaut"),
    "brick": ("skimage", "brick"),
    "camera": ("skimage", "camera"),
    "chelsea": ("skimage", "chelsea"),
    "clock": ("skimage", "clock"),
    "coffee": ("skimage", "coffee"),
    "coins": ("skimage", "coins"),
    "colorwheel": ("skimage", "colorwheel"),
    "grass": ("skimage", "grass"),
    "gravel": ("skimage", "gravel"),
    "horse": ("skimage", "horse"),
    "hubble_deep_field": ("skimage", "hubble_deep_field"),
    "immunohistochemistry": ("skimage", "immunohistochemistry"),
    "moon": ("skimage", "moon"),
    "motorcycle": ("skimage", "stereo_motorcycle"),
    "page": ("skimage", "page"),
    "retina": ("skimage", "retina"),
    "rocket": ("skimage", "rocket"),
    "china": ("sklearn", "china.jpg"),
    "flower": ("sklearn", "flower.jpg"),
}

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


# --------------------------------------------------------------------------------------------
# 1. stimuli
# --------------------------------------------------------------------------------------------
@functools.cache
def load_sample_image(name: str) -> np.ndarray:
    """One bundled sample image as uint8 RGB (H × W × 3); greyscale sources are replicated to 3
    channels, the binary ``horse`` silhouette becomes 0/255, alpha channels are dropped.

    Raises
    ------
    InputError
        For a name not in :data:`SAMPLE_SOURCES`, or when scikit-image is not installed.
    """
    if name not in SAMPLE_SOURCES:
        raise InputError(
            "images",
            f"unknown sample image {name!r}; known: {', '.join(SAMPLE_SOURCES)}.",
            "use one of the known names.",
        )
    package, loader = SAMPLE_SOURCES[name]
    if package == "skimage":
        try:
            import skimage.data as skdata
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise InputError(
                "images",
                "scikit-image is not installed (it ships the sample images of the `it` study).",
                "pip install scikit-image",
            ) from exc
        img = getattr(skdata, loader)()
        if isinstance(img, tuple):  # stereo_motorcycle → (left, right, disparity)
            img = img[0]
    else:
        from sklearn.datasets import load_sample_image as sk_load

        img = sk_load(loader)
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    img = img.astype(np.uint8, copy=False)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = np.ascontiguousarray(img[:, :, :3])
    img.setflags(write=False)
    return img


@functools.cache
def _sample_is_grey(name: str) -> bool:
    return _is_grey(load_sample_image(name))


def _is_grey(img: np.ndarray) -> bool:
    return bool(
        np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2])
    )


def _to_grey(img: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma, rounded, replicated to 3 channels (uint8)."""
    luma = img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    g = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    return np.repeat(g[:, :, None], 3, axis=2)


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    pil = Image.fromarray(img)
    if pil.size != (size, size):
        pil = pil.resize((size, size), Image.Resampling.BICUBIC)  # antialiased when shrinking
    return np.asarray(pil, dtype=np.uint8)


def _id_width(n: int) -> int:
    return max(4, len(str(max(n - 1, 0))))


def make_images(
    n_images: int = DEFAULTS["n_images"],
    size: int = DEFAULTS["image_size"],
    seed: int = DEFAULTS["image_seed"],
    min_scale: float = 0.35,
    p_grey: float = 0.2,
    source: str = "images",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Generate the offline stimulus set: seeded transforms of bundled sample images.

    Image i (0-based) is made from source ``s = list(SAMPLE_SOURCES)[i mod 20]`` (round-robin,
    so every source appears ⌊n/20⌋ or ⌈n/20⌉ times) with its own generator
    ``numpy.random.default_rng([seed, i])`` — so image i does not depend on ``n_images``, and
    ``make_images(n)[0][:m]`` equals ``make_images(m)[0]``. From the source (H × W RGB):

    1. crop: a square of side c = round(f · min(H, W)), f = exp(U(ln min_scale, 0)) (log-uniform
       scale between ``min_scale`` and 1), at a uniform random position;
    2. resize to ``size`` × ``size`` (PIL bicubic, antialiased when shrinking);
    3. rotate by k·90°, k uniform in {0, 1, 2, 3} (counter-clockwise, ``np.rot90``);
    4. mirror left-right with probability 1/2;
    5. convert to grey (BT.601 luma, replicated to 3 channels) with probability ``p_grey``
       (the draw is made for grey sources too, so the random stream is the same for all).

    Parameters
    ----------
    n_images : int
        Number of stimuli P ≥ 1.
    size : int
        Side of the square output images in pixels (≥ 16).
    seed : int
        Seed of all crops and transforms.
    min_scale : float
        Smallest crop side as a fraction of the source's shorter side, in (0, 1].
    p_grey : float
        Probability of a grey version, in [0, 1].
    source : str
        Config key named in error messages.

    Returns
    -------
    images : uint8 array (P × size × size × 3), RGB.
    stimuli : DataFrame with P rows, in image order: ``stimulus_id`` (``img0000`` …, stable),
        ``source`` (sample image name), ``group`` (= ``source``; use it to keep all crops of one
        photograph in one CV fold), ``transform`` (human-readable description), ``crop_x``,
        ``crop_y``, ``crop_size`` (pixels of the source), ``scale`` (f), ``rot90`` (k),
        ``flip`` (bool), ``grey`` (bool: the stimulus is achromatic, by conversion or because
        the source is), ``source_height``, ``source_width``.
    """
    n, size = int(n_images), int(size)
    if n < 1:
        raise InputError(
            f"{source}.n_images", f"must be ≥ 1, got {n_images}.", "set a positive integer."
        )
    if size < 16:
        raise InputError(
            f"{source}.image_size", f"must be ≥ 16 pixels, got {size}.", "use e.g. 224."
        )
    if not 0 < min_scale <= 1 or not 0 <= p_grey <= 1:
        raise InputError(
            source, "min_scale must lie in (0, 1] and p_grey in [0, 1].", "fix the image options."
        )
    names = list(SAMPLE_SOURCES)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    rows = []
    for i in range(n):
        name = names[i % len(names)]
        src = load_sample_image(name)
        H, W = src.shape[:2]
        rng = np.random.default_rng([int(seed), i])
        f = float(np.exp(rng.uniform(np.log(min_scale), 0.0)))
        c = max(1, min(min(H, W), int(round(f * min(H, W)))))
        y0 = int(rng.integers(0, H - c + 1))
        x0 = int(rng.integers(0, W - c + 1))
        k = int(rng.integers(0, 4))
        flip = bool(rng.random() < 0.5)
        to_grey = bool(rng.random() < p_grey)
        img = _resize(np.ascontiguousarray(src[y0 : y0 + c, x0 : x0 + c]), size)
        img = np.rot90(img, k)
        if flip:
            img = img[:, ::-1]
        source_grey = _sample_is_grey(name)
        if to_grey and not source_grey:
            img = _to_grey(img)
        images[i] = img
        grey = to_grey or source_grey
        rows.append(
            {
                "source": name,
                "group": name,
                "transform": (
                    f"crop {c}px at (x={x0}, y={y0}) of {W}x{H}, resize {size}px, "
                    f"rot90 x{k}, {'flip' if flip else 'no flip'}, "
                    f"{'grey' if grey else 'colour'}"
                ),
                "crop_x": x0,
                "crop_y": y0,
                "crop_size": c,
                "scale": f,
                "rot90": k,
                "flip": flip,
                "grey": grey,
                "source_height": H,
                "source_width": W,
            }
        )
    stimuli = pd.DataFrame(rows)
    width = _id_width(n)
    stimuli.insert(0, "stimulus_id", [f"img{i:0{width}d}" for i in range(n)])
    return images, stimuli


def load_image_folder(
    paths,
    size: int = DEFAULTS["image_size"],
    source: str | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Load a user's images: RGB, shorter side resized to ``size`` then centre-cropped square.

    Parameters
    ----------
    paths : str, Path, or sequence of them
        A folder (its image files directly inside it, not in sub-folders, sorted by file name),
        or a list of image files and/or folders (kept in the given order; folders expanded as
        above). Image files are those with extensions :data:`IMAGE_EXTENSIONS` (any case).
    size : int
        Output side in pixels. Each image is converted to RGB (alpha dropped, palettes and grey
        expanded), scaled so its shorter side is ``size`` (PIL bicubic, antialiased) and
        centre-cropped (``PIL.ImageOps.fit``), like torchvision's Resize + CenterCrop.
    source : str, optional
        Config key or label named in errors (default: the folder path).

    Returns
    -------
    images : uint8 array (P × size × size × 3).
    stimuli : DataFrame: ``stimulus_id`` (the file name without extension — so ids match the
        user's recordings), ``file`` (path as given/expanded), ``source`` (= file name),
        ``group`` (= ``stimulus_id``: every image its own CV group), ``transform``
        (``"fit {size}px from {W}x{H}"``), ``grey`` (bool), ``width``, ``height`` (original).

    Raises
    ------
    InputError
        A folder that does not exist or holds no image file (naming the folder); a file that
        does not exist or cannot be decoded (naming the file); two files with the same name stem
        (ids would collide).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    entries = [Path(p) for p in paths]
    label = source or (str(entries[0]) if len(entries) == 1 else "image_folder")
    if not entries:
        raise InputError(
            label, "no image folder or files given.", "set the study's `image_folder`."
        )
    files: list[Path] = []
    for p in entries:
        if p.is_dir():
            found = sorted(
                f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
            )
            if not found:
                raise InputError(
                    str(p),
                    "the image folder contains no image files "
                    f"({', '.join(IMAGE_EXTENSIONS)}; sub-folders are not searched).",
                    "put the stimulus images directly in this folder or point `image_folder` "
                    "at the folder that holds them.",
                )
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(
                str(p), "no such image folder or file.", "check the `image_folder` path."
            )
    ids = [f.stem for f in files]
    seen: dict[str, list[str]] = {}
    for i, f in zip(ids, files):
        seen.setdefault(i, []).append(str(f))
    dups = {k: v for k, v in seen.items() if len(v) > 1}
    if dups:
        desc = "; ".join(f"{k}: {', '.join(v)}" for k, v in list(dups.items())[:10])
        raise InputError(
            label,
            f"{len(dups)} stimulus id(s) occur more than once (ids are file "
            f"names without extension): {desc}.",
            "rename the files so names are unique.",
        )
    size = int(size)
    images = np.empty((len(files), size, size, 3), dtype=np.uint8)
    rows = []
    for k, f in enumerate(files):
        try:
            with Image.open(f) as im:
                W, H = im.size
                rgb = im.convert("RGB")
                rgb = ImageOps.fit(
                    rgb, (size, size), method=Image.Resampling.BICUBIC, centering=(0.5, 0.5)
                )
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise InputError(
                str(f),
                f"cannot be read as an image ({type(exc).__name__}: {exc}).",
                "replace or remove the file.",
            ) from exc
        arr = np.asarray(rgb, dtype=np.uint8)
        images[k] = arr
        rows.append(
            {
                "stimulus_id": ids[k],
                "file": str(f),
                "source": f.name,
                "group": ids[k],
                "transform": f"fit {size}px from {W}x{H}",
                "grey": _is_grey(arr),
                "width": W,
                "height": H,
            }
        )
    return images, pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# 3. networks and activations
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _torchvision():
    """The ``torchvision`` module if it imports and works, else ``None`` (cached)."""
    try:
        import torchvision  # noqa: F401
        import torchvision.models  # noqa: F401
    except Exception:  # a broken install raises RuntimeError, not ImportError
        return None
    return torchvision


def cnn_backend() -> str:
    """``"torchvision <version>"`` when torchvision is usable, else ``"predictivity.cnn"``."""
    tv = _torchvision()
    return f"torchvision {tv.__version__}" if tv is not None else "predictivity.cnn"


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


def build_cnn(
    arch: str = DEFAULTS["arch"],
    seed: int = DEFAULTS["init_seed"],
    weights=DEFAULTS["weights"],
    source: str = "arch",
):
    """Build an image network in eval mode (float32, CPU).

    Parameters
    ----------
    arch : str
        One of :data:`ARCHITECTURES`: ``alexnet``, ``resnet18``, ``vgg11``, ``squeezenet1_1``
        (torchvision names; ImageNet 1000-class heads).
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
        which downloads the checkpoint — this needs torchvision and internet.
    source : str
        Config key named in error messages.

    Raises
    ------
    InputError
        Unknown ``arch``; a weights file that is missing, unreadable or does not match the
        architecture; a weights name while torchvision is not importable.
    """
    import torch

    from predictivity import cnn

    _check_arch(arch, source)
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
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if tv is not None and not local:
            model = tv.models.get_model(arch, weights=weights)
        elif tv is not None:
            model = tv.models.get_model(arch, weights=None)
        else:
            model = cnn.ARCHITECTURES[arch]()
    if local:
        path = Path(str(weights))
        if not path.is_file():
            raise InputError(
                f"{source} weights",
                f"weights file {path} does not exist.",
                "give the path of a torchvision state-dict (.pth) file, or weights: null.",
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
                f"give a torchvision-format state dict of {arch}.",
            ) from exc
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


def _projection_chunk(seed: int, chunk: int, rows: int, n_out: int):
    """Rows ``chunk·C … chunk·C+rows−1`` of the projection matrix (torch float32 tensor)."""
    import torch

    state = np.random.SeedSequence([int(seed), int(chunk)]).generate_state(1, np.uint64)[0]
    g = torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)
    return torch.randn(rows, n_out, generator=g, dtype=torch.float32).mul_(1.0 / math.sqrt(n_out))


def projection_matrix(
    n_in: int, n_out: int, seed: int = 0, chunk_rows: int = PROJECTION_CHUNK_ROWS
) -> np.ndarray:
    """The explicit Gaussian random projection matrix R (n_in × n_out, float32).

    R_ij ~ N(0, 1/n_out) i.i.d. Row block c (rows c·C … c·C+C−1, C = ``chunk_rows``) is drawn
    by ``torch.randn`` (float32) from a ``torch.Generator`` seeded with
    ``SeedSequence([seed, c]).generate_state(1, uint64)[0]`` (top bit cleared) and multiplied
    in place by 1/sqrt(n_out); so any block can
    be generated alone and R for a smaller ``n_in`` is the top rows of R for a larger one.
    Only for small problems and tests; :func:`random_projection` never materialises R.
    """
    blocks = [
        _projection_chunk(seed, c, min(chunk_rows, n_in - c * chunk_rows), n_out).numpy()
        for c in range(math.ceil(n_in / chunk_rows))
    ]
    return np.concatenate(blocks, axis=0) if blocks else np.zeros((0, n_out), np.float32)


def random_projection(
    x: np.ndarray,
    n_out: int,
    seed: int = DEFAULTS["projection_seed"],
    chunk_rows: int = PROJECTION_CHUNK_ROWS,
) -> np.ndarray:
    """Gaussian random projection X R, computed in row blocks of R (bounded memory).

    X ∈ R^{n × D} → X R ∈ R^{n × k} with R as in :func:`projection_matrix` (entries N(0, 1/k)),
    so E‖(x−y)R‖² = ‖x−y‖²: pairwise distances are preserved up to a relative error of order
    sqrt(2/k) (Johnson–Lindenstrauss). Memory: one C × k block of R (32 MiB for C = 8192,
    k = 1024) plus the n × k float64 accumulator. Deterministic for a given (seed, chunk_rows).

    Parameters
    ----------
    x : array (n × D)
    n_out : int
        k ≥ 1.
    seed : int
        Projection seed.
    chunk_rows : int
        C, rows of R per block (part of the definition of R; keep the default).

    Returns
    -------
    float32 array (n × k).
    """
    import torch

    x = np.asarray(x, dtype=np.float32)
    n, D = x.shape
    out = torch.zeros(n, int(n_out), dtype=torch.float64)
    xt = torch.from_numpy(np.ascontiguousarray(x))
    for c in range(math.ceil(D / chunk_rows)):
        lo, hi = c * chunk_rows, min(D, (c + 1) * chunk_rows)
        out += (xt[:, lo:hi] @ _projection_chunk(seed, c, hi - lo, int(n_out))).double()
    return out.numpy().astype(np.float32)


class _LayerStore:
    """Collects one layer's per-batch outputs; projects buffered rows when they exceed a budget."""

    def __init__(self, max_units, seed, buffer_bytes):
        self.max_units, self.seed, self.buffer_bytes = max_units, seed, buffer_bytes
        self.buffer: list[np.ndarray] = []
        self.done: list[np.ndarray] = []
        self.units = None

    def add(self, a: np.ndarray) -> None:
        self.units = a.shape[1]
        self.buffer.append(a)
        if self._project and sum(b.nbytes for b in self.buffer) >= self.buffer_bytes:
            self.flush()

    @property
    def _project(self) -> bool:
        return self.max_units is not None and self.units is not None and self.units > self.max_units

    def flush(self) -> None:
        if not self.buffer:
            return
        block = np.concatenate(self.buffer, axis=0)
        self.buffer = []
        if self._project:
            block = random_projection(block, self.max_units, self.seed)
        self.done.append(block)

    def result(self) -> np.ndarray:
        self.flush()
        return np.ascontiguousarray(np.concatenate(self.done, axis=0), dtype=np.float32)


class _StopForward(Exception):
    pass


def cnn_activations(
    model,
    images: np.ndarray,
    layers: Sequence[str] | None = None,
    pooling: str = DEFAULTS["pooling"],
    max_units: int | None = DEFAULTS["max_units"],
    projection_seed: int = DEFAULTS["projection_seed"],
    batch_size: int = DEFAULTS["batch_size"],
    threads: int = DEFAULTS["threads"],
    normalize=IMAGENET_NORMALIZE,
    arch: str | None = None,
    projection_buffer_mb: float = 256.0,
    source: str = "layers",
) -> dict[str, np.ndarray]:
    """Per-layer activations of an image network.

    Input: x = (image/255 − mean) / std per RGB channel (NCHW float32), mean/std =
    ``normalize`` (ImageNet's by default; ``None`` = only /255). The model runs in eval mode
    under ``torch.no_grad()`` with ``torch.set_num_threads(threads)`` (restored afterwards); a
    forward hook on each requested module (``model.get_submodule(name)``) takes its output
    A (batch × C × H × W for convolutional stages, batch × C for linear ones) and immediately
    reduces it:

    - ``pooling="gap"``: a_c = mean over all positions (dims ≥ 2) of channel c → C units.
      2-D outputs are kept as they are.
    - ``pooling="none"``: flatten → C·H·W units (C-major, as ``torch.flatten(A, 1)``).

    Then, if ``max_units`` is set and a layer has more than ``max_units`` units, its n × D
    matrix is replaced by X R with the Gaussian random projection R (D × max_units, entries
    N(0, 1/max_units), seeded by ``projection_seed``; :func:`random_projection`), applied to
    blocks of at most ``projection_buffer_mb`` of buffered rows so memory stays bounded. Layers
    with ≤ ``max_units`` units are left unprojected.

    Hooks (not ``create_feature_extractor``) are used with either backend, so both give the
    same numbers. Forward passes stop as soon as every requested layer has been recorded.

    Parameters
    ----------
    model : torch.nn.Module
        From :func:`build_cnn` (any image ``nn.Module`` works).
    images : array (P × H × W × 3)
        uint8 RGB, or float in [0, 1].
    layers : sequence of str, optional
        Module names; ``None`` → ``DEFAULT_LAYERS[arch]``. A module that runs more than once per
        forward pass (e.g. ResNet's ``layer1.0.relu``) is ambiguous and is rejected.
    pooling : {"gap", "none"}
    max_units : int or None
    projection_seed : int
    batch_size : int
        Images per forward pass (≥ 1).
    threads : int
        torch intra-op threads (≥ 1).
    normalize : (mean, std) or None
        Per-channel RGB mean and s.d. in [0, 1] units.
    arch : str, optional
        Architecture name, only to look up default layers.
    projection_buffer_mb : float
        Buffered activations per projected layer before a projection step (memory bound).
    source : str
        Config key named in layer errors.

    Returns
    -------
    dict layer name → float32 array (P × units), in the order of ``layers``; row p is image p.

    Raises
    ------
    InputError
        Bad images array, unknown ``pooling``, invalid/unknown/duplicated/re-used layer names,
        ``max_units`` < 1.
    """
    import torch

    if pooling not in POOLINGS:
        raise InputError(
            "pooling",
            f"unknown pooling {pooling!r}; use one of {', '.join(POOLINGS)}.",
            "set pooling to gap or none.",
        )
    if max_units is not None and int(max_units) < 1:
        raise InputError("max_units", f"must be ≥ 1 or null, got {max_units}.", "set e.g. 1024.")
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[0] < 1:
        raise InputError(
            "images",
            f"expected an array P × H × W × 3 (RGB), got shape {images.shape}.",
            "use make_images() or load_image_folder().",
        )
    layers = resolve_layers(model, layers, arch, source)
    max_units = None if max_units is None else int(max_units)
    batch_size, threads = max(1, int(batch_size)), max(1, int(threads))

    if normalize is not None:
        mean = torch.tensor(normalize[0], dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(normalize[1], dtype=torch.float32).view(1, 3, 1, 1)
    scale = 255.0 if images.dtype == np.uint8 else 1.0

    stores = {
        name: _LayerStore(max_units, projection_seed, projection_buffer_mb * 2**20)
        for name in layers
    }
    current: dict[str, np.ndarray] = {}
    calls: dict[str, int] = {}
    state = {"early_stop": False}

    def make_hook(name):
        def hook(_module, _inputs, output):
            calls[name] = calls.get(name, 0) + 1
            if not isinstance(output, torch.Tensor):
                raise InputError(
                    source,
                    f"layer {name!r} returns {type(output).__name__}, not a tensor.",
                    "choose a module whose output is a single tensor.",
                )
            a = output.detach()
            if pooling == "gap" and a.ndim > 2:
                a = a.mean(dim=tuple(range(2, a.ndim)))
            else:
                a = torch.flatten(a, 1) if a.ndim > 1 else a[:, None]
            current[name] = a.to(torch.float32).numpy().copy()
            if state["early_stop"] and len(current) == len(layers):
                raise _StopForward

        return hook

    handles = [model.get_submodule(name).register_forward_hook(make_hook(name)) for name in layers]
    old_threads = torch.get_num_threads()
    was_training = model.training
    torch.set_num_threads(threads)
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, images.shape[0], batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
                x = batch.permute(0, 3, 1, 2).to(torch.float32).div_(scale)
                if normalize is not None:
                    x = (x - mean) / std
                current.clear()
                calls.clear()
                try:
                    model(x)
                except _StopForward:
                    pass
                if start == 0:
                    reused = [n for n, c in calls.items() if c > 1]
                    if reused:
                        raise InputError(
                            source,
                            f"module(s) {', '.join(map(repr, reused))} run more than "
                            "once per forward pass, so their output is ambiguous.",
                            "record the enclosing block instead (e.g. 'layer1.0' rather than "
                            "'layer1.0.relu').",
                        )
                    missing = [n for n in layers if n not in current]
                    if missing:
                        raise InputError(
                            source,
                            f"layer(s) {', '.join(map(repr, missing))} never run in "
                            "the forward pass.",
                            "choose modules that the forward pass uses.",
                        )
                    state["early_stop"] = True
                for name in layers:
                    stores[name].add(current[name])
    finally:
        for h in handles:
            h.remove()
        torch.set_num_threads(old_threads)
        model.train(was_training)
    return {name: stores[name].result() for name in layers}


# --------------------------------------------------------------------------------------------
# 2. simulated IT recordings
# --------------------------------------------------------------------------------------------


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


#: Gabor wavelengths (pixels at ``feature_size`` = 64; scaled with it), orientations, grid.
_GABOR_WAVELENGTHS = (4.0, 8.0, 16.0)
_N_ORIENTATIONS = 4
_GRID = 4


def v1_features(
    images: np.ndarray, feature_size: int = DEFAULTS["simulation"]["feature_size"], batch: int = 64
) -> tuple[np.ndarray, list[str]]:
    """The held-out feature model of :func:`simulate_it` (numpy only; no learned parameters).

    Each image is resized to S × S (S = ``feature_size``, PIL bilinear, antialiased), scaled to
    [0, 1], and split into luminance L = 0.299R + 0.587G + 0.114B and colour-opponent channels
    RG = R − G and BY = B − (R + G)/2. Filtering is done in the Fourier domain (periodic
    boundary). Maps (K = 46):

    - Gabor bank on L (per-image mean removed): wavelengths λ ∈ {4, 8, 16}·S/64 px, 4
      orientations θ ∈ {0°, 45°, 90°, 135°}; each filter is a one-sided Gaussian in frequency,
      centre f₀ = (cos θ, sin θ)/λ, s.d. 0.4/λ (≈ 1.3 octaves), giving a complex response z:
      even simple cells [Re z]₊ and [−Re z]₊, complex cell |z| → 3 × 4 × 3 = 36 maps;
    - colour opponency: RG and BY low-passed by Gaussians of s.d. 2 and 4 px (·S/64),
      ON [·]₊ and OFF [−·]₊ → 8 maps;
    - luminance centre–surround: difference of Gaussians (s.d. 1 and 3 px ·S/64), ON/OFF → 2.

    Every map goes through a compressive square root, then is average-pooled over a 4 × 4 grid
    of equal cells and over the whole image → K·(16 + 1) = 782 features per image.

    Returns
    -------
    features : float64 array (P × 782), not standardised.
    names : list of 782 feature names (``"gabor_l8_o45_cplx@r1c2"`` …, ``"…@all"``).
    """
    from PIL import Image

    S = int(feature_size)
    if S < _GRID * 4:
        raise InputError(
            "simulation.feature_size", f"must be ≥ {_GRID * 4}, got {feature_size}.", "use e.g. 64."
        )
    S = S - S % _GRID
    f = np.fft.fftfreq(S)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    r = S / 64.0
    names = []
    gabors = []
    for lam in _GABOR_WAVELENGTHS:
        for k in range(_N_ORIENTATIONS):
            th = np.pi * k / _N_ORIENTATIONS
            f0 = 1.0 / (lam * r)
            sd = 0.4 / (lam * r)
            H = np.exp(-((fx - f0 * np.cos(th)) ** 2 + (fy - f0 * np.sin(th)) ** 2) / (2 * sd**2))
            H[0, 0] = 0.0
            gabors.append(H * 2.0)
            deg = int(round(np.degrees(th)))
            names += [
                f"gabor_l{int(lam)}_o{deg}_{kind}" for kind in ("even_on", "even_off", "cplx")
            ]
    blur = {s: np.exp(-2 * np.pi**2 * (s * r) ** 2 * (fx**2 + fy**2)) for s in (1.0, 2.0, 3.0, 4.0)}
    for ch in ("rg", "by"):
        for s in (2, 4):
            names += [f"{ch}_s{s}_on", f"{ch}_s{s}_off"]
    names += ["dog_on", "dog_off"]
    K = len(names)
    g, cell = _GRID, S // _GRID
    P = images.shape[0]
    out = np.empty((P, K * (g * g + 1)))
    for start in range(0, P, batch):
        chunk = images[start : start + batch]
        x = (
            np.stack(
                [
                    np.asarray(
                        Image.fromarray(np.asarray(im, dtype=np.uint8)).resize(
                            (S, S), Image.Resampling.BILINEAR
                        ),
                        dtype=np.float64,
                    )
                    for im in chunk
                ]
            )
            / 255.0
        )
        L = x @ np.array([0.299, 0.587, 0.114])
        RG = x[..., 0] - x[..., 1]
        BY = x[..., 2] - 0.5 * (x[..., 0] + x[..., 1])
        Lf = np.fft.fft2(L - L.mean(axis=(1, 2), keepdims=True))
        maps = []
        for H in gabors:
            z = np.fft.ifft2(Lf * H)
            maps += [np.maximum(z.real, 0), np.maximum(-z.real, 0), np.abs(z)]
        for C in (RG, BY):
            Cf = np.fft.fft2(C)
            for s in (2.0, 4.0):
                b = np.fft.ifft2(Cf * blur[s]).real
                maps += [np.maximum(b, 0), np.maximum(-b, 0)]
        d = np.fft.ifft2(Lf * (blur[1.0] - blur[3.0])).real
        maps += [np.maximum(d, 0), np.maximum(-d, 0)]
        m = np.sqrt(np.stack(maps, axis=1))  # (b, K, S, S)
        b = m.shape[0]
        grid = m.reshape(b, K, g, cell, g, cell).mean(axis=(3, 5)).reshape(b, K * g * g)
        glob = m.mean(axis=(2, 3))
        out[start : start + b] = np.concatenate([grid, glob], axis=1)
    cells = [f"@r{i}c{j}" for i in range(g) for j in range(g)]
    full_names = [f"{n}{c}" for n in names for c in cells] + [f"{n}@all" for n in names]
    return out, full_names


def simulate_it(
    images: np.ndarray,
    n_sites: int = DEFAULTS["simulation"]["n_sites"],
    n_repetitions: int = DEFAULTS["simulation"]["n_repetitions"],
    noise: float = DEFAULTS["simulation"]["noise"],
    seed: int = DEFAULTS["simulation"]["seed"],
    noise_spread: float = DEFAULTS["simulation"]["noise_spread"],
    feature_size: int = DEFAULTS["simulation"]["feature_size"],
    sparsity: float = DEFAULTS["simulation"]["sparsity"],
    gain: float = DEFAULTS["simulation"]["gain"],
    source: str = "simulation",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Simulated IT multi-unit sites, from a feature model that is not a candidate network.

    Generative model (P images, N = n_sites, R = n_repetitions; randomness from
    ``numpy.random.default_rng`` streams spawned from ``seed``: one for the readout, one for the
    noise, so changing R leaves the noiseless signal unchanged):

    1. Features F ∈ R^{P×782} (:func:`v1_features`): a fixed V1-like bank — Gabor simple and
       complex cells at 3 scales × 4 orientations, colour-opponent and centre–surround
       channels, rectified, square-root compressed, averaged over a 4 × 4 grid and the whole
       image. Every column is z-scored over the P images (so the signal depends on the whole
       stimulus set).
    2. Sparse random readout: site n draws an input set S_n (each feature independently with
       probability ``sparsity``; at least one) and weights w_n ~ N(0, 1) on S_n;
       u_n = F w_n, z-scored over images.
    3. Nonlinearity: s_n = softplus(gain · u_n + b_n), b_n ~ N(0, 1) (a rectifying, site-
       specific threshold), z-scored over images (signal variance 1).
    4. Noise: σ_n = noise · noise_spread^{v_n}, v_n ~ Uniform(−1, 1) (log-uniform between
       noise/noise_spread and noise·noise_spread), so reliabilities vary across sites;
       y_{p,n,r} = s_{p,n} + σ_n ε_{p,n,r}, ε ~ N(0, 1) independent per repetition.

    Nothing here was tuned to favour any network: the features are hand-built filters with no
    learned or shared parameters, and the readout is random. It is a *V1-like* code read out
    nonlinearly, not a model of IT selectivity, so expect early-to-middle CNN layers (oriented,
    colour-sensitive, moderately pooled) to predict it best — the demo tests the regression
    machinery and the R² ~ log PR relation, not claims about IT.

    Parameters
    ----------
    images : array (P × H × W × 3), uint8 RGB (from :func:`make_images` / :func:`load_image_folder`).
    n_sites, n_repetitions : int
        N ≥ 1 and R ≥ 1 (R ≥ 2 for split-half reliability downstream). Default N = 168, the
        number of IT sites in MajajHong2015.
    noise : float
        Median noise s.d. relative to the unit signal s.d. (≥ 0).
    seed : int
        Seed of the readout and the noise.
    noise_spread : float
        ≥ 1; per-site noise s.d. ranges over [noise/noise_spread, noise·noise_spread].
    feature_size : int
        Working resolution S of the feature model (images are resized to S × S; ≥ 16).
    sparsity : float
        Probability that a feature feeds a site, in (0, 1].
    gain : float
        Slope of the readout before the softplus (≥ 0; larger = more rectified, more nonlinear).
    source : str
        Label named in error messages (config key).

    Returns
    -------
    responses : float32 array (P × N × R)
    sites : DataFrame with N rows: ``target`` (int, column index), ``target_name``
        (``site0000`` …), ``noise_sd`` (σ_n), ``snr`` (1/σ_n²), ``true_reliability``
        (R / (R + σ_n²): population reliability of the R-repetition mean, i.e. the ceiling that
        Spearman–Brown-corrected split-half reliability estimates), ``n_inputs`` (|S_n|),
        ``bias`` (b_n).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(
            source,
            f"expected images P × H × W × 3, got shape {images.shape}.",
            "use make_images() or load_image_folder().",
        )
    P, N, R = images.shape[0], int(n_sites), int(n_repetitions)
    if N < 1 or R < 1:
        raise InputError(source, "n_sites and n_repetitions must be ≥ 1.", "set positive integers.")
    if P < 2:
        raise InputError(source, f"need at least 2 images, got {P}.", "add images.")
    if not noise >= 0 or not noise_spread >= 1:
        raise InputError(
            source, "noise must be ≥ 0 and noise_spread ≥ 1.", "fix the simulation options."
        )
    if not 0 < sparsity <= 1 or not gain >= 0:
        raise InputError(
            source, "sparsity must lie in (0, 1] and gain be ≥ 0.", "fix the simulation options."
        )
    if images.dtype != np.uint8:
        images = np.clip(np.rint(np.asarray(images, dtype=np.float64) * 255), 0, 255).astype(
            np.uint8
        )

    rng_read, rng_noise = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(2)
    )
    F = _zscore(v1_features(images, feature_size)[0])
    D = F.shape[1]
    mask = rng_read.random((D, N)) < sparsity
    empty = ~mask.any(axis=0)
    mask[rng_read.integers(0, D, size=N)[empty], np.flatnonzero(empty)] = True
    W = rng_read.standard_normal((D, N)) * mask
    bias = rng_read.standard_normal(N)
    u = _zscore(F @ W)
    signal = _zscore(_softplus(gain * u + bias))

    responses, noise_cols = repetition_noise(signal, R, noise, noise_spread, rng_noise)
    sites = pd.DataFrame(
        {
            "target": np.arange(N, dtype=np.int64),
            "target_name": [f"site{n:0{_id_width(N)}d}" for n in range(N)],
            **noise_cols,
            "n_inputs": mask.sum(axis=0).astype(np.int64),
            "bias": bias,
        }
    )
    return responses, sites
