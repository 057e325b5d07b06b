"""Stage 2: recordings in the pipeline's format, whatever their source (DESIGN §2, §3.1).

:func:`prepare_recordings` takes validated responses (stimuli × targets × repetitions), drops
targets that are constant over stimuli (silent neurons — not an error: they are logged and
counted) and computes the split-half noise ceiling when there are ≥ 2 repetitions. Every study
kind (precomputed files or a built-in simulation) goes through it, so the regression stage sees
one format: ``mean`` (P × N kept, float64), ``target`` (original 0-based column index),
``target_name``, ``ceiling``, ``n_targets_total``, ``n_targets_dropped``,
``n_targets_no_ceiling`` (kept targets with split-half r ≤ 0, whose ceiling is NaN; 0 with one
repetition, where no target has a ceiling), ``n_repetitions``.
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
