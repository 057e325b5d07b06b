"""Norman-Haignere et al. 2015: the six fMRI response components (``components.mat``), as in the
Tuckute et al. 2023 release (``NH2015comp/components.mat``): ``R`` 165 sounds × 6 components,
``W`` 6 × voxels, ``stim_names`` (cell, 165), ``component_names`` (cell, 6), ``category_labels``.
MATLAB v5 or v7.3. → 165 × 6 × 1. Serves the ``auditory`` kind (loader ``nh2015_components``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from predictivity.datasets.dataset import Dataset, call_with_options
from predictivity.datasets.formats import need, numeric_array, read_mat, string_list
from predictivity.errors import InputError

log = logging.getLogger(__name__)


def load_nh2015_components(path, stimulus_order: Sequence[str] | None = None) -> Dataset:
    """The six fMRI response components of Norman-Haignere et al. 2015 as a recordings set.

    Reads ``components.mat`` (MATLAB v5 or v7.3): ``R`` (165 × 6, response of each component to
    each sound), ``stim_names`` (165 sound names, no ``.wav``), ``component_names`` (6; when the
    file has none, the components are named ``component1`` … ``component6``),
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
    R = numeric_array(need(d, "R", source), "R", source, ndim=2)
    names = string_list(need(d, "stim_names", source), "stim_names", source)
    if "component_names" in d:
        comps = string_list(d["component_names"], "component_names", source)
    else:  # not every copy of the file names them; the paper numbers them 1–6
        comps = [f"component{i + 1}" for i in range(R.shape[1])]
        log.info("%s: no component_names; naming the components %s", source, ", ".join(comps))
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


def open_dataset(
    path, options: dict, *, verified: bool = False, source: str = "dataset"
) -> Dataset:
    """Registry entry: ``path`` is ``components.mat`` or a directory holding it (the first one
    below it, sorted); ``options`` are :func:`load_nh2015_components`'s keywords."""
    p = Path(path)
    if p.is_dir():
        hits = sorted(p.rglob("components.mat"))
        if not hits:
            raise InputError(
                str(p),
                "no components.mat below this directory.",
                "Point `dataset.path` at components.mat or at the unpacked release.",
            )
        p = hits[0]
    return call_with_options(load_nh2015_components, source, p, options=options)
