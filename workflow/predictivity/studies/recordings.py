"""Stage 2: recordings in the pipeline's format, whatever their source (docs/design.md#stages).

:func:`prepare_recordings` takes validated responses (stimuli × targets × repetitions), drops
targets that are constant over stimuli (silent neurons — not an error: they are logged and
counted) and computes the split-half noise ceiling when there are ≥ 2 repetitions. Every study
kind (precomputed files or a built-in simulation) goes through it, so the regression stage sees
one format: ``mean`` (P × N kept, float64), ``target`` (original 0-based column index),
``target_name``, ``ceiling``, ``n_targets_total``, ``n_targets_dropped``,
``n_targets_no_ceiling`` (kept targets with split-half r ≤ 0, whose ceiling is NaN; 0 with one
repetition, where no target has a ceiling), ``n_repetitions``, and ``responses`` (P × N kept ×
R, the repetitions themselves, for measures such as RSA that split them again).

Recordings that are not simulated reach it through :func:`dataset_recordings` (a named real
dataset's loader) or :func:`own_recordings` (a user's response matrix and its row ids, for the
``it``, ``auditory`` and ``language`` kinds); both match rows to the study's stimuli by id with
:func:`predictivity.datasets.dataset.align_to_stimuli`.
"""

from __future__ import annotations

import logging

import numpy as np

from predictivity.checks import check_recordings, constant_targets
from predictivity.core.reliability import count_without_ceiling, split_half_ceiling
from predictivity.errors import InputError

log = logging.getLogger(__name__)


def prepare_recordings(
    responses: np.ndarray, source: str, target_names=None
) -> dict[str, np.ndarray]:
    """Validate, drop constant targets, compute the ceiling; returns the stage-2 arrays."""
    Y = check_recordings(responses, source)
    P, N, R = Y.shape
    names = np.asarray(
        [str(i) for i in range(N)] if target_names is None else [str(n) for n in target_names]
    )
    if len(names) != N:
        raise InputError(
            source,
            f"{len(names)} target names for {N} targets.",
            "Give one name per target (column of the recordings).",
        )
    mean = Y.mean(axis=2)
    dropped = constant_targets(mean)
    if dropped.all():
        raise InputError(
            source,
            "every target is constant over stimuli.",
            "Check the recordings (all neurons silent?).",
        )
    if dropped.any():
        log.warning(
            "%d of %d targets are constant over stimuli (silent) and are dropped: %s",
            int(dropped.sum()),
            N,
            ", ".join(names[dropped][:20]),
        )
    kept = np.flatnonzero(~dropped)
    ceiling = split_half_ceiling(Y[:, kept]) if R >= 2 else np.full(len(kept), np.nan)
    # targets whose split-half r ≤ 0 have no ceiling (NaN): counted, never dropped
    no_ceiling = count_without_ceiling(ceiling) if R >= 2 else 0
    if no_ceiling:
        log.warning(
            "%d of %d targets have a split-half correlation ≤ 0: no noise ceiling (NaN); their "
            "ceiled scores are NaN and ceiled medians run over the other targets",
            no_ceiling,
            len(kept),
        )
    log.info(
        "%d stimuli × %d targets (%d kept) × %d repetitions; median ceiling %s",
        P,
        N,
        len(kept),
        R,
        f"{np.nanmedian(ceiling):.3f}" if np.isfinite(ceiling).any() else "n/a",
    )
    return {
        "mean": mean[:, kept],
        # every repetition of the kept targets, for measures with their own split-half ceiling
        "responses": Y[:, kept, :],
        "target": kept,
        "target_name": names[kept].astype(str),
        "ceiling": ceiling,
        "n_targets_total": np.array(N),
        "n_targets_dropped": np.array(int(dropped.sum())),
        "n_targets_no_ceiling": np.array(int(no_ceiling)),
        "n_repetitions": np.array(R),
    }


