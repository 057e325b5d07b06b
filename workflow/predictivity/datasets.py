"""Loaders of the real recordings of the four studies, in the pipeline's recordings format.

Every loader reads files that :mod:`predictivity.download` fetched and verified, and returns a
:class:`Dataset`: ``responses`` (P stimuli × N targets × R repetitions, float64), a ``stimuli``
table (``stimulus_id`` and, where the study has one, ``group`` — all stimuli of a group stay in one
CV fold), and a ``targets`` table (``target_name`` plus the source's per-target metadata, e.g. ROI
masks). ``responses`` and ``targets.target_name`` go straight into
:func:`predictivity.studies.recordings.prepare_recordings`. Errors are
:class:`~predictivity.errors.InputError` naming the file, the problem and the fix.

Sources and the file layouts read (each checked against the code that reads the released files;
see ``docs/real_data.md`` for where from)
---------------------------------------------------------------------------------------------
1. :func:`load_nh2015_components` — Norman-Haignere et al. 2015 fMRI components
   (``NH2015comp/components.mat``): ``R`` 165 sounds × 6 components, ``W`` 6 × voxels,
   ``stim_names`` (cell, 165), ``component_names`` (cell, 6), ``category_labels``. MATLAB v5
   (scipy) and v7.3 (HDF5, h5py) both read, see :func:`read_mat`. → 165 × 6 × 1.
2. :func:`load_tuckute2023` — NH2015 / B2021 voxels of the Tuckute et al. 2023 release
   (``data/neural/{NH2015,B2021}/``): ``voxel_features_array.npy`` sounds × voxels × 3 scans,
   ``df_roi_meta.pkl`` (pandas pickle, one row per voxel, ROI columns), sound names from
   ``NH2015/neural_stim_meta.npy``. **Unpickling runs code**: the loader refuses to run unless
   called with ``verified=True``, i.e. after the archive's sha256 was checked by
   :func:`~predictivity.download.fetch`.
3. :func:`load_majajhong2015` — Brain-Score's MajajHong2015 public assembly (BrainIO netCDF-4:
   one DataArray ``presentation × neuroid × time_bin``; MultiIndex levels stored as plain coords:
   ``image_id``, ``repetition``, ``object_name``, …, ``region``, ``neuroid_id``,
   ``time_bin_start``/``time_bin_end``). Time bin 70–170 ms, region IT, repetitions grouped by
   ``image_id`` → images × sites × repetitions, ``group = object_name``.
4. :func:`load_pereira2018` — Pereira et al. 2018 per-subject ``.mat`` (``data_384sentences.mat``,
   ``data_243sentences.mat``: ``examples_passagesentences`` sentences × voxels, ``keySentences``,
   ``labelsPassageForEachSentence``, ``labelsPassageCategory``, ``keyPassageCategory``;
   ``data_180concepts_*.mat``: ``examples``, ``keyConcept``; ``meta`` struct with ``atlases``,
   ``rois``, ``roiColumns`` (1-based columns), ``colToCoord``). → P × N × 1, group = passage.
5. :func:`load_lebel2023` — LeBel et al. 2023 (OpenNeuro ds003020) story listening:
   ``derivative/preprocessed_data/<subject>/<story>.hf5`` (dataset ``resp``: TRs × voxels) and
   ``derivative/TextGrids/<story>.TextGrid`` (Praat; tiers ``phone`` and ``word``). Stimuli are
   TRs, group = story. Word features → TRs with :func:`lanczos_downsample` and
   :func:`fir_delays` (:func:`lebel_tr_features`), the Huth lab's conventions.
6. :func:`load_mec_recordings` — MEC rate maps from a user file (no public release of the Nayebi
   et al. recordings): ``.npy``/``.npz``/``.mat`` rate maps or positions + spikes, or an NWB file
   (``/units`` spike times + a ``Position`` SpatialSeries, read with h5py) → the study's arena bins
   (:func:`predictivity.mec.arena_bins` order, ``row = iy * n_bins + ix``).

Defaults are in :data:`DEFAULTS`, keyed like the config's recordings options.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from predictivity.errors import InputError

log = logging.getLogger(__name__)

#: Defaults of the loaders; keys mirror the ``recordings`` options of the real-data studies.
#:
#: - ``majajhong2015``: ``region`` kept, ``time_bin`` (start, end) in ms, ``group_by`` (the
#:   presentation coordinate used as CV group).
#: - ``tuckute2023``: ``n_sounds`` (B2021 is truncated to the 165 NH2015 sounds, as in the paper).
#: - ``lebel2023``: the Huth lab's TR grid (``encoding/feature_spaces.py``,
#:   ``ridge_utils/stimulus_utils.load_simulated_trfiles``, ``encoding.py``): ``tr`` 2 s, word times
#:   relative to a sound start 10 s into the run, ``pad`` 5 TRs not simulated, feature rows
#:   ``[trim_start : -trim_end]`` = ``[10:-5]`` kept; Lanczos ``window`` 3, ``cutoff_mult`` 1;
#:   FIR ``delays`` 1–4 TRs; words dropped as in ``ridge_utils/dsutils.DEFAULT_BAD_WORDS``.
#: - ``mec``: arena (``box_width`` m, ``n_bins`` per side), where the file's positions put the
#:   arena (``origin``: ``auto`` = centre of the visited range, ``centre``, ``corner``), what to do
#:   with bins never visited (``unvisited``: ``error``, ``nearest``, ``mean``), and
#:   ``split_halves`` (two repetitions from the first and second half of the session).
DEFAULTS: dict = {
    "majajhong2015": {"region": "IT", "time_bin": (70, 170), "group_by": "object_name"},
    "tuckute2023": {"n_sounds": 165},
    "lebel2023": {
        "tr": 2.0,
        "start_time": 10.0,
        "pad": 5,
        "trim_start": 10,
        "trim_end": 5,
        "window": 3,
        "cutoff_mult": 1.0,
        "delays": (1, 2, 3, 4),
        "bad_words": ("sentence_start", "sentence_end", "br", "lg", "ls", "ns", "sp"),
    },
    "mec": {
        "box_width": 2.2,
        "n_bins": 20,
        "origin": "auto",
        "unvisited": "error",
        "split_halves": False,
    },
}


@dataclass
class Dataset:
    """Recordings of one real study in the pipeline's format.

    responses : (P, N, R) float64 — stimuli × targets × repetitions.
    stimuli : P rows in response order; ``stimulus_id`` (unique str) [, ``group``] + source columns.
    targets : N rows; ``target_name`` (str) + per-target metadata of the source.
    extra : anything else a later stage may need (e.g. TR times), documented by each loader.
    """

    responses: np.ndarray
    stimuli: pd.DataFrame
    targets: pd.DataFrame
    extra: dict = field(default_factory=dict)

    @property
    def target_names(self) -> list[str]:
        return [str(t) for t in self.targets["target_name"]]

    def __post_init__(self):
        P, N, _ = self.responses.shape
        assert len(self.stimuli) == P and len(self.targets) == N
        assert self.stimuli["stimulus_id"].is_unique


# --------------------------------------------------------------------------------------------
# MATLAB files (v5 via scipy, v7.3 via h5py)
# --------------------------------------------------------------------------------------------


def _attr_str(obj, name: str) -> str | None:
    v = obj.attrs.get(name)
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray):
        v = v.ravel()[0] if v.size else ""
        return v.decode() if isinstance(v, bytes) else str(v)
    return str(v)


def _squeeze(a: np.ndarray):
    a = np.squeeze(a)
    return a.item() if a.ndim == 0 else a


def _h5_value(f, obj):
    """Convert one object of a MATLAB v7.3 file to what ``loadmat(simplify_cells=True)`` returns."""
    import h5py

    if isinstance(obj, h5py.Group):
        return {k: _h5_value(f, obj[k]) for k in obj if not k.startswith("#")}
    cls = _attr_str(obj, "MATLAB_class")
    if obj.attrs.get("MATLAB_empty", 0):
        if cls == "char":
            return ""
        return np.empty((0,), dtype=object if cls == "cell" else float)
    data = obj[()]
    if cls == "char":
        # MATLAB chars are UTF-16 code units; HDF5 stores the transpose of the MATLAB array
        arr = np.atleast_2d(np.asarray(data, dtype=np.uint16)).T
        rows = [row.astype("<u2").tobytes().decode("utf-16-le") for row in arr]
        return rows[0] if len(rows) == 1 else np.array(rows, dtype=object)
    if cls == "cell" or (isinstance(data, np.ndarray) and data.dtype == h5py.ref_dtype):
        refs = np.asarray(data).T
        out = np.empty(refs.shape, dtype=object)
        for idx in np.ndindex(refs.shape):
            out[idx] = _h5_value(f, f[refs[idx]])
        out = np.squeeze(out)
        return out.item() if out.ndim == 0 else out
    arr = np.asarray(data)
    if arr.dtype.names and set(arr.dtype.names) >= {"real", "imag"}:
        arr = arr["real"] + 1j * arr["imag"]
    if arr.ndim:
        arr = arr.T
    if cls == "logical":
        arr = arr.astype(bool)
    return _squeeze(arr)


def read_mat(path, source: str | None = None) -> dict:
    """Read a MATLAB ``.mat`` file (v4/v5/v7 via scipy, v7.3 = HDF5 via h5py) into plain Python.

    The result matches ``scipy.io.loadmat(path, simplify_cells=True)`` for both kinds: structs →
    dicts, cell arrays → squeezed numpy object arrays (a 1-element cell → its element), char arrays
    → ``str`` (a char matrix → object array of row strings), numeric arrays → squeezed ndarrays
    in MATLAB's shape (1×1 → Python scalar). For v7.3 files, where HDF5 stores every array
    transposed, arrays are transposed back; chars are uint16 datasets with attribute
    ``MATLAB_class = 'char'``; cells are datasets of object references into ``#refs#``; empty
    arrays carry ``MATLAB_empty = 1``. Variables whose names start with ``__`` or ``#`` are skipped.
    """
    path = Path(path)
    source = source or str(path)
    if not path.is_file():
        raise InputError(
            source, f"{path} does not exist.", "Check the path (download the data first)."
        )
    import h5py

    if h5py.is_hdf5(path):
        try:
            with h5py.File(path, "r") as f:
                return {k: _h5_value(f, f[k]) for k in f if not k.startswith("#")}
        except (OSError, KeyError, ValueError) as e:
            raise InputError(
                source,
                f"cannot read {path} as a MATLAB v7.3 (HDF5) file: {e}.",
                "Check that the file is complete (its sha256) and a .mat file.",
            ) from e
    from scipy.io import loadmat

    try:
        d = loadmat(path, simplify_cells=True)
    except (ValueError, TypeError, OSError, NotImplementedError) as e:
        raise InputError(
            source,
            f"cannot read {path} as a MATLAB file: {e}.",
            "Check that the file is complete (its sha256) and a .mat file.",
        ) from e
    return {k: v for k, v in d.items() if not k.startswith("__")}


def _strings(value, what: str, source: str) -> list[str]:
    """A cell array of strings (any shape) as a flat list of str."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value, dtype=object).ravel()
        out = []
        for v in arr:
            if isinstance(v, np.ndarray) and v.size == 1:
                v = v.ravel()[0]
            if isinstance(v, bytes):
                v = v.decode()
            if not isinstance(v, str):
                raise InputError(
                    source,
                    f"{what} holds a {type(v).__name__}, expected strings.",
                    "Check that this is the original file.",
                )
            out.append(v.strip())
        return out
    raise InputError(
        source,
        f"{what} is a {type(value).__name__}, expected a cell array of strings.",
        "Check that this is the original file.",
    )


