"""Reliability of recorded targets over repetitions: the noise ceiling of every score.

Pure functions: arrays in, arrays out. Kept apart from the ridge solver so that editing the solver
does not recompute the recordings stage.
"""

from __future__ import annotations

import numpy as np


def split_half_ceiling(responses: np.ndarray) -> np.ndarray:
    """Split-half reliability of each target, Spearman–Brown corrected (DESIGN §3.1).

    responses : (P, N, R) with R ≥ 2 repetitions. The halves are the even- and odd-indexed
    repetitions (deterministic); each half is averaged over its repetitions, the Pearson
    correlation r_half over stimuli is computed per target, and the ceiling is
    ρ = 2·r_half/(1 + r_half), the reliability of the mean of all repetitions. Targets with
    r_half ≤ 0 get NaN (no usable ceiling). Returns (N,).
    """
    responses = np.asarray(responses, dtype=np.float64)
    if responses.ndim != 3 or responses.shape[2] < 2:
        raise ValueError("split_half_ceiling needs (stimuli, targets, repetitions ≥ 2)")
    a = responses[:, :, 0::2].mean(axis=2)
    b = responses[:, :, 1::2].mean(axis=2)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rh = (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
        sb = 2 * rh / (1 + rh)
    return np.where(rh > 0, sb, np.nan)
