"""The loaders a study's ``dataset.loader`` names (:data:`LOADERS`) and :func:`load_dataset`, the
workflow's one entry point: a study's ``dataset`` config → a :class:`Dataset`.

Importing this module imports every source module (the stages that read real data may use any of
them, and their code is then part of those stages' rerun hash); a module that needs one source
imports that source module instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from predictivity.datasets import (
    lebel2023,
    majajhong2015,
    mec_file,
    nh2015,
    pereira2018,
    tuckute2023,
)
from predictivity.datasets.dataset import Dataset
from predictivity.errors import InputError

#: Loader name (``studies.<name>.dataset.loader``) → its entry ``(path, options, *, verified,
#: source) → Dataset``; the comment names the study kind each serves.
LOADERS: dict[str, Callable[..., Dataset]] = {
    "nh2015_components": nh2015.open_dataset,  # auditory
    "tuckute2023_nh2015": tuckute2023.open_nh2015,  # auditory
    "tuckute2023_b2021": tuckute2023.open_b2021,  # auditory
    "majajhong2015": majajhong2015.open_dataset,  # it
    "mec_file": mec_file.open_dataset,  # mec
    "pereira2018": pereira2018.open_dataset,  # language
    "lebel2023": lebel2023.open_dataset,  # story
}


def load_dataset(
    loader: str,
    path,
    options: dict | None = None,
    *,
    verified: bool | str = False,
    source: str = "dataset",
) -> Dataset:
    """Run the named loader on ``path`` (a file, or the directory of an unpacked download).

    options are the loader's keyword options (``dataset.options``; an unknown key is an
    :class:`InputError` naming ``<source>.options``).

    verified : what the workflow knows of ``path`` (``dataset_params`` in common.smk):
        ``False`` — a user's file, read as it is; ``"recorded"`` — inside a download checked only
        against a hash recorded at its first download (trust on first use); ``"pinned"`` (or
        ``True``) — inside a download whose sha256 the config or a committed checksum table pins.
        For the last two, the files under ``path`` are re-hashed against the download's manifest
        before anything reads them (:func:`~predictivity.datasets.download.verify_manifest`), and
        the loader is told ``verified=True`` only for a pinned download whose manifest says so —
        the Tuckute release's pickled metadata are read only then.
    """
    if loader not in LOADERS:
        raise InputError(
            source, f"unknown loader {loader!r}.", f"Use one of: {', '.join(LOADERS)}."
        )
    pinned = False
    if verified in (True, "pinned", "recorded"):
        from predictivity.datasets.download import verify_manifest

        checked = verify_manifest(path, source)
        pinned = verified in (True, "pinned") and checked["pinned"]
    return LOADERS[loader](Path(path), dict(options or {}), verified=pinned, source=source)
