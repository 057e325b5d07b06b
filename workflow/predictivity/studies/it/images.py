"""Stimuli of the ``it`` study: images made offline from bundled sample images, or a user's folder.

:func:`make_images` draws seeded crops, flips, rotations and grey versions of the sample images
that ship inside scikit-image and scikit-learn (no download); :func:`load_image_folder` reads a
user's images. Both return uint8 RGB arrays (P × size × size × 3) and a stimulus table.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pandas as pd

from predictivity.errors import InputError

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
    n_images: int = 300,
    size: int = 224,
    seed: int = 0,
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
    size: int = 224,
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
