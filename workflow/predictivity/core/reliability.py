"""Reliability of recorded targets over repetitions: the noise ceiling of every score.

See ``docs/design.md#noise-ceiling``. Pure functions: arrays in, arrays out. Kept apart from the
ridge solver so that editing the solver does not recompute the recordings stage.

Model: repetition j of target n on stimulus μ is s_μn + ε_μnj with independent noise of equal
variance, so one repetition has reliability ρ₁ = var(s)/(var(s) + var(ε)) and the mean of k
repetitions has the Spearman–Brown reliability

    ρ_k = k ρ₁ / (1 + (k − 1) ρ₁).

The ceiling of a target is ρ_R, the reliability of the mean of all R repetitions (the mean is
what the regression predicts): the largest R² a model can reach on it, and √ρ_R the largest
Pearson r.
"""

from __future__ import annotations

import numpy as np


def half_sizes(n_repetitions: int) -> tuple[int, int]:
    """Sizes (a, b) of the even- and odd-indexed halves of R repetitions: a = ⌈R/2⌉, b = ⌊R/2⌋."""
    R = int(n_repetitions)
    return (R + 1) // 2, R // 2


def single_repetition_reliability(r_half: np.ndarray, a: int, b: int) -> np.ndarray:
    """ρ₁ from the correlation r_ab of the means of two disjoint halves of a and b repetitions.

    The two half-means share the signal and have independent noise, so
    r_ab = ρ_a ρ_b / √(ρ_a ρ_b) = √(ρ_a ρ_b). With ρ_k = kx/(1 + (k − 1)x), x = ρ₁, the equation
    r_ab² = ρ_a ρ_b becomes the quadratic

        A x² − B x − C = 0,   A = ab − r²(a − 1)(b − 1),  B = r²(a + b − 2),  C = r²,

    whose unique positive root is x = (B + √(B² + 4AC)) / (2A) (A > 0 for |r| ≤ 1; x = 1 at
    r = 1, x → 0 as r → 0). Only r_ab > 0 identifies ρ₁; other values give NaN.
    """
    r = np.asarray(r_half, dtype=np.float64)
    r2 = r * r
    A = a * b - r2 * (a - 1) * (b - 1)
    B = r2 * (a + b - 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = (B + np.sqrt(B * B + 4.0 * A * r2)) / (2.0 * A)
    return np.where(r > 0, x, np.nan)


def spearman_brown(rho_1: np.ndarray, k: int) -> np.ndarray:
    """ρ_k = k ρ₁ / (1 + (k − 1) ρ₁): reliability of the mean of k repetitions."""
    rho_1 = np.asarray(rho_1, dtype=np.float64)
    return k * rho_1 / (1.0 + (k - 1) * rho_1)


def split_half_correlation(responses: np.ndarray) -> np.ndarray:
    """Pearson r over stimuli between the mean of the even-indexed repetitions (0, 2, …) and the
    mean of the odd-indexed ones (1, 3, …), per target. responses: (P, N, R ≥ 2) → (N,)."""
    responses = np.asarray(responses, dtype=np.float64)
    if responses.ndim != 3 or responses.shape[2] < 2:
        raise ValueError("split_half_ceiling needs (stimuli, targets, repetitions ≥ 2)")
    a = responses[:, :, 0::2].mean(axis=2)
    b = responses[:, :, 1::2].mean(axis=2)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))


def split_half_ceiling(responses: np.ndarray) -> np.ndarray:
    """Noise ceiling ρ_R of each target from one even/odd split of its R ≥ 2 repetitions.

    responses : (P, N, R). The halves are the even-indexed (a = ⌈R/2⌉ repetitions) and the
    odd-indexed (b = ⌊R/2⌋) repetitions; r_ab is the Pearson correlation over stimuli of their
    means (:func:`split_half_correlation`).

    * R even (a = b): ρ_R = 2 r_ab / (1 + r_ab), the classic Spearman–Brown step.
    * R odd (a = b + 1): the halves are unequal, and 2r/(1 + r) would be the reliability of
      2b < R repetitions (biased low: 0.732 instead of 0.750 for R = 3). The exact correction
      solves r_ab² = ρ_a ρ_b for ρ₁ (:func:`single_repetition_reliability`) and reports
      ρ_R = R ρ₁ / (1 + (R − 1) ρ₁). For R even both routes give the same number.

    Targets with r_ab ≤ 0 (or undefined) get NaN: no usable ceiling. They are not dropped: the
    recordings stage counts them (``n_targets_no_ceiling``, :func:`count_without_ceiling`) and
    the ceiled scores of those targets are NaN, so medians of ceiled scores run over the targets
    that have a ceiling. Returns (N,).
    """
    responses = np.asarray(responses, dtype=np.float64)
    rh = split_half_correlation(responses)
    R = responses.shape[2]
    a, b = half_sizes(R)
    if a == b:
        with np.errstate(invalid="ignore", divide="ignore"):
            sb = 2 * rh / (1 + rh)
        return np.where(rh > 0, sb, np.nan)
    return spearman_brown(single_repetition_reliability(rh, a, b), R)


def count_without_ceiling(ceiling: np.ndarray) -> int:
    """Number of targets without a usable ceiling (NaN: split-half r ≤ 0)."""
    return int(np.count_nonzero(~np.isfinite(np.asarray(ceiling, dtype=np.float64))))