def _need(d: dict, name: str, source: str, what: str = "variable"):
    if name not in d:
        raise InputError(
            source,
            f"has no {what} {name!r} (found: {', '.join(sorted(d)) or 'none'}).",
            "Check that this is the right file of the data release.",
        )
    return d[name]


def _array(value, name: str, source: str, ndim: int | None = None) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind not in "fiub":
        raise InputError(
            source,
            f"{name} has dtype {a.dtype}, expected numbers.",
            "Check that this is the original file.",
        )
    a = a.astype(np.float64)
    if ndim is not None and a.ndim != ndim:
        raise InputError(
            source,
            f"{name} has shape {a.shape}, expected {ndim} dimensions.",
            "Check that this is the original file.",
        )
    return a


# --------------------------------------------------------------------------------------------
# 1. NH2015 components
# --------------------------------------------------------------------------------------------


def load_nh2015_components(path, stimulus_order: Sequence[str] | None = None) -> Dataset:
    """The six fMRI response components of Norman-Haignere et al. 2015 as a recordings set.

    Reads ``components.mat`` (MATLAB v5 or v7.3): ``R`` (165 × 6, response of each component to
    each sound), ``stim_names`` (165 sound names, no ``.wav``), ``component_names`` (6),
    optionally ``category_labels`` (one per sound) and ``W`` (6 × voxels, the voxel weights; only
    its shape is kept, in ``extra['W_shape']``).

    stimulus_order : optional sound names (e.g. the NH2015 voxel data's order, as Tuckute et al.
        reindex ``R`` to ``neural_stim_meta.npy``); ``R`` is reordered to it and every name must
        be present. Default: the file's order.

    Returns responses 165 × 6 × 1; stimuli ``stimulus_id`` (sound name) [+ ``category``];
    targets ``target_name`` (component name) and ``component`` (0-based index).
    """
    source = str(path)
    d = read_mat(path, source)
    R = _array(_need(d, "R", source), "R", source, ndim=2)
    names = _strings(_need(d, "stim_names", source), "stim_names", source)
    comps = _strings(_need(d, "component_names", source), "component_names", source)
    if R.shape != (len(names), len(comps)):
        raise InputError(
            source,
            f"R has shape {R.shape} but there are {len(names)} stim_names and "
            f"{len(comps)} component_names.",
            "Check that this is the original file.",
        )
    if len(set(names)) != len(names):
        raise InputError(
            source, "stim_names has duplicates.", "Check that this is the original file."
        )
    stimuli = pd.DataFrame({"stimulus_id": names})
    if "category_labels" in d:
        cats = np.asarray(d["category_labels"], dtype=object).ravel()
        if len(cats) == len(names):
            stimuli["category"] = [c if isinstance(c, str) else str(c) for c in cats]
        else:
            log.info(
                "%s: category_labels has %d entries for %d sounds; not used",
                source,
                len(cats),
                len(names),
            )
    if stimulus_order is not None:
        order = [str(s) for s in stimulus_order]
        pos = {n: i for i, n in enumerate(names)}
        missing = [s for s in order if s not in pos]
        if missing:
            raise InputError(
                source,
                f"{len(missing)} sound(s) of the requested order are not in "
                f"stim_names, e.g. {missing[:3]}.",
                "Give sound names without the .wav extension, as in the data release.",
            )
        idx = np.array([pos[s] for s in order])
        R, stimuli = R[idx], stimuli.iloc[idx].reset_index(drop=True)
    targets = pd.DataFrame({"target_name": comps, "component": np.arange(len(comps))})
    extra = {"W_shape": tuple(np.shape(d["W"])) if "W" in d else None}
    return Dataset(R[:, :, None], stimuli, targets, extra)