def dataset_recordings(params: dict, stimulus_ids, source: str, defaults: dict | None = None):
    """Real recordings for a built-in study: load with the configured loader, align them to the
    study's stimuli by id, and return (stage-2 arrays, target table).

    params : the study's resolved `dataset` options (loader, path, options, verified).
    defaults : loader options the study implies (e.g. the MEC arena's box_width and n_bins),
    overridden by the user's `options`.
    """
    from predictivity.datasets.dataset import align_to_stimuli
    from predictivity.datasets.registry import load_dataset

    options = dict(defaults or {})
    options.update(params.get("options") or {})
    ds = load_dataset(
        params["loader"],
        params["path"],
        options,
        verified=params.get("verified", False),
        source=source,
    )
    ds = align_to_stimuli(ds, list(stimulus_ids), source)
    if ds.extra.get("n_unused_stimuli"):
        log.info(
            "%d recorded stimuli are not among the study's stimuli and are not used",
            ds.extra["n_unused_stimuli"],
        )
    return prepare_recordings(ds.responses, source, ds.target_names), ds.targets


def own_recordings(
    responses: np.ndarray,
    ids: list[str],
    stimulus_ids,
    source: str,
    ids_source: str,
    aliases: dict[str, str] | None = None,
):
    """A user's responses to a built-in study's stimuli: match rows to the stimuli by id and
    return (stage-2 arrays, target table).

    Parameters
    ----------
    responses : array (rows × targets [× repetitions])
        Row k holds the responses to the stimulus named ``ids[k]``.
    ids : list of str
        One id per row (the lines of the ids file). Compared with the study's ids as strings,
        also without a file extension (``img0003.png`` matches ``img0003``).
    stimulus_ids : sequence of str
        The study's stimulus ids in stimulus order (``stimulus_id`` of the stage-1 table).
    source, ids_source : str
        The responses file and the ids file, named in error messages.
    aliases : dict, optional
        Other names of the stimuli → stimulus id, tried before matching (the language kind's
        sentence line numbers, ``"12"`` → ``"s0011"``).

    Returns
    -------
    (dict, DataFrame)
        :func:`prepare_recordings` of the responses in stimulus order, and the target table
        (``target_name`` = column index).

    Raises
    ------
    InputError
        Bad responses; ids that are not one unique id per row; stimuli of the study without a
        row (missing), or rows whose id is not a stimulus of the study (extra) — each error lists
        a few of them.
    """
    import pandas as pd

    from predictivity.checks import check_stimulus_ids
    from predictivity.datasets.dataset import Dataset, align_to_stimuli

    Y = check_recordings(responses, source)
    ids = check_stimulus_ids(ids, Y.shape[0], ids_source)
    if aliases:
        ids = check_stimulus_ids([aliases.get(i, i) for i in ids], Y.shape[0], ids_source)
    names = [str(j) for j in range(Y.shape[1])]
    ds = Dataset(Y, pd.DataFrame({"stimulus_id": ids}), pd.DataFrame({"target_name": names}))
    fix = (
        "List one id per row of the responses, in row order, and give a row for every stimulus "
        "of the study (ids: image or sound file names without extension; sentence ids s0001 … "
        "or line numbers)."
    )
    stimulus_ids = [str(i) for i in stimulus_ids]
    try:
        ds = align_to_stimuli(ds, stimulus_ids, ids_source)
    except InputError as e:
        raise InputError(ids_source, e.problem, fix) from None
    used = set(ds.stimuli["stimulus_id"])
    extra = [i for i in ids if i not in used]
    if extra:
        raise InputError(
            ids_source,
            f"{len(extra)} of {len(ids)} ids are not stimuli of the study (e.g. "
            f"{', '.join(extra[:5])}); the study's ids look like {', '.join(stimulus_ids[:3])}.",
            fix,
        )
    return prepare_recordings(ds.responses, source, names), ds.targets


def check_one_source(dataset, own, source: str) -> None:
    """A built-in study takes its recordings from one place: a `dataset` or its own
    `recordings`, not both (neither = simulated)."""
    if dataset and own:
        raise InputError(
            source,
            "both `dataset` and `recordings` are given.",
            "keep one: `dataset` for a named real dataset, `recordings: {path, stimulus_ids}` "
            "for your own responses.",
        )
