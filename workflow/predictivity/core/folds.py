"""The outer cross-validation folds shared by every per-layer stage (``docs/design.md#regression``).

Its own module so that the stages which only need the folds (the shared eigen basis) do not depend
on the ridge solver's code (``docs/design.md#rerun``).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("predictivity.core.ridge")

#: Fewer test stimuli per outer fold than this is warned about: the test-fold R² divides by the
#: test fold's own variance, which a handful of stimuli estimates badly (R² far below r2_pooled).
MIN_TEST_STIMULI = 10


def make_folds(
    n_stimuli: int, n_folds: int = 5, seed: int = 0, groups: np.ndarray | None = None
) -> list[np.ndarray]:
    """Test-index arrays of the outer K-fold split (``docs/design.md#regression``).

    Without groups the split is exactly
    ``numpy.array_split(numpy.random.default_rng(seed).permutation(P), K)``.

    With ``groups`` (one label per stimulus), all stimuli of one group stay in one fold: the unique
    group labels (in sorted order) are permuted with ``default_rng(seed)``, and each group in that
    order goes to the fold that currently holds the fewest stimuli (ties → lowest fold index).
    Within a fold, indices are sorted.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be ≥ 2, got {n_folds}")
    rng = np.random.default_rng(seed)
    if groups is None:
        folds = [np.asarray(f) for f in np.array_split(rng.permutation(n_stimuli), n_folds)]
        _warn_small_folds(folds)
        return folds
    groups = np.asarray(groups)
    if groups.shape != (n_stimuli,):
        raise ValueError(
            f"groups must have one label per stimulus ({n_stimuli}), got shape {groups.shape}"
        )
    labels, inverse = np.unique(groups, return_inverse=True)
    if len(labels) < n_folds:
        raise ValueError(f"{len(labels)} groups cannot fill {n_folds} folds")
    order = rng.permutation(len(labels))
    sizes = np.zeros(n_folds, dtype=int)
    assignment = np.empty(len(labels), dtype=int)
    counts = np.bincount(inverse, minlength=len(labels))
    for g in order:
        f = int(np.argmin(sizes))
        assignment[g] = f
        sizes[f] += counts[g]
    fold_of_stimulus = assignment[inverse]
    folds = [np.flatnonzero(fold_of_stimulus == f) for f in range(n_folds)]
    _warn_small_folds(folds)
    return folds


def _warn_small_folds(folds: list[np.ndarray]) -> None:
    smallest = min(len(f) for f in folds)
    if smallest < MIN_TEST_STIMULI:
        log.warning(
            "the smallest test fold holds %d stimuli (< %d): its R² divides by the variance of "
            "those few stimuli, so per-fold R² (and the layer's median) is noisy and biased "
            "low; compare with r2_pooled, or lower `regression.folds`",
            smallest,
            MIN_TEST_STIMULI,
        )


def training_size(n_stimuli: int, n_folds: int) -> int:
    """p_train = ⌊P·(K−1)/K⌋, the nominal training-fold size (λ_reg = median α / p_train)."""
    return (n_stimuli * (n_folds - 1)) // n_folds
