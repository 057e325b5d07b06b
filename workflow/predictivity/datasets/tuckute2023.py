"""Tuckute et al. 2023 release (``data.tar``): the voxels of NH2015 (Norman-Haignere et al. 2015)
and B2021 (Boebinger et al. 2021), ``data/neural/{NH2015,B2021}/``: ``voxel_features_array.npy``
sounds × voxels × 3 scans, ``df_roi_meta.pkl`` (pandas pickle, one row per voxel, ROI columns),
sound names from ``NH2015/neural_stim_meta.npy``. Serves the ``auditory`` kind (loaders
``tuckute2023_nh2015``, ``tuckute2023_b2021``).

**Unpickling runs code**: :func:`load_tuckute2023` refuses to run unless called with
``verified=True``, which the workflow passes only for a download whose sha256 is *pinned* (in the
config or a committed checksum table, not merely recorded at the first download) and whose files
still match the download's manifest (:func:`predictivity.datasets.registry.load_dataset`). Even
then the pickle is read by :func:`read_pickled_frame`, which resolves only an allowlist of numpy
and pandas constructors, so a crafted pickle cannot call anything else.
"""

from __future__ import annotations

import importlib
import io
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from predictivity.datasets.dataset import Dataset, call_with_options
from predictivity.datasets.formats import numeric_array, read_mat, string_list
from predictivity.errors import InputError

#: The only globals a pickled metadata DataFrame may name (after pandas' renames of old
#: pickles): the constructors of DataFrames, indexes, blocks, arrays and dtypes.
_PICKLE_ALLOWED = (
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("builtins", "slice"),
    ("builtins", "bytearray"),
    ("builtins", "object"),
    ("_codecs", "encode"),
    ("copyreg", "_reconstructor"),
    ("pandas", "DataFrame"),
    ("pandas", "Series"),
    ("pandas", "Index"),
    ("pandas", "RangeIndex"),
    ("pandas", "MultiIndex"),
    ("pandas", "CategoricalIndex"),
    ("pandas", "Categorical"),
    ("pandas", "CategoricalDtype"),
    ("pandas", "StringDtype"),
    ("pandas.arrays", "ArrowStringArray"),
    ("pandas.arrays", "StringArray"),
    ("pandas.arrays", "BooleanArray"),
    ("pandas.arrays", "IntegerArray"),
    ("pandas.arrays", "FloatingArray"),
    ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.internals.managers", "SingleBlockManager"),
    ("pandas._libs.internals", "_unpickle_block"),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pyarrow.lib", "_restore_array"),
    ("pyarrow.lib", "type_for_alias"),
    ("pyarrow.lib", "py_buffer"),
)
_PICKLE_MODULES = (
    "numpy",
    "pandas",
    "pyarrow",
    "builtins",
    "__builtin__",
    "_codecs",
    "copy_reg",
    "copyreg",
)


def _allowed_objects() -> dict[int, str]:
    out = {}
    for module, name in _PICKLE_ALLOWED:
        try:
            with warnings.catch_warnings():  # numpy.core is a deprecated alias of numpy._core
                warnings.simplefilter("ignore", DeprecationWarning)
                obj = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        out[id(obj)] = f"{module}.{name}"
    return out


try:  # pandas' unpickler maps the names of old pandas versions to the current ones
    from pandas.compat.pickle_compat import Unpickler as _BaseUnpickler
except ImportError:  # pragma: no cover - pandas moved it
    _BaseUnpickler = pickle._Unpickler


class _RestrictedUnpickler(_BaseUnpickler):
    """Resolves only :data:`_PICKLE_ALLOWED`: any other global (os.system, eval, …) is refused
    before it is imported or called."""

    allowed: dict[int, str] = {}

    def find_class(self, module: str, name: str):
        if module.split(".")[0] not in _PICKLE_MODULES:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        obj = super().find_class(module, name)
        if id(obj) not in self.allowed:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        return obj


def read_pickled_frame(path: Path) -> pd.DataFrame:
    """A pickled pandas DataFrame, read with an allowlist of constructors (no other code runs).

    Raises InputError naming the file for a pickle that names anything else, is corrupt, is a
    symlink, or does not hold a DataFrame.
    """
    if path.is_symlink() or not path.is_file():
        raise InputError(
            str(path),
            "is missing from the data release, or is a link.",
            "Unpack the complete archive (check its sha256).",
        )
    if not _RestrictedUnpickler.allowed:
        _RestrictedUnpickler.allowed = _allowed_objects()
    try:
        obj = _RestrictedUnpickler(io.BytesIO(path.read_bytes())).load()
    except Exception as e:  # noqa: BLE001 - any failure is a bad (or hostile) file
        raise InputError(
            str(path),
            f"is not a plain pickled pandas DataFrame ({type(e).__name__}: {e}); it was not "
            "loaded.",
            "Use the original release file (check its sha256).",
        ) from None
    if not isinstance(obj, pd.DataFrame):
        raise InputError(
            str(path), f"holds a {type(obj).__name__}, not a DataFrame.", "Use the original file."
        )
    return obj


def _restricted_npy(path: Path) -> np.ndarray:
    """A .npy holding Python objects, its pickle read by the allowlisting unpickler."""
    if not _RestrictedUnpickler.allowed:
        _RestrictedUnpickler.allowed = _allowed_objects()
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            _, _, dtype = read_header(f)
            arr = _RestrictedUnpickler(f).load() if dtype.hasobject else None
        if not isinstance(arr, np.ndarray):
            raise ValueError("not an object array")
    except Exception as e:  # noqa: BLE001 - any failure is a bad (or hostile) file
        raise InputError(
            str(path),
            f"cannot read the .npy file safely ({type(e).__name__}: {e}); it was not loaded.",
            "Use the original release file (check its sha256).",
        ) from None
    return arr


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
        meta = _restricted_npy(path)
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
    for a download whose sha256 is pinned (config or committed table) and re-verified; the pickle
    is then read by :func:`read_pickled_frame` (allowlisted constructors only). ``.npy`` arrays
    are read with ``allow_pickle=False``.

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
            "Pin the download's sha256: copy the hash recorded in "
            "results/downloads/checksums.tsv into `downloads.<name>.sha256` of the config "
            "(a hash recorded at the first download is not a pin).",
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
    meta = read_pickled_frame(meta_path)  # pinned, re-verified download only (see docstring)
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
