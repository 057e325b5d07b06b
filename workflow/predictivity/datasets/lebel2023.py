"""LeBel et al. 2023 (OpenNeuro ds003020) story listening: one subject's responses to a list of
stories, ``derivative/preprocessed_data/<subject>/<story>.hf5`` (dataset ``resp``: TRs × voxels),
and the stories' words with their times from ``derivative/TextGrids/<story>.TextGrid`` (Praat;
tiers ``phone`` and ``word``). Stimuli are TRs, group = story. Serves the ``story`` kind (loader
``lebel2023``). The word features → TRs maths (Lanczos, FIR delays) is the story study's:
:mod:`predictivity.studies.story.features`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from predictivity.datasets.dataset import Dataset, call_with_options
from predictivity.datasets.formats import read_textgrid
from predictivity.errors import InputError

#: Word labels dropped from a TextGrid's word tier (after lower-casing and stripping ``{}``):
#: silence and noise markers, the Huth lab's ``ridge_utils/dsutils.DEFAULT_BAD_WORDS``.
BAD_WORDS = ("sentence_start", "sentence_end", "br", "lg", "ls", "ns", "sp")


def textgrid_words(
    path,
    tier: str | int | None = None,
    bad_words: Sequence[str] = BAD_WORDS,
) -> pd.DataFrame:
    """The words of a story's TextGrid with their times, as the Huth lab's ``make_word_ds``.

    tier : name or 0-based index of the word tier; default: the tier named ``word``/``words``
        (case-insensitive), else tier 1 (the ds003020 TextGrids have tiers ``phone``, ``word``).
    Words whose label, lower-cased and stripped of ``{}`` and spaces, is empty or in ``bad_words``
    (silence and noise markers; default :data:`BAD_WORDS`) are dropped. Returns ``word`` (lower case), ``start``, ``end`` and
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


def lebel_tr_times(
    n_feature_trs: int,
    tr: float = 2.0,
    start_time: float = 10.0,
) -> np.ndarray:
    """Times (s, relative to the story's sound onset) of the TR grid word features are resampled
    to: ``i·tr − start_time + tr/2`` for ``i < n_feature_trs`` (the Huth lab's simulated TR files:
    triggers every ``tr`` from 0, sound starting ``start_time`` into the run, each TR represented
    by its midpoint). Defaults: ``tr`` 2 s, ``start_time`` 10 s, the Huth lab's."""
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
    tr: float = 2.0,
    start_time: float = 10.0,
    pad: int = 5,
    trim_start: int = 10,
    trim_end: int = 5,
    bad_words: Sequence[str] = BAD_WORDS,
) -> Dataset:
    """One LeBel et al. 2023 subject's story-listening responses; stimuli are TRs, grouped by story.

    Reads ``<resp_dir>/<story>.hf5`` (dataset ``resp``, TRs × voxels; ``resp_dir`` =
    ``derivative/preprocessed_data/<subject>``) and ``<textgrid_dir>/<story>.TextGrid``.

    TR alignment (the Huth lab's ``encoding.py`` with ``trim=5``): word features live on a grid of
    ``n_total − pad`` TRs (:func:`lebel_tr_times`) and rows ``[trim_start : −trim_end]`` of it match
    the response rows. ``n_total`` is ``respdict[story]`` (``derivative/respdict.json``) when given,
    else ``n_resp + trim_start + trim_end + pad``; a mismatch with the response length is an error.

    Options (``dataset.options``; no other config key sets them), defaults = the Huth lab's TR grid
    (``encoding/feature_spaces.py``, ``ridge_utils/stimulus_utils.load_simulated_trfiles``,
    ``encoding.py``): ``tr`` 2 s; ``start_time`` 10 s (word times are relative to a sound start
    10 s into the run); ``pad`` 5 TRs not simulated; ``trim_start`` 10 and ``trim_end`` 5 feature
    rows dropped at the start and end; ``bad_words`` :data:`BAD_WORDS`.

    Returns responses (Σ TRs) × voxels × 1; stimuli ``stimulus_id`` (``<story>_tr0000``…),
    ``group`` = ``story``, ``tr_index`` (row of the story's feature grid), ``tr_time`` (s);
    targets ``target_name`` (``v<column>``), ``column``. ``extra``: ``words`` (story, word, start,
    end, time — the input of
    :func:`predictivity.studies.story.features.lebel_tr_features`) and ``tr_times`` (story → full grid).
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


def open_dataset(
    path, options: dict, *, verified: bool = False, source: str = "dataset"
) -> Dataset:
    """Registry entry: ``path`` is the dataset root (OpenNeuro ds003020) holding ``derivative/``;
    ``options`` are ``subject`` (e.g. ``UTS01``), ``stories`` (a list) and
    :func:`load_lebel2023`'s keywords. ``derivative/respdict.json`` (story → TR count) is read
    when present."""
    opts = dict(options)
    subject = opts.pop("subject", None)
    stories = opts.pop("stories", None)
    if not subject or not stories:
        raise InputError(
            source,
            "lebel2023 needs `options.subject` (e.g. UTS01) and `options.stories` (a list).",
            "Name the subject and the stories to load.",
        )
    deriv = Path(path) / "derivative"
    respdict = None
    if (deriv / "respdict.json").is_file():
        try:
            respdict = json.loads((deriv / "respdict.json").read_text())
        except ValueError as e:
            raise InputError(
                str(deriv / "respdict.json"),
                f"is not valid JSON ({e}).",
                "Restore the file of the data release (story → number of TRs).",
            ) from e
    return call_with_options(
        load_lebel2023,
        source,
        deriv / "preprocessed_data" / subject,
        deriv / "TextGrids",
        list(stories),
        options=opts,
        respdict=respdict,
    )
