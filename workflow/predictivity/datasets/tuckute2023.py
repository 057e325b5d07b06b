"""Tuckute et al. 2023 release (``data.tar``): the voxels of NH2015 (Norman-Haignere et al. 2015)
and B2021 (Boebinger et al. 2021), ``data/neural/{NH2015,B2021}/``: ``voxel_features_array.npy``
sounds × voxels × 3 scans, ``df_roi_meta.pkl`` (pandas pickle, one row per voxel, ROI columns),
sound names from ``NH2015/neural_stim_meta.npy``. Serves the ``auditory`` kind (loaders
``tuckute2023_nh2015``, ``tuckute2023_b2021``).

**Unpickling runs code**: :func:`load_tuckute2023` refuses to run unless called with
``verified=True``, i.e. after the archive's sha256 was checked by
:func:`predictivity.datasets.download.fetch` (the workflow's ``download`` rule).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from predictivity.datasets.dataset import Dataset, call_with_options
from predictivity.datasets.formats import numeric_array, read_mat, string_list
from predictivity.errors import InputError


def _find_dir(root: Path, name: str) -> Path | None:
    for cand in (root / "data" / "neural" / name, root / "neural" / name, root / name):
        if cand.is_dir():
            return cand
    return root if root.name == name and root.is_dir() else None


def _npy(path: Path, allow_pickle: bool) -> np.ndarray:
    if not path.is_file():
        raise InputError(
            str(path),
            "file is missing from the data release.",
            "Unpack the complete archive (check its sha256).",
        )
    try:
        return np.load(path, allow_pickle=allow_pickle)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(
            str(path),
            f"cannot read the .npy file: {e}.",
            "Unpack the archive again (check its sha256).",
        ) from e


def tuckute2023_sound_names(root, *, verified: bool = False) -> list[str]:
    """The 165 NH2015 sound names, in the order of the voxel data (``neural_stim_meta.npy``:
    a structured array whose first field is the ``.wav`` file name as bytes; ``.wav`` is removed,
    as ``AUD_main.py`` of the release does)."""
    d = _find_dir(Path(root), "NH2015")
    if d is None:
        raise InputError(
            str(root),
            "has no NH2015 directory (data/neural/NH2015).",
            "Point the config at the unpacked Tuckute et al. 2023 data archive.",
        )
    path = d / "neural_stim_meta.npy"
    try:
        meta = np.load(path, allow_pickle=False)
    except ValueError:
        if not verified:
            raise InputError(
                str(path),
                "needs unpickling, which runs code.",
                "Load it only from a verified archive (verified=True).",
            ) from None
        meta = _npy(path, True)
    except (OSError, EOFError) as e:
        raise InputError(
            str(path),
            f"cannot read the .npy file: {e}.",
            "Unpack the archive again (check its sha256).",
        ) from e
    names = []
    for row in np.atleast_1d(meta):
        v = row[0] if meta.dtype.names else row
        v = v.decode("utf-8") if isinstance(v, bytes) else str(v)
        names.append(v[:-4] if v.lower().endswith(".wav") else v)
    return names


def load_tuckute2023(
    root,
    dataset: str = "NH2015",
    *,
    verified: bool = False,
    n_sounds: int = 165,
    roi: str | None = None,
) -> Dataset:
    """Voxel responses of NH2015 (Norman-Haignere 2015) or B2021 (Boebinger 2021) as released
    with Tuckute et al. 2023 (``data.tar``, unpacked at ``root``).

    **Security**: the voxel metadata are pandas pickles (``df_roi_meta.pkl``), and unpickling runs
    arbitrary code. This function raises unless ``verified=True``, which the caller may only pass
    when the archive was fetched with a checked sha256 (:func:`predictivity.datasets.download.fetch` with a
    configured or recorded hash). ``.npy`` arrays are read with ``allow_pickle=False``.

    Layout read (``root`` may be the archive root holding ``data/``, or ``data/`` itself):

    * ``neural/NH2015/voxel_features_array.npy`` — sounds × voxels × 3 scans; only voxels with
      ``voxel_features_meta.npy['n_reps'] == 3`` are kept (as the release's ``AUD_main.py``);
      ``neural/NH2015/df_roi_meta.pkl`` has one row per kept voxel.
    * ``neural/B2021/voxel_features_array.npy`` — sounds × voxels × 3; the first ``n_sounds``
      (165) sounds are the NH2015 sounds in the same order (checked against
      ``B2021/stim_info_v4.mat`` when present); ``neural/B2021/df_roi_meta.pkl`` one row per voxel.
    * sound names: ``neural/NH2015/neural_stim_meta.npy`` (:func:`tuckute2023_sound_names`).

    n_sounds : B2021 only: keep its first ``n_sounds`` sounds (default 165, the NH2015 sounds, as
        in the paper); no config key sets it but ``dataset.options``.
    roi : optional name of a 0/1 column of the metadata (e.g. ``any_roi``, ``speech``); only voxels
        with a non-zero value are kept.

    Returns responses sounds × voxels × 3; stimuli ``stimulus_id`` (sound name); targets
    ``target_name`` (``<dataset>_v<column>``), ``column`` (index in the released array) and every
    metadata column (``subj_idx``, ``hemi``, ROI masks, reliabilities, …).
    """
    if not verified:
        raise InputError(
            str(root),
            f"{dataset} voxel metadata are pandas pickles, and unpickling runs code.",
            "Fetch the archive with a sha256 (config or "
            "resources/checksums.tsv) and call the loader with verified=True.",
        )
    if dataset not in ("NH2015", "B2021"):
        raise InputError(str(root), f"unknown dataset {dataset!r}.", "Use 'NH2015' or 'B2021'.")
    root = Path(root)
    d = _find_dir(root, dataset)
    if d is None:
        raise InputError(
            str(root),
            f"has no {dataset} directory (data/neural/{dataset}).",
            "Point the config at the unpacked Tuckute et al. 2023 data archive.",
        )
    names = tuckute2023_sound_names(root, verified=True)
    Y = numeric_array(
        _npy(d / "voxel_features_array.npy", allow_pickle=False),
        "voxel_features_array",
        str(d / "voxel_features_array.npy"),
        ndim=3,
    )
    columns = np.arange(Y.shape[1])
    if dataset == "NH2015":
        vmeta = _npy(d / "voxel_features_meta.npy", allow_pickle=False)
        if (
            vmeta.dtype.names is None
            or "n_reps" not in vmeta.dtype.names
            or len(vmeta) != Y.shape[1]
        ):
            raise InputError(
                str(d / "voxel_features_meta.npy"),
                "is not a structured array with an "
                f"'n_reps' field and one row per voxel ({Y.shape[1]}).",
                "Unpack the original archive again.",
            )
        keep = np.asarray(vmeta["n_reps"]) == 3
        Y, columns = Y[:, keep], columns[keep]
        if len(names) != Y.shape[0]:
            raise InputError(
                str(d),
                f"{Y.shape[0]} sounds in the voxel data but {len(names)} sound names.",
                "Unpack the original archive again.",
            )
        ids = names
    else:
        if Y.shape[0] < n_sounds:
            raise InputError(
                str(d),
                f"B2021 has {Y.shape[0]} sounds, fewer than n_sounds={n_sounds}.",
                "Lower n_sounds.",
            )
        stim_info = d / "stim_info_v4.mat"
        b_names = None
        if stim_info.is_file():
            info = read_mat(stim_info)
            si = info.get("stim_info", info)
            if isinstance(si, dict) and "stim_names" in si:
                b_names = string_list(si["stim_names"], "stim_info.stim_names", str(stim_info))
                b_names = [n[:-4] if n.lower().endswith(".wav") else n for n in b_names]
                if b_names[: len(names)] != names:
                    raise InputError(
                        str(stim_info),
                        "the first sounds of B2021 are not the NH2015 sounds in the same order.",
                        "Unpack the original archive again.",
                    )
        if n_sounds <= len(names):
            ids = names[:n_sounds]
        elif b_names is not None and len(b_names) >= n_sounds:
            ids = b_names[:n_sounds]
        else:
            raise InputError(
                str(d),
                f"no names for B2021 sounds beyond the first {len(names)}.",
                f"Use n_sounds <= {len(names)}.",
            )
        Y = Y[:n_sounds]
    meta_path = d / "df_roi_meta.pkl"
    if not meta_path.is_file():
        raise InputError(
            str(meta_path),
            "file is missing from the data release.",
            "Unpack the complete archive (check its sha256).",
        )
    try:
        meta = pd.read_pickle(meta_path)  # verified archive only (see docstring)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
        raise InputError(
            str(meta_path),
            f"cannot unpickle the voxel metadata: {e}.",
            "Unpack the original archive again; it needs a pandas able to read "
            "pickles of pandas ≥ 1.0.",
        ) from e
    if len(meta) != Y.shape[1]:
        raise InputError(
            str(meta_path),
            f"{len(meta)} metadata rows for {Y.shape[1]} voxels.",
            "Unpack the original archive again.",
        )
    targets = meta.reset_index(drop=True).copy()
    targets.insert(0, "column", columns)
    targets.insert(0, "target_name", [f"{dataset}_v{c}" for c in columns])
    if roi is not None:
        if roi not in targets.columns:
            raise InputError(
                str(meta_path),
                f"has no ROI column {roi!r} (columns: {', '.join(map(str, targets.columns))}).",
                "Pick an existing column.",
            )
        sel = np.asarray(pd.to_numeric(targets[roi], errors="coerce").fillna(0) != 0)
        Y, targets = Y[:, sel], targets[sel].reset_index(drop=True)
    stimuli = pd.DataFrame({"stimulus_id": ids})
    return Dataset(Y, stimuli, targets, {"dataset": dataset})


def open_nh2015(path, options: dict, *, verified: bool = False, source: str = "dataset") -> Dataset:
    """Registry entry ``tuckute2023_nh2015``: :func:`load_tuckute2023` of ``NH2015``."""
    return call_with_options(
        load_tuckute2023, source, path, "NH2015", options=options, verified=verified
    )


def open_b2021(path, options: dict, *, verified: bool = False, source: str = "dataset") -> Dataset:
    """Registry entry ``tuckute2023_b2021``: :func:`load_tuckute2023` of ``B2021``."""
    return call_with_options(
        load_tuckute2023, source, path, "B2021", options=options, verified=verified
    )
