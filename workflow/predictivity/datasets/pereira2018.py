"""Pereira et al. 2018: one participant's ``.mat`` (``data_384sentences.mat``,
``data_243sentences.mat``: ``examples_passagesentences`` sentences × voxels, ``keySentences``,
``labelsPassageForEachSentence``, ``labelsPassageCategory``, ``keyPassageCategory``;
``data_180concepts_*.mat``: ``examples``, ``keyConcept``; ``meta`` struct with ``atlases``,
``rois``, ``roiColumns`` (1-based columns), ``colToCoord``). → P × N × 1, group = passage.
Serves the ``language`` kind (loader ``pereira2018``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from predictivity.datasets.dataset import Dataset, call_with_options
from predictivity.datasets.formats import cell_list, need, numeric_array, read_mat, string_list
from predictivity.errors import InputError


def _pereira_atlas_columns(
    meta: dict, atlas: str, rois, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """0-based voxel columns of ``atlas`` (optionally only ``rois``) and each column's ROI name."""
    for k in ("atlases", "rois", "roiColumns"):
        if k not in meta:
            raise InputError(
                source, f"meta has no {k!r} field.", "Use the original Pereira 2018 .mat file."
            )
    atlases = string_list(meta["atlases"], "meta.atlases", source)
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
        roi_lists, col_lists = cell_list(meta["rois"]), cell_list(meta["roiColumns"])
    names = string_list(roi_lists[a], f"meta.rois{{{atlas}}}", source)
    cols = col_lists[a]
    cols = [cols] if len(names) == 1 else cell_list(cols)
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
        X = numeric_array(
            d["examples_passagesentences"], "examples_passagesentences", source, ndim=2
        )
        texts = string_list(need(d, "keySentences", source), "keySentences", source)
        kind, prefix = "sentence", "s"
    elif "examples" in d:
        X = numeric_array(d["examples"], "examples", source, ndim=2)
        key = "keyConcept" if "keyConcept" in d else "keySentences"
        texts = string_list(need(d, key, source), key, source)
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
            keys = string_list(d["keyPassageCategory"], "keyPassageCategory", source)
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


def open_dataset(
    path, options: dict, *, verified: bool = False, source: str = "dataset"
) -> Dataset:
    """Registry entry: ``path`` is one participant's ``data_*.mat`` or a directory holding it (the
    first ``data_*sentences*.mat`` below it, sorted, else the first ``data_*.mat``); ``options``
    are :func:`load_pereira2018`'s keywords."""
    p = Path(path)
    if p.is_dir():
        hits = sorted(p.rglob("data_*sentences*.mat")) or sorted(p.rglob("data_*.mat"))
        if not hits:
            raise InputError(
                str(p),
                "no data_*.mat (Pereira 2018) below this directory.",
                "Point `dataset.path` at one participant's data_384sentences.mat.",
            )
        p = hits[0]
    return call_with_options(load_pereira2018, source, p, options=options)
