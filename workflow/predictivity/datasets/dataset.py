"""The loaders' common result, :class:`Dataset`, and what the workflow does with every one of them:
:func:`align_to_stimuli` (reorder to the study's stimuli by id) and :func:`call_with_options`
(run a loader on a config's ``options``, unknown keys being an input error)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from predictivity.errors import InputError


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


def call_with_options(
    loader: Callable[..., Dataset], source: str, *args, options: dict, **fixed
) -> Dataset:
    """``loader(*args, **fixed, **options)``, where ``options`` are a config's ``dataset.options``
    and ``fixed`` what the workflow sets itself (e.g. ``verified``).

    An option that is not a keyword parameter of ``loader`` (after the positional ``args``, and
    not one of ``fixed``) is an :class:`InputError` naming ``<source>.options`` and the accepted
    keys, instead of a ``TypeError`` from the call.
    """
    params = list(inspect.signature(loader).parameters.values())[len(args) :]
    accepted = [
        p.name
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in fixed
    ]
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise InputError(
            f"{source}.options",
            f"unknown option(s) {', '.join(map(repr, unknown))} of loader {loader.__name__}.",
            f"Use only: {', '.join(accepted) or 'none'}.",
        )
    return loader(*args, **fixed, **options)