# --------------------------------------------------------------------------------------------
# 2. Tuckute et al. 2023: NH2015 and B2021 voxels
# --------------------------------------------------------------------------------------------


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
    n_sounds: int = DEFAULTS["tuckute2023"]["n_sounds"],
    roi: str | None = None,
) -> Dataset:
    """Voxel responses of NH2015 (Norman-Haignere 2015) or B2021 (Boebinger 2021) as released
    with Tuckute et al. 2023 (``data.tar``, unpacked at ``root``).

    **Security**: the voxel metadata are pandas pickles (``df_roi_meta.pkl``), and unpickling runs
    arbitrary code. This function raises unless ``verified=True``, which the caller may only pass
    when the archive was fetched with a checked sha256 (:func:`predictivity.download.fetch` with a
    configured or recorded hash). ``.npy`` arrays are read with ``allow_pickle=False``.

    Layout read (``root`` may be the archive root holding ``data/``, or ``data/`` itself):

    * ``neural/NH2015/voxel_features_array.npy`` — sounds × voxels × 3 scans; only voxels with
      ``voxel_features_meta.npy['n_reps'] == 3`` are kept (as the release's ``AUD_main.py``);
      ``neural/NH2015/df_roi_meta.pkl`` has one row per kept voxel.
    * ``neural/B2021/voxel_features_array.npy`` — sounds × voxels × 3; the first ``n_sounds``
      (165) sounds are the NH2015 sounds in the same order (checked against
      ``B2021/stim_info_v4.mat`` when present); ``neural/B2021/df_roi_meta.pkl`` one row per voxel.
    * sound names: ``neural/NH2015/neural_stim_meta.npy`` (:func:`tuckute2023_sound_names`).

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
    Y = _array(
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
                b_names = _strings(si["stim_names"], "stim_info.stim_names", str(stim_info))
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


# --------------------------------------------------------------------------------------------
# 3. MajajHong2015 (BrainIO netCDF)
# --------------------------------------------------------------------------------------------


def read_brainio_stimulus_set(csv_path, image_dir=None) -> pd.DataFrame:
    """A BrainIO stimulus set CSV (columns ``image_id`` or ``stimulus_id``, ``filename`` and
    metadata such as ``object_name``); with ``image_dir`` (the unpacked zip) a ``path`` column is
    added and every file must exist."""
    csv_path = Path(csv_path)
    try:
        df = pd.read_csv(csv_path)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise InputError(
            str(csv_path), f"cannot read the stimulus CSV: {e}.", "Download it again."
        ) from e
    if "image_id" not in df.columns and "stimulus_id" in df.columns:
        df = df.rename(columns={"stimulus_id": "image_id"})
    if "image_id" not in df.columns:
        raise InputError(
            str(csv_path),
            "has no image_id / stimulus_id column.",
            "Use the BrainIO stimulus set CSV.",
        )
    df["image_id"] = df["image_id"].astype(str)
    if image_dir is not None:
        if "filename" not in df.columns:
            raise InputError(
                str(csv_path), "has no filename column.", "Use the BrainIO stimulus set CSV."
            )
        paths = [Path(image_dir) / str(f) for f in df["filename"]]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise InputError(
                str(image_dir),
                f"{len(missing)} image(s) of the stimulus set are missing, e.g. {missing[0]}.",
                "Unpack the stimulus zip there.",
            )
        df["path"] = [str(p) for p in paths]
    return df


def _coord(da, name):
    return np.asarray(da[name].values) if name in da.coords else None


def load_majajhong2015(
    path,
    region: str = DEFAULTS["majajhong2015"]["region"],
    time_bin=DEFAULTS["majajhong2015"]["time_bin"],
    group_by: str | None = DEFAULTS["majajhong2015"]["group_by"],
    stimulus_csv=None,
) -> Dataset:
    """IT multi-unit responses of Majaj, Hong et al. 2015 from Brain-Score's public assembly.

    Reads the BrainIO netCDF-4 file (``assy_dicarlo_MajajHong2015_public.nc``) with xarray (engine
    h5netcdf; a netCDF-3 file would be read by scipy). The file holds one data variable with dims
    ``presentation × neuroid × time_bin`` (its name is the assembly identifier or ``data``); the
    BrainIO MultiIndex levels are stored as plain coordinates on those dims.

    Steps: keep the time bin with ``time_bin_start == time_bin[0]`` and ``time_bin_end`` (or
    ``time_bin_stop``) ``== time_bin[1]`` (70–170 ms, the benchmark's bin); keep neuroids with
    ``region == region``; group presentations by ``image_id`` (images in order of first
    appearance). Images were shown a different number of times, so **every image keeps only its
    first R repetitions, R = the minimum count over images** (ordered by the ``repetition`` coord
    when present, else file order); the number dropped is logged and kept in ``extra``. The mean
    over repetitions is therefore over R presentations per image, the same R for every image, which
    the split-half noise ceiling needs.

    group_by : presentation coordinate used as CV group (``object_name``: all images of one object
        stay in one fold); taken from the assembly, else from ``stimulus_csv`` (the BrainIO
        stimulus set CSV, joined on ``image_id``). None = no group.

    Returns responses images × sites × R; stimuli ``stimulus_id`` (= ``image_id``), ``group`` and
    every presentation coordinate constant within an image (``object_name``, ``category_name``,
    ``variation``, …); targets ``target_name`` (``neuroid_id``) + neuroid coordinates.
    """
    import xarray as xr

    source = str(path)
    if not Path(path).is_file():
        raise InputError(source, "file does not exist.", "Download the assembly first.")
    try:
        ds = xr.open_dataset(path)
    except Exception as e:  # noqa: BLE001 - xarray raises many types for a bad file
        raise InputError(
            source,
            f"cannot open as netCDF: {e}.",
            "Download the assembly again (check its sha256).",
        ) from e
    with ds:
        cands = [v for v in ds.data_vars if {"presentation", "neuroid"} <= set(ds[v].dims)]
        if len(cands) != 1:
            raise InputError(
                source,
                f"expected one data variable with dims presentation × neuroid, "
                f"found {cands or list(ds.data_vars)}.",
                "Use a BrainIO NeuroidAssembly file.",
            )
        da = ds[cands[0]]
        if "image_id" not in da.coords:
            if "stimulus_id" not in da.coords:  # newer BrainIO packages name it stimulus_id
                raise InputError(
                    source,
                    "has no 'image_id' (or 'stimulus_id') coordinate.",
                    "Use a BrainIO assembly file.",
                )
            da = da.rename({"stimulus_id": "image_id"})
        # time bin
        if "time_bin" in da.dims:
            start = _coord(da, "time_bin_start")
            stop = _coord(da, "time_bin_end")
            if stop is None:
                stop = _coord(da, "time_bin_stop")
            if start is None or stop is None:
                raise InputError(
                    source,
                    "time_bin has no time_bin_start/time_bin_end coordinates.",
                    "Use a BrainIO assembly file.",
                )
            hit = np.flatnonzero(
                (np.asarray(start, float) == float(time_bin[0]))
                & (np.asarray(stop, float) == float(time_bin[1]))
            )
            if len(hit) != 1:
                bins = ", ".join(f"{a}-{b}" for a, b in zip(np.ravel(start), np.ravel(stop)))
                raise InputError(
                    source,
                    f"no unique time bin {time_bin[0]}-{time_bin[1]} ms (bins: {bins}).",
                    "Set time_bin to one of the file's bins.",
                )
            da = da.isel(time_bin=int(hit[0]))
        # region
        regions = _coord(da, "region")
        if regions is None:
            raise InputError(
                source, "has no 'region' coordinate on neuroid.", "Use a BrainIO assembly file."
            )
        sites = np.flatnonzero(regions.astype(str) == str(region))
        if len(sites) == 0:
            raise InputError(
                source,
                f"no neuroid with region {region!r} (regions: {sorted(set(regions.astype(str)))}).",
                "Pick one of those regions.",
            )
        da = da.isel(neuroid=sites).transpose("presentation", "neuroid")
        X = np.asarray(da.values, dtype=np.float64)
        pres = {
            name: np.asarray(c.values)
            for name, c in da.coords.items()
            if c.dims == ("presentation",)
        }
        neur = {
            name: np.asarray(c.values) for name, c in da.coords.items() if c.dims == ("neuroid",)
        }
    pres_df = pd.DataFrame(pres)
    pres_df["image_id"] = pres_df["image_id"].astype(str)
    pres_df["_order"] = np.arange(len(pres_df))
    sort_cols = ["repetition", "_order"] if "repetition" in pres_df.columns else ["_order"]
    ranked = pres_df.sort_values(sort_cols, kind="stable")
    rank = ranked.groupby("image_id", sort=False).cumcount().reindex(pres_df.index).to_numpy()
    images = pd.unique(pres_df["image_id"])
    counts = pres_df.groupby("image_id", sort=False).size().reindex(images).to_numpy()
    R = int(counts.min())
    dropped = int(counts.sum() - R * len(images))
    if dropped:
        log.warning(
            "%s: images were shown %d–%d times; keeping the first %d repetitions of each "
            "(%d presentations dropped)",
            source,
            counts.min(),
            counts.max(),
            R,
            dropped,
        )
    img_index = pd.Index(images).get_indexer(pres_df["image_id"])
    keep = rank < R
    Y = np.empty((len(images), X.shape[1], R))
    Y[img_index[keep], :, rank[keep]] = X[keep]
    # per-image table: presentation coords constant within image
    first = pres_df.drop_duplicates("image_id").set_index("image_id").reindex(images)
    const = [
        c
        for c in pres_df.columns
        if c not in ("image_id", "_order", "repetition")
        and pres_df.groupby("image_id", sort=False)[c].nunique(dropna=False).max() == 1
    ]
    stimuli = pd.DataFrame({"stimulus_id": images})
    for c in const:
        stimuli[c] = first[c].to_numpy()
    if stimulus_csv is not None:
        sset = read_brainio_stimulus_set(stimulus_csv)
        add = [c for c in sset.columns if c not in stimuli.columns and c != "image_id"]
        stimuli = stimuli.merge(
            sset[["image_id"] + add].rename(columns={"image_id": "stimulus_id"}),
            on="stimulus_id",
            how="left",
            validate="one_to_one",
        )
    if group_by is not None:
        if group_by not in stimuli.columns or stimuli[group_by].isna().any():
            raise InputError(
                source,
                f"no {group_by!r} for every image (neither in the assembly nor "
                "in the stimulus CSV).",
                "Pass the stimulus set CSV (image_dicarlo_hvm-public.csv) or set group_by to null.",
            )
        stimuli["group"] = stimuli[group_by].astype(str)
    targets = pd.DataFrame(neur)
    tname = (
        targets["neuroid_id"].astype(str)
        if "neuroid_id" in targets
        else pd.Series([f"site{i}" for i in sites])
    )
    targets.insert(0, "target_name", tname.to_numpy())
    return Dataset(
        Y,
        stimuli,
        targets.reset_index(drop=True),
        {"repetitions_per_image": counts, "presentations_dropped": dropped},
    )


# --------------------------------------------------------------------------------------------
# 4. Pereira et al. 2018
# --------------------------------------------------------------------------------------------


def _cell_list(value) -> list:
    """A (squeezed) cell array as a list; a single element (squeezed away) becomes [element]."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        return list(value.ravel())
    if isinstance(value, list):
        return value
    return [value]


def _pereira_atlas_columns(
    meta: dict, atlas: str, rois, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """0-based voxel columns of ``atlas`` (optionally only ``rois``) and each column's ROI name."""
    for k in ("atlases", "rois", "roiColumns"):
        if k not in meta:
            raise InputError(
                source, f"meta has no {k!r} field.", "Use the original Pereira 2018 .mat file."
            )
    atlases = _strings(meta["atlases"], "meta.atlases", source)
    if atlas not in atlases:
        raise InputError(
            source,
            f"atlas {atlas!r} is not in meta.atlases ({', '.join(atlases)}).",
            "Pick one of those atlases.",
        )
    a = atlases.index(atlas)
    if len(atlases) == 1:  # a 1-element cell was squeezed away: the fields are the atlas's own
        roi_lists, col_lists = [meta["rois"]], [meta["roiColumns"]]
    else:
        roi_lists, col_lists = _cell_list(meta["rois"]), _cell_list(meta["roiColumns"])
    names = _strings(roi_lists[a], f"meta.rois{{{atlas}}}", source)
    cols = col_lists[a]
    cols = [cols] if len(names) == 1 else _cell_list(cols)
    if len(cols) != len(names):
        raise InputError(
            source,
            f"atlas {atlas!r} has {len(names)} ROI names but {len(cols)} column lists.",
            "Use the original Pereira 2018 .mat file.",
        )
    wanted = names if rois is None else [rois] if isinstance(rois, str) else list(rois)
    unknown = [r for r in wanted if r not in names]
    if unknown:
        raise InputError(
            source,
            f"ROI(s) {unknown} not in atlas {atlas!r} ({', '.join(names)}).",
            "Pick ROIs of that atlas.",
        )
    out_cols, out_roi = [], []
    for name, c in zip(names, cols):
        if name in wanted:
            c = np.atleast_1d(np.asarray(c, dtype=np.int64)) - 1
            out_cols.append(c)
            out_roi += [name] * len(c)
    cols = np.concatenate(out_cols) if out_cols else np.empty(0, np.int64)
    roi_names = np.asarray(out_roi, dtype=object)
    order = np.argsort(cols, kind="stable")
    cols, roi_names = cols[order], roi_names[order]
    dup = np.r_[False, cols[1:] == cols[:-1]]
    return cols[~dup], roi_names[~dup]


def load_pereira2018(path, atlas: str | None = None, rois=None) -> Dataset:
    """One participant's file of Pereira et al. 2018 as a recordings set (P × N × 1).

    Experiments 2 and 3 (``data_384sentences.mat``, ``data_243sentences.mat``): responses
    ``examples_passagesentences`` (sentences × voxels); stimuli ``keySentences``; ``group`` = the
    passage of each sentence (``labelsPassageForEachSentence``), so sentences of one passage stay in
    one fold; ``passage_category`` from ``labelsPassageCategory``/``keyPassageCategory`` when
    present. Experiment 1 (``data_180concepts_*.mat``): responses ``examples`` (concepts × voxels),
    stimuli ``keyConcept``, no group.

    atlas, rois : keep only the voxels of an atlas of ``meta.atlases`` (e.g. ``languageLH``), or of
        some of its ROIs (``meta.rois``); columns from ``meta.roiColumns`` (1-based in the file).
        Default: all voxels.

    Returns stimuli ``stimulus_id`` (``s001``… or ``c001``…), ``sentence``/``concept``
    [, ``passage``, ``group``, ``passage_category``]; targets ``target_name`` (``v<column>``),
    ``column`` (0-based), ``x``/``y``/``z`` (``meta.colToCoord``) [, ``roi``].
    """
    source = str(path)
    d = read_mat(path, source)
    if "examples_passagesentences" in d:
        X = _array(d["examples_passagesentences"], "examples_passagesentences", source, ndim=2)
        texts = _strings(_need(d, "keySentences", source), "keySentences", source)
        kind, prefix = "sentence", "s"
    elif "examples" in d:
        X = _array(d["examples"], "examples", source, ndim=2)
        key = "keyConcept" if "keyConcept" in d else "keySentences"
        texts = _strings(_need(d, key, source), key, source)
        kind, prefix = ("concept", "c") if key == "keyConcept" else ("sentence", "s")
    else:
        raise InputError(
            source,
            "has neither 'examples_passagesentences' nor 'examples'.",
            "Use a Pereira 2018 data_*.mat file.",
        )
    if len(texts) != X.shape[0]:
        raise InputError(
            source,
            f"{len(texts)} {kind}s for {X.shape[0]} rows of responses.",
            "Use the original file.",
        )
    width = max(3, len(str(len(texts))))
    stimuli = pd.DataFrame(
        {"stimulus_id": [f"{prefix}{i:0{width}d}" for i in range(1, len(texts) + 1)], kind: texts}
    )
    if "labelsPassageForEachSentence" in d and kind == "sentence":
        passage = np.atleast_1d(np.asarray(d["labelsPassageForEachSentence"])).astype(int).ravel()
        if len(passage) != len(texts):
            raise InputError(
                source,
                "labelsPassageForEachSentence does not have one label per sentence.",
                "Use the original file.",
            )
        stimuli["passage"] = passage
        stimuli["group"] = [f"passage{p}" for p in passage]
        if "labelsPassageCategory" in d and "keyPassageCategory" in d:
            pcat = np.atleast_1d(np.asarray(d["labelsPassageCategory"])).astype(int).ravel()
            keys = _strings(d["keyPassageCategory"], "keyPassageCategory", source)
            if passage.max() <= len(pcat) and pcat.max() <= len(keys):
                stimuli["passage_category"] = [keys[pcat[p - 1] - 1] for p in passage]
    meta = d.get("meta", {}) if isinstance(d.get("meta"), dict) else {}
    cols = np.arange(X.shape[1])
    roi_names = None
    if atlas is not None:
        cols, roi_names = _pereira_atlas_columns(meta, atlas, rois, source)
        if len(cols) == 0 or cols.max() >= X.shape[1] or cols.min() < 0:
            raise InputError(
                source,
                f"atlas {atlas!r} columns are outside the {X.shape[1]} voxels.",
                "Use the original file.",
            )
    elif rois is not None:
        raise InputError(source, "rois given without atlas.", "Name the atlas the ROIs belong to.")
    targets = pd.DataFrame({"target_name": [f"v{c}" for c in cols], "column": cols})
    if "colToCoord" in meta:
        coord = np.asarray(meta["colToCoord"], dtype=float).reshape(-1, 3)
        if len(coord) == X.shape[1]:
            targets[["x", "y", "z"]] = coord[cols]
    if roi_names is not None:
        targets["roi"] = roi_names
    return Dataset(X[:, cols, None], stimuli, targets, {"atlas": atlas})


# --------------------------------------------------------------------------------------------
# 5. LeBel et al. 2023: TextGrids, Lanczos downsampling, FIR delays
# --------------------------------------------------------------------------------------------

_TG_TOKEN = re.compile(
    r'"((?:[^"]|"")*)"|<exists>|<absent>|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)'
)


def read_textgrid(path) -> pd.DataFrame:
    """All intervals (and points) of a Praat TextGrid, long or short text format (UTF-8 or UTF-16).

    Returns a table ``tier`` (tier name), ``tier_index`` (0-based), ``start``, ``end`` (seconds;
    ``end == start`` for point tiers) and ``label`` (str), in file order.
    """
    path = Path(path)
    raw = path.read_bytes()
    enc = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    text = raw.decode(enc, errors="replace")
    text = re.sub(
        r"\[\s*\d*\s*\]", " ", text
    )  # 'item [1]:' / 'intervals [3]:' labels of the long format
    toks = []
    for m in _TG_TOKEN.finditer(text):
        if m.group(1) is not None:
            toks.append(("s", m.group(1).replace('""', '"')))
        elif m.group(2) is not None:
            toks.append(("n", float(m.group(2))))
        else:
            toks.append(("f", m.group(0)))
    try:
        it = iter(toks)

        def nxt(kind):
            k, v = next(it)
            if k != kind:
                raise ValueError(f"expected {kind}, got {v!r}")
            return v

        if nxt("s") != "ooTextFile" or nxt("s") != "TextGrid":
            raise ValueError("not an ooTextFile TextGrid")
        nxt("n"), nxt("n")
        if nxt("f") != "<exists>":
            return pd.DataFrame(columns=["tier", "tier_index", "start", "end", "label"])
        n_tiers = int(nxt("n"))
        rows = []
        for t in range(n_tiers):
            cls, name = nxt("s"), nxt("s")
            nxt("n"), nxt("n")
            n = int(nxt("n"))
            for _ in range(n):
                if cls == "IntervalTier":
                    a, b, lab = nxt("n"), nxt("n"), nxt("s")
                else:
                    a = nxt("n")
                    b, lab = a, nxt("s")
                rows.append((name, t, a, b, lab))
    except (StopIteration, ValueError) as e:
        raise InputError(
            str(path),
            f"is not a readable Praat TextGrid ({e}).",
            "Use the TextGrids of the data release (derivative/TextGrids).",
        ) from e
    return pd.DataFrame(rows, columns=["tier", "tier_index", "start", "end", "label"])


def textgrid_words(
    path,
    tier: str | int | None = None,
    bad_words: Sequence[str] = DEFAULTS["lebel2023"]["bad_words"],
) -> pd.DataFrame:
    """The words of a story's TextGrid with their times, as the Huth lab's ``make_word_ds``.

    tier : name or 0-based index of the word tier; default: the tier named ``word``/``words``
        (case-insensitive), else tier 1 (the ds003020 TextGrids have tiers ``phone``, ``word``).
    Words whose label, lower-cased and stripped of ``{}`` and spaces, is empty or in ``bad_words``
    (silence and noise markers) are dropped. Returns ``word`` (lower case), ``start``, ``end`` and
    ``time`` = (start + end) / 2, the time used for interpolation.
    """
    grid = read_textgrid(path)
    names = list(dict.fromkeys(grid["tier"]))
    if tier is None:
        lowered = [n.lower() for n in names]
        tier = next((names[lowered.index(n)] for n in ("word", "words") if n in lowered), 1)
    if isinstance(tier, int):
        if not 0 <= tier < len(names):
            raise InputError(
                str(path), f"has {len(names)} tier(s), no tier index {tier}.", "Name the word tier."
            )
        tier = names[tier]
    if tier not in names:
        raise InputError(
            str(path), f"has no tier {tier!r} (tiers: {names}).", "Name the word tier."
        )
    w = grid[grid["tier"] == tier]
    clean = w["label"].str.lower().str.strip("{}").str.strip()
    bad = set(bad_words)
    w = w[(clean != "") & ~clean.isin(bad)]
    words = pd.DataFrame(
        {
            "word": w["label"].str.lower().str.strip().to_numpy(),
            "start": w["start"].to_numpy(float),
            "end": w["end"].to_numpy(float),
        }
    )
    words["time"] = (words["start"] + words["end"]) / 2.0
    return words


def lanczos_kernel(t: np.ndarray, cutoff: float, window: int = 3) -> np.ndarray:
    """Lanczos kernel ``L(t) = a·sin(π f t)·sin(π f t / a) / (π f t)²`` with ``f = cutoff`` (Hz) and
    ``a = window`` lobes; ``L(0) = 1`` and ``L(t) = 0`` for ``|f t| > a`` (the Huth lab's
    ``lanczosfun``)."""
    x = np.asarray(t, dtype=np.float64) * cutoff
    out = np.zeros_like(x)
    inside = np.abs(x) <= window
    nz = inside & (x != 0)
    xn = x[nz]
    out[nz] = window * np.sin(np.pi * xn) * np.sin(np.pi * xn / window) / (np.pi**2 * xn**2)
    out[x == 0] = 1.0
    return out


def lanczos_downsample(
    word_times,
    word_features,
    tr_times,
    window: int = DEFAULTS["lebel2023"]["window"],
    cutoff_mult: float = DEFAULTS["lebel2023"]["cutoff_mult"],
) -> np.ndarray:
    """Resample word-level features to TRs with a Lanczos filter (Huth lab ``lanczosinterp2D``).

    ``out[i] = Σ_j L(tr_times[i] − word_times[j]) · word_features[j]`` with the kernel of
    :func:`lanczos_kernel`, cutoff ``f = cutoff_mult / mean(diff(tr_times))`` (the TR rate) and
    ``window`` lobes. No normalisation: the output sums the words near each TR (so a constant
    feature of 1 per word becomes a word-rate regressor).

    Shapes: word_times (W,), word_features (W, F) or (W,), tr_times (T,) evenly spaced, T ≥ 2.
    Returns (T, F) float64.
    """
    wt = np.asarray(word_times, dtype=np.float64).ravel()
    tt = np.asarray(tr_times, dtype=np.float64).ravel()
    F = np.asarray(word_features, dtype=np.float64)
    if F.ndim == 1:
        F = F[:, None]
    if F.shape[0] != wt.size:
        raise InputError(
            "lanczos_downsample",
            f"{F.shape[0]} feature rows for {wt.size} word times.",
            "Give one feature row per word.",
        )
    if tt.size < 2:
        raise InputError("lanczos_downsample", "need at least 2 TR times.", "Check the TR grid.")
    cutoff = cutoff_mult / np.mean(np.diff(tt))
    L = lanczos_kernel(tt[:, None] - wt[None, :], cutoff, window)
    return L @ F


def fir_delays(
    X, delays: Sequence[int] = DEFAULTS["lebel2023"]["delays"], groups=None
) -> np.ndarray:
    """Stack delayed copies of a TR × feature matrix (finite impulse response model of the HRF).

    ``out[:, k·F:(k+1)·F][t] = X[t − delays[k]]`` (zeros where ``t − d`` falls before the start),
    i.e. the Huth lab's ``make_delayed`` (negative delays shift the other way). With ``groups``
    (one label per row, e.g. the story), rows are delayed within their group only: a story's
    first TRs never see the previous story. Shapes: X (T, F) → (T, F·len(delays)).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    T, F = X.shape
    if groups is None:
        starts = np.array([0, T])
    else:
        g = np.asarray(groups)
        if len(g) != T:
            raise InputError(
                "fir_delays", f"{len(g)} group labels for {T} rows.", "Give one label per row."
            )
        change = np.flatnonzero(g[1:] != g[:-1]) + 1
        starts = np.r_[0, change, T]
    out = np.zeros((T, F * len(delays)))
    for a, b in zip(starts[:-1], starts[1:]):
        for k, d in enumerate(delays):
            d = int(d)
            blk = out[a:b, k * F : (k + 1) * F]
            n = b - a
            if d > 0 and d < n:
                blk[d:] = X[a : b - d]
            elif d < 0 and -d < n:
                blk[:d] = X[a - d : b]
            elif d == 0:
                blk[:] = X[a:b]
    return out


def lebel_tr_times(
    n_feature_trs: int,
    tr: float = DEFAULTS["lebel2023"]["tr"],
    start_time: float = DEFAULTS["lebel2023"]["start_time"],
) -> np.ndarray:
    """Times (s, relative to the story's sound onset) of the TR grid word features are resampled
    to: ``i·tr − start_time + tr/2`` for ``i < n_feature_trs`` (the Huth lab's simulated TR files:
    triggers every ``tr`` from 0, sound starting ``start_time`` into the run, each TR represented
    by its midpoint)."""
    return np.arange(int(n_feature_trs)) * tr - start_time + tr / 2.0


def _read_resp(path: Path) -> np.ndarray:
    import h5py

    if not path.is_file():
        raise InputError(
            str(path), "response file does not exist.", "Download the story's .hf5 file."
        )
    try:
        with h5py.File(path, "r") as f:
            keys = list(f.keys())
            name = (
                "resp"
                if "resp" in f
                else "data"
                if "data" in f
                else keys[0]
                if len(keys) == 1
                else None
            )
            if name is None:
                raise InputError(
                    str(path),
                    f"has no 'resp' dataset (found {keys}).",
                    "Use derivative/preprocessed_data/<subject>/<story>.hf5.",
                )
            return np.asarray(f[name][()], dtype=np.float64)
    except OSError as e:
        raise InputError(str(path), f"cannot read as HDF5: {e}.", "Download it again.") from e


def load_lebel2023(
    resp_dir,
    textgrid_dir,
    stories: Sequence[str],
    respdict: dict | None = None,
    tr: float = DEFAULTS["lebel2023"]["tr"],
    start_time: float = DEFAULTS["lebel2023"]["start_time"],
    pad: int = DEFAULTS["lebel2023"]["pad"],
    trim_start: int = DEFAULTS["lebel2023"]["trim_start"],
    trim_end: int = DEFAULTS["lebel2023"]["trim_end"],
    bad_words: Sequence[str] = DEFAULTS["lebel2023"]["bad_words"],
) -> Dataset:
    """One LeBel et al. 2023 subject's story-listening responses; stimuli are TRs, grouped by story.

    Reads ``<resp_dir>/<story>.hf5`` (dataset ``resp``, TRs × voxels; ``resp_dir`` =
    ``derivative/preprocessed_data/<subject>``) and ``<textgrid_dir>/<story>.TextGrid``.

    TR alignment (the Huth lab's ``encoding.py`` with ``trim=5``): word features live on a grid of
    ``n_total − pad`` TRs (:func:`lebel_tr_times`) and rows ``[trim_start : −trim_end]`` of it match
    the response rows. ``n_total`` is ``respdict[story]`` (``derivative/respdict.json``) when given,
    else ``n_resp + trim_start + trim_end + pad``; a mismatch with the response length is an error.

    Returns responses (Σ TRs) × voxels × 1; stimuli ``stimulus_id`` (``<story>_tr0000``…),
    ``group`` = ``story``, ``tr_index`` (row of the story's feature grid), ``tr_time`` (s);
    targets ``target_name`` (``v<column>``), ``column``. ``extra``: ``words`` (story, word, start,
    end, time — the input of :func:`lebel_tr_features`) and ``tr_times`` (story → full grid).
    """
    resp_dir, textgrid_dir = Path(resp_dir), Path(textgrid_dir)
    if not stories:
        raise InputError(str(resp_dir), "no stories given.", "List the stories to load.")
    if len(set(stories)) != len(stories):
        raise InputError(str(resp_dir), "a story is listed twice.", "List each story once.")
    blocks, stim_rows, words, grids = [], [], [], {}
    n_vox = None
    for story in stories:
        Y = _read_resp(resp_dir / f"{story}.hf5")
        if Y.ndim != 2:
            raise InputError(
                str(resp_dir / f"{story}.hf5"),
                f"resp has shape {Y.shape}, expected TRs × voxels.",
                "Use the preprocessed data.",
            )
        if n_vox is None:
            n_vox = Y.shape[1]
        elif Y.shape[1] != n_vox:
            raise InputError(
                str(resp_dir / f"{story}.hf5"),
                f"{Y.shape[1]} voxels, other stories have {n_vox}.",
                "Load stories of one subject only.",
            )
        n_resp = Y.shape[0]
        n_total = (
            int(respdict[story])
            if respdict is not None and story in respdict
            else n_resp + trim_start + trim_end + pad
        )
        grid = lebel_tr_times(n_total - pad, tr, start_time)
        kept = np.arange(trim_start, len(grid) - trim_end)
        if len(kept) != n_resp:
            raise InputError(
                str(resp_dir / f"{story}.hf5"),
                f"{n_resp} response TRs, but the feature "
                f"grid keeps {len(kept)} (respdict {n_total} − pad {pad} − trims "
                f"{trim_start}+{trim_end}).",
                "Check respdict.json and the trim settings.",
            )
        w = textgrid_words(textgrid_dir / f"{story}.TextGrid", bad_words=bad_words)
        w.insert(0, "story", story)
        words.append(w)
        grids[story] = grid
        blocks.append(Y)
        stim_rows.append(
            pd.DataFrame(
                {
                    "stimulus_id": [f"{story}_tr{i:04d}" for i in kept],
                    "group": story,
                    "story": story,
                    "tr_index": kept,
                    "tr_time": grid[kept],
                }
            )
        )
    Y = np.vstack(blocks)[:, :, None]
    stimuli = pd.concat(stim_rows, ignore_index=True)
    targets = pd.DataFrame(
        {"target_name": [f"v{i}" for i in range(n_vox)], "column": np.arange(n_vox)}
    )
    return Dataset(
        Y, stimuli, targets, {"words": pd.concat(words, ignore_index=True), "tr_times": grids}
    )


def lebel_tr_features(
    words: pd.DataFrame,
    word_features,
    stimuli: pd.DataFrame,
    tr_times: dict,
    delays: Sequence[int] = DEFAULTS["lebel2023"]["delays"],
    zscore: bool = True,
    window: int = DEFAULTS["lebel2023"]["window"],
    cutoff_mult: float = DEFAULTS["lebel2023"]["cutoff_mult"],
) -> np.ndarray:
    """Word features → the TR stimuli of :func:`load_lebel2023` (one layer's activations).

    For each story (in ``stimuli`` order): Lanczos-downsample its words' rows of ``word_features``
    (rows aligned with ``words``) onto the story's full TR grid, keep the rows ``stimuli.tr_index``,
    z-score each feature over the story's kept TRs (``zscore``; constant features become 0), then
    stack FIR ``delays`` within the story. Shapes: word_features (W, F) with W = len(words) →
    (P, F·len(delays)), P = len(stimuli).
    """
    Fw = np.asarray(word_features, dtype=np.float64)
    if Fw.ndim == 1:
        Fw = Fw[:, None]
    if Fw.shape[0] != len(words):
        raise InputError(
            "lebel_tr_features",
            f"{Fw.shape[0]} feature rows for {len(words)} words.",
            "Compute one feature row per row of the words table.",
        )
    out = []
    story_col = stimuli["story"].to_numpy()
    for story in pd.unique(story_col):
        sel = words["story"].to_numpy() == story
        rows = stimuli.loc[story_col == story, "tr_index"].to_numpy()
        Z = lanczos_downsample(
            words.loc[sel, "time"], Fw[sel], tr_times[story], window, cutoff_mult
        )[rows]
        if zscore:
            sd = Z.std(axis=0)
            Z = np.where(sd > 0, (Z - Z.mean(axis=0)) / np.where(sd > 0, sd, 1.0), 0.0)
        out.append(fir_delays(Z, delays))
    return np.vstack(out)


# --------------------------------------------------------------------------------------------
# 6. MEC rate maps from a user file
# --------------------------------------------------------------------------------------------


def _overlap_matrix(n_src: int, n_dst: int) -> np.ndarray:
    """(n_dst, n_src) fractions of each destination bin covered by each source bin (same extent)."""
    src = np.linspace(0.0, 1.0, n_src + 1)
    dst = np.linspace(0.0, 1.0, n_dst + 1)
    lo = np.maximum(dst[:-1, None], src[None, :-1])
    hi = np.minimum(dst[1:, None], src[None, 1:])
    return np.clip(hi - lo, 0.0, None)


def rebin_rate_maps(maps, n_bins: int) -> np.ndarray:
    """Area-weighted rebinning of rate maps covering the same square arena onto ``n_bins²`` bins.

    maps : (C, By, Bx), indexed ``[cell, iy, ix]`` with ``iy`` along y (row 0 = lowest y) and ``ix``
        along x. NaN marks unvisited source bins; each destination bin is the overlap-weighted mean
        of its finite source bins (NaN if it has none).
    Returns (n_bins², C) in :func:`predictivity.mec.arena_bins` order (``row = iy·n_bins + ix``).
    """
    M = np.asarray(maps, dtype=np.float64)
    C, By, Bx = M.shape
    Wy, Wx = _overlap_matrix(By, n_bins), _overlap_matrix(Bx, n_bins)
    finite = np.isfinite(M)
    num = np.einsum("yb,cba,xa->cyx", Wy, np.where(finite, M, 0.0), Wx)
    den = np.einsum("yb,cba,xa->cyx", Wy, finite.astype(float), Wx)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out.reshape(C, n_bins * n_bins).T


def _positions_to_arena(pos: np.ndarray, box_width: float, origin: str, source: str) -> np.ndarray:
    pos = np.asarray(pos, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] < 2:
        raise InputError(
            source,
            f"positions have shape {pos.shape}, expected samples × 2 (x, y).",
            "Store positions as a T × 2 array in metres.",
        )
    pos = pos[:, :2]
    if origin == "centre":
        return pos
    if origin == "corner":
        return pos - box_width / 2
    if origin == "auto":
        ok = np.isfinite(pos).all(axis=1)
        mid = (np.nanmin(pos[ok], axis=0) + np.nanmax(pos[ok], axis=0)) / 2
        return pos - mid
    raise InputError(source, f"origin {origin!r} unknown.", "Use 'auto', 'centre' or 'corner'.")


def _fill(maps: np.ndarray, unvisited: str, n_bins: int, source: str) -> np.ndarray:
    """maps (n_bins², C) with NaN at unvisited bins → filled per ``unvisited``."""
    bad = ~np.isfinite(maps).all(axis=1)
    if not bad.any():
        return maps
    if unvisited == "error":
        raise InputError(
            source,
            f"{int(bad.sum())} of {n_bins * n_bins} arena bins were never visited (no rate).",
            "Use fewer bins (n_bins), a longer session, or unvisited: nearest | mean.",
        )
    if unvisited == "mean":
        col = np.nanmean(maps, axis=0)
        return np.where(np.isfinite(maps), maps, col[None, :])
    if unvisited == "nearest":
        from scipy.ndimage import distance_transform_edt

        _, (iy, ix) = distance_transform_edt(bad.reshape(n_bins, n_bins), return_indices=True)
        return maps[(iy * n_bins + ix).ravel()]
    raise InputError(
        source, f"unvisited {unvisited!r} unknown.", "Use 'error', 'nearest' or 'mean'."
    )


def rate_maps_from_samples(
    positions, dt, spike_bins: list[np.ndarray], box_width: float, n_bins: int
) -> np.ndarray:
    """Occupancy-normalised rate maps (Hz) from tracked positions and spikes.

    positions : (T, 2) metres, arena-centred; dt : (T,) seconds each sample represents;
    spike_bins : per cell, the arena-bin index of every spike (from the position at its time).
    Returns (n_bins², C): spikes in a bin / time spent in it; NaN where the time is 0.
    """
    from predictivity.mec import bin_index

    b = bin_index(positions, box_width, n_bins)
    occ = np.bincount(b, weights=dt, minlength=n_bins * n_bins)
    counts = (
        np.stack([np.bincount(sb, minlength=n_bins * n_bins) for sb in spike_bins], axis=1)
        if spike_bins
        else np.zeros((n_bins * n_bins, 0))
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(occ[:, None] > 0, counts / np.where(occ > 0, occ, 1.0)[:, None], np.nan)


def _sample_dt(times: np.ndarray) -> np.ndarray:
    d = np.diff(times)
    if len(d) == 0 or not (d > 0).all():
        raise ValueError("position timestamps must be strictly increasing")
    return np.r_[d, np.median(d)]


def read_nwb_units_position(path, position_series: str | None = None) -> dict:
    """Spike times per unit and tracked position from an NWB 2.x file, read with h5py.

    NWB paths read:

    * ``/units/spike_times`` (all units' spike times concatenated, seconds) and
      ``/units/spike_times_index`` (per unit, the end offset of its spikes in ``spike_times``);
      ``/units/id`` (unit ids).
    * position: a ``SpatialSeries`` inside a ``Position`` container (``neurodata_type``
      attribute) under ``/processing/behavior`` (else anywhere under ``/processing`` or
      ``/acquisition``): ``data`` (T × 2 or more; multiplied by its ``conversion`` attribute and
      shifted by ``offset`` when present, giving metres) and ``timestamps`` (or ``starting_time``
      with attribute ``rate``). ``position_series`` picks a series by name when there are several.

    Returns ``{"spike_times": [array per unit], "unit_ids": array, "positions": (T, 2),
    "times": (T,), "series": path of the SpatialSeries}``.
    """
    import h5py

    source = str(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise InputError(source, f"cannot open as NWB/HDF5: {e}.", "Check the file.") from e
    with f:
        if "units" not in f or "spike_times" not in f["units"]:
            raise InputError(
                source, "has no /units/spike_times.", "Store spikes in the NWB units table."
            )
        st = np.asarray(f["units/spike_times"][()], dtype=np.float64)
        if "spike_times_index" in f["units"]:
            ends = np.asarray(f["units/spike_times_index"][()], dtype=np.int64)
        else:
            ends = np.array([len(st)])
        starts = np.r_[0, ends[:-1]]
        spikes = [st[a:b] for a, b in zip(starts, ends)]
        ids = np.asarray(f["units/id"][()]) if "id" in f["units"] else np.arange(len(spikes))

        series = []

        def visit(name, obj):
            if isinstance(obj, h5py.Group) and _attr_str(obj, "neurodata_type") == "SpatialSeries":
                parent = obj.parent
                in_position = _attr_str(parent, "neurodata_type") == "Position"
                series.append((name, in_position))

        for root in ("processing/behavior", "processing", "acquisition"):
            if root in f:
                f[root].visititems(lambda n, o, r=root: visit(f"{r}/{n}", o))
                if series:
                    break
        series = list(dict.fromkeys(series))
        if position_series is not None:
            series = [s for s in series if s[0].split("/")[-1] == position_series]
        preferred = [s for s in series if s[1]] or series
        if not preferred:
            raise InputError(
                source,
                "has no SpatialSeries (Position) under /processing/behavior.",
                "Store the tracked position as a Position/SpatialSeries in the "
                "behavior processing module.",
            )
        if len(preferred) > 1:
            raise InputError(
                source,
                f"has several position series: {[s[0] for s in preferred]}.",
                "Name one with position_series.",
            )
        g = f[preferred[0][0]]
        data = np.asarray(g["data"][()], dtype=np.float64)
        conv = float(np.asarray(g["data"].attrs.get("conversion", 1.0)))
        off = float(np.asarray(g["data"].attrs.get("offset", 0.0)))
        data = data * conv + off
        if "timestamps" in g:
            times = np.asarray(g["timestamps"][()], dtype=np.float64)
        elif "starting_time" in g:
            t0 = float(g["starting_time"][()])
            rate = float(g["starting_time"].attrs["rate"])
            times = t0 + np.arange(len(data)) / rate
        else:
            raise InputError(
                source,
                f"{preferred[0][0]} has neither timestamps nor starting_time.",
                "Store timestamps with the position.",
            )
    if data.ndim == 1 or data.shape[1] < 2:
        raise InputError(
            source,
            f"position data have shape {data.shape}, expected T × 2.",
            "Store x and y positions.",
        )
    return {
        "spike_times": spikes,
        "unit_ids": ids,
        "positions": data[:, :2],
        "times": times,
        "series": preferred[0][0],
    }


def load_mec_recordings(
    path,
    box_width: float = DEFAULTS["mec"]["box_width"],
    n_bins: int = DEFAULTS["mec"]["n_bins"],
    *,
    origin: str = DEFAULTS["mec"]["origin"],
    unvisited: str = DEFAULTS["mec"]["unvisited"],
    split_halves: bool = DEFAULTS["mec"]["split_halves"],
    position_series: str | None = None,
) -> Dataset:
    """MEC rate maps from a user file, on the study's arena bins.

    Accepted files:

    * ``.npy`` — rate maps ``cells × bins_y × bins_x`` (or ``repetitions × cells × bins_y ×
      bins_x``), indexed ``[cell, iy, ix]`` with row 0 at the lowest y, covering the whole arena
      (any resolution: rebinned by area, :func:`rebin_rate_maps`; NaN = unvisited).
    * ``.npz`` or ``.mat`` — either ``rate_maps`` as above, or ``positions`` (T × 2, metres),
      ``spikes`` (T × cells, spike counts per position sample) and ``times`` (T, s) or ``dt``
      (scalar s per sample).
    * ``.nwb`` — spike times of ``/units`` and a ``Position`` SpatialSeries
      (:func:`read_nwb_units_position`); each spike takes the position of the nearest sample.

    Positions are placed in the arena ``[−box_width/2, box_width/2]²`` according to ``origin``
    (``auto``: centre of the visited range; ``centre``: already centred; ``corner``: ``[0, box_width]``).
    ``split_halves`` (positions + spikes only): two repetitions, rate maps of the first and the
    second half of the session (for the noise ceiling). Bins never visited are handled by
    ``unvisited`` (``error``, ``nearest`` visited bin, or the cell's ``mean`` rate).

    Returns responses (n_bins², cells, R) in Hz (or the file's rate-map units); stimuli =
    :func:`predictivity.mec.arena_bins` (``stimulus_id``, ``x``, ``y``, ``ix``, ``iy``); targets
    ``target_name`` (unit ids for NWB, else ``cell<i>``).
    """
    from predictivity.mec import arena_bins, bin_index

    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise InputError(source, "file does not exist.", "Check the recordings path.")
    suffix = path.suffix.lower()
    names = None
    reps: list[np.ndarray] = []
    if suffix == ".npy":
        try:
            d = {"rate_maps": np.load(path, allow_pickle=False)}
        except (ValueError, OSError) as e:
            raise InputError(
                source, f"cannot read .npy: {e}.", "Save a float array (allow_pickle=False)."
            ) from e
    elif suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        except (ValueError, OSError) as e:
            raise InputError(
                source, f"cannot read .npz: {e}.", "Save float arrays (allow_pickle=False)."
            ) from e
    elif suffix == ".mat":
        d = read_mat(path, source)
    elif suffix == ".nwb":
        nwb = read_nwb_units_position(path, position_series)
        d = None
    else:
        raise InputError(
            source, f"unsupported file type {suffix!r}.", "Use .npy, .npz, .mat or .nwb."
        )

    if d is not None and "rate_maps" in d:
        M = _array(d["rate_maps"], "rate_maps", source)
        if M.ndim == 3:
            M = M[None]
        if M.ndim != 4:
            raise InputError(
                source,
                f"rate_maps have shape {M.shape}, expected cells × bins_y × bins_x "
                "(or repetitions × cells × bins_y × bins_x).",
                "Reshape the array.",
            )
        reps = [rebin_rate_maps(m, n_bins) for m in M]
    else:
        if d is not None:
            pos = _array(_need(d, "positions", source), "positions", source)
            S = _array(_need(d, "spikes", source), "spikes", source)
            if S.ndim == 1:
                S = S[:, None]
            if S.shape[0] != pos.shape[0]:
                raise InputError(
                    source,
                    f"spikes have {S.shape[0]} samples, positions {pos.shape[0]}.",
                    "Give spike counts per position sample (T × cells).",
                )
            if "times" in d:
                times = np.asarray(d["times"], dtype=np.float64).ravel()
            elif "dt" in d:
                times = np.arange(len(pos)) * float(np.asarray(d["dt"]).ravel()[0])
            else:
                raise InputError(
                    source,
                    "has positions but neither 'times' nor 'dt'.",
                    "Add the sample times (s) or the sampling interval dt (s).",
                )
        else:
            pos, times = nwb["positions"], nwb["times"]
            names = [str(i) for i in nwb["unit_ids"]]
        if len(times) != len(pos):
            raise InputError(
                source, f"{len(times)} times for {len(pos)} positions.", "Give one time per sample."
            )
        ok = np.isfinite(pos[:, :2]).all(axis=1) & np.isfinite(times)
        try:
            dt_all = _sample_dt(times[ok])
        except ValueError as e:
            raise InputError(source, str(e) + ".", "Sort the samples by time.") from e
        arena = _positions_to_arena(pos[ok], box_width, origin, source)
        t_ok = times[ok]
        halves = [np.ones(len(t_ok), bool)]
        if split_halves:
            mid = (t_ok[0] + t_ok[-1]) / 2
            halves = [t_ok < mid, t_ok >= mid]
        sample_bins = bin_index(arena, box_width, n_bins)
        for h in halves:
            if d is not None:
                Sk = S[ok][h]
                spike_bins = [
                    np.repeat(sample_bins[h], Sk[:, c].astype(np.int64)) for c in range(Sk.shape[1])
                ]
            else:
                th = t_ok[h]
                spike_bins = []
                for st in nwb["spike_times"]:
                    st = st[(st >= th[0]) & (st <= th[-1])]
                    j = np.clip(np.searchsorted(th, st), 1, len(th) - 1)
                    j -= (st - th[j - 1]) < (th[j] - st)
                    spike_bins.append(sample_bins[h][j])
            reps.append(rate_maps_from_samples(arena[h], dt_all[h], spike_bins, box_width, n_bins))
    reps = [_fill(r, unvisited, n_bins, source) for r in reps]
    Y = np.stack(reps, axis=2)
    C = Y.shape[1]
    if names is None:
        names = [f"cell{i}" for i in range(C)]
    stimuli = arena_bins(box_width, n_bins)
    targets = pd.DataFrame({"target_name": names})
    return Dataset(Y, stimuli, targets, {"format": suffix})


# --------------------------------------------------------------------------------------------
# One entry point for the workflow: a study's `dataset:` config → a Dataset aligned to its stimuli
# --------------------------------------------------------------------------------------------

#: Loader names usable in a study's ``dataset.loader`` and the study kinds they serve.
LOADERS = {
    "nh2015_components": "auditory",
    "tuckute2023_nh2015": "auditory",
    "tuckute2023_b2021": "auditory",
    "majajhong2015": "it",
    "mec_file": "mec",
    "pereira2018": "language",
    "lebel2023": "story",
}


def load_dataset(
    loader: str,
    path,
    options: dict | None = None,
    *,
    verified: bool = False,
    source: str = "dataset",
) -> Dataset:
    """Run the named loader on ``path`` (a file, or the directory of an unpacked download).

    options are the loader's keyword arguments. ``verified`` must be True for the Tuckute release
    (its metadata are pickles): the workflow passes True only for a download whose sha256 was
    checked by :func:`predictivity.download.fetch`.
    """
    opts = dict(options or {})
    if loader not in LOADERS:
        raise InputError(
            source, f"unknown loader {loader!r}.", f"Use one of: {', '.join(LOADERS)}."
        )
    p = Path(path)
    if loader == "nh2015_components":
        if p.is_dir():
            hits = sorted(p.rglob("components.mat"))
            if not hits:
                raise InputError(
                    str(p),
                    "no components.mat below this directory.",
                    "Point `dataset.path` at components.mat or at the unpacked release.",
                )
            p = hits[0]
        return load_nh2015_components(p, **opts)
    if loader in ("tuckute2023_nh2015", "tuckute2023_b2021"):
        name = "NH2015" if loader.endswith("nh2015") else "B2021"
        return load_tuckute2023(p, name, verified=verified, **opts)
    if loader == "majajhong2015":
        if p.is_dir():
            hits = sorted(p.rglob("*.nc"))
            if not hits:
                raise InputError(
                    str(p),
                    "no .nc (BrainIO netCDF) file below this directory.",
                    "Point `dataset.path` at the assembly .nc file.",
                )
            p = hits[0]
        return load_majajhong2015(p, **opts)
    if loader == "lebel2023":
        # path = the dataset root (OpenNeuro ds003020) holding derivative/
        opts = dict(opts)
        subject = opts.pop("subject", None)
        stories = opts.pop("stories", None)
        if not subject or not stories:
            raise InputError(
                source,
                "lebel2023 needs `options.subject` (e.g. UTS01) and `options.stories` (a list).",
                "Name the subject and the stories to load.",
            )
        deriv = p / "derivative"
        respdict = None
        if (deriv / "respdict.json").is_file():
            import json

            respdict = json.loads((deriv / "respdict.json").read_text())
        return load_lebel2023(
            deriv / "preprocessed_data" / subject,
            deriv / "TextGrids",
            list(stories),
            respdict=respdict,
            **opts,
        )
    if loader == "pereira2018":
        if p.is_dir():
            hits = sorted(p.rglob("data_*sentences*.mat")) or sorted(p.rglob("data_*.mat"))
            if not hits:
                raise InputError(
                    str(p),
                    "no data_*.mat (Pereira 2018) below this directory.",
                    "Point `dataset.path` at one participant's data_384sentences.mat.",
                )
            p = hits[0]
        return load_pereira2018(p, **opts)
    return load_mec_recordings(p, **opts)


def align_to_stimuli(dataset: Dataset, stimulus_ids: Sequence[str], source: str) -> Dataset:
    """Reorder a dataset's stimuli (and responses) to the study's stimulus order, matched by id.

    Every stimulus of the study must have recordings; recordings of stimuli the study does not
    present are dropped (their count is in ``extra['n_unused_stimuli']``). Ids are compared as
    strings, also after removing a file extension (``stim5_alarm_clock.wav`` matches
    ``stim5_alarm_clock``).
    """
    ids = [str(i) for i in dataset.stimuli["stimulus_id"]]
    index = {}
    for k, i in enumerate(ids):
        index.setdefault(i, k)
        index.setdefault(Path(i).stem, k)
    missing = [s for s in stimulus_ids if str(s) not in index and Path(str(s)).stem not in index]
    if missing:
        raise InputError(
            source,
            f"{len(missing)} of {len(stimulus_ids)} stimuli have no recordings "
            f"(e.g. {', '.join(missing[:5])}); the recordings' ids look like {', '.join(ids[:3])}.",
            "Use the stimulus files that belong to this dataset (file names = stimulus ids).",
        )
    order = np.array([index.get(str(s), index.get(Path(str(s)).stem)) for s in stimulus_ids])
    extra = dict(dataset.extra, n_unused_stimuli=len(ids) - len(set(order.tolist())))
    return Dataset(
        dataset.responses[order],
        dataset.stimuli.iloc[order].reset_index(drop=True),
        dataset.targets,
        extra,
    )
