"""Spectrum and alignment profiles of a layer on each training fold, the theory evaluated on
them, and the spectrum-only / alignment-only decomposition over a study (``docs/controls.md``).

Conventions (those of :mod:`predictivity.core.theory`): the population is the training fold k
(n_k stimuli, activations and targets centred on it); λ_i = eigenvalues of G_k/n_k in
descending order, u_i their unit eigenvectors, target weights w_in = u_iᵀ Y_k[:, n] / √n_k.
The centred stimulus space of the fold has n_k − 1 dimensions (the constant vector is a null
mode of every centred layer and carries no centred target variance), so the profiles live on
the ranks i = 1 … n_k − 1:

* **normalised spectrum** λ̂_i = λ_i / Σ_j λ_j (unit sum). Eigenvalues at or below the
  tolerance λ_1·n_k·ε (ε of the precision the Gram was formed in; the theory stage's
  tolerance, :func:`predictivity.core.spectra.eigenvalue_tolerance`) are 0: the layer's kept
  rank r is the number above it (at most n_k − 1).
* **alignment profile** a_i = Σ_n w_in² / Σ_n ‖Y_k[:, n]‖²/n_k — the share of the fold's
  target variance on mode i (Σ_i a_i = 1). For i ≤ r it is the mode's own share; the rest of
  the variance (outside the span of the layer's kept modes, unlearnable for this layer) is
  spread evenly over the null ranks r + 1 … n_k − 1. Inside that degenerate null space the
  eigenvectors are an arbitrary basis, so only its total is defined; spreading it evenly makes
  the profile basis-independent. Its cumulative sum over rank is the "cumulative alignment".
* **normalised ridge** ρ = λ_reg / Σ_j λ_j with λ_reg = (median chosen α)/p_train, the theory's
  ridge per training stimulus (``docs/design.md#theory``). E_g is homogeneous of degree 0 in
  (λ, λ_reg) jointly, so E_g(λ̂, a, ρ) is exactly the theory stage's E_g of the fold.

The theory's prediction of a layer is 1 − mean_k E_g^(k)(p_ref), E_g from
:func:`predictivity.core.theory.theory_learning_curve` at the reference size
p_ref = ⌊n(K−1)/K⌋ (n = the smallest training fold), as the theory stage reports ``theory_r2``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from predictivity.core.theory import theory_learning_curve

__all__ = [
    "kept_rank",
    "fold_profile",
    "profile_eg",
    "profile_theory_r2",
    "PROFILE_COLUMNS",
    "decompose_study",
    "DECOMPOSITION_COLUMNS",
]

#: Columns of the per-model profiles file (``results/controls/{study}/{model}.profiles.parquet``).
PROFILE_COLUMNS = [
    "layer",
    "layer_index",
    "fold",
    "rank",
    "eigenvalue",
    "alignment",
    "ridge",
    "n_train",
    "p_ref",
]

#: Columns :func:`decompose_study` adds to each layer.
DECOMPOSITION_COLUMNS = [
    "theory_r2_profile",
    "theory_r2_spectrum_only",
    "theory_r2_alignment_only",
]


def kept_rank(eigenvalues: np.ndarray, n_stimuli: int, dtype=None) -> int:
    """Number of directions kept on a training fold of ``n_stimuli`` stimuli: eigenvalues s of
    the fold's centred Gram (or covariance) above tol = max(s)·n_stimuli·ε, ε the machine epsilon
    of ``dtype`` (the precision the Gram was formed in; default float64), at most n_stimuli − 1
    (the rank of activations centred over n_stimuli)."""
    s = np.asarray(eigenvalues, dtype=np.float64).ravel()
    if s.size == 0:
        return 0
    eps = float(np.finfo(np.dtype(dtype) if dtype is not None else np.float64).eps)
    tol = max(float(s.max()), 0.0) * int(n_stimuli) * eps
    return int(min(np.count_nonzero(s > tol), max(int(n_stimuli) - 1, 0)))


def fold_profile(
    kept_eigenvalues: np.ndarray, kept_weights2: np.ndarray, total: float, n_ranks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised spectrum and alignment profile of one training fold on ranks 1 … ``n_ranks``.

    Parameters
    ----------
    kept_eigenvalues : (r,) the kept eigenvalues, descending (any common scale).
    kept_weights2 : (r,) Σ_n w_in² of the kept modes (same order).
    total : Σ_n ‖Y[:, n]‖²/n_k, the fold's total target variance (≥ Σ kept_weights2).
    n_ranks : n_k − 1, the dimension of the fold's centred stimulus space (≥ r).

    Returns
    -------
    (eigenvalue, alignment), each (n_ranks,): λ̂ (unit sum; zero beyond r) and a (unit sum; the
    variance outside the kept modes spread evenly over ranks r+1 … n_ranks, or, when r = n_ranks,
    dropped and the rest renormalised — it is then rounding noise). All NaN when the spectrum or
    the target variance is zero.
    """
    lam = np.asarray(kept_eigenvalues, dtype=np.float64).ravel()
    w2 = np.asarray(kept_weights2, dtype=np.float64).ravel()
    r, d = lam.size, int(n_ranks)
    if w2.size != r or r > d:
        raise ValueError(
            f"need r ≤ n_ranks kept modes with one weight each, got {r}, {w2.size}, {d}"
        )
    eig = np.zeros(d)
    align = np.zeros(d)
    lsum = lam.sum()
    if r == 0 or not lsum > 0 or not total > 0:
        return np.full(d, np.nan), np.full(d, np.nan)
    eig[:r] = lam / lsum
    align[:r] = w2 / total
    rest = max(float(total - w2.sum()), 0.0) / total
    if d > r:
        align[r:] = rest / (d - r)
    else:
        align /= align.sum()
    return eig, align


def profile_eg(eigenvalue: np.ndarray, alignment: np.ndarray, ridge: float, p: float) -> float:
    """The theory's E_g at training size ``p`` for a normalised spectrum, an alignment profile
    and a normalised ridge (:func:`predictivity.core.theory.theory_learning_curve` with
    w̃_i² = a_i). NaN when an input is not finite."""
    lam = np.asarray(eigenvalue, dtype=np.float64)
    a = np.asarray(alignment, dtype=np.float64)
    if not (np.all(np.isfinite(lam)) and np.all(np.isfinite(a)) and np.isfinite(ridge)):
        return float("nan")
    W = np.sqrt(np.clip(a, 0.0, None))[:, None]
    th = theory_learning_curve(lam, W, [float(p)], float(ridge))
    return float(th["eg_theory"].iloc[0])


def profile_theory_r2(folds: list[tuple[np.ndarray, np.ndarray, float]], p_ref: float) -> float:
    """1 − mean over folds of E_g(p_ref); ``folds`` holds (eigenvalue, alignment, ridge) per
    fold."""
    if not folds:
        return float("nan")
    return 1.0 - float(np.mean([profile_eg(e, a, r, p_ref) for e, a, r in folds]))


def _layer_folds(g: pd.DataFrame) -> dict[int, pd.DataFrame]:
    return {int(k): f.sort_values("rank") for k, f in g.groupby("fold", sort=True)}


def decompose_study(profiles: pd.DataFrame) -> pd.DataFrame:
    """Spectrum-only and alignment-only theory for every layer of ONE study.

    ``profiles``: the concatenated profiles files of the study's models (columns
    :data:`PROFILE_COLUMNS` plus ``model``; a ``study`` column, if present, is carried over and
    must hold one value). All layers must share the folds and ranks (same stimuli and folds).

    The study's mean spectrum λ̄ and mean alignment profile ā are the means over its layers (every
    layer of every model weighs the same) at each (fold, rank). Per layer, with its own ridge ρ:

    * ``theory_r2_profile`` = 1 − mean_k E_g(own λ̂, own a) — equals the theory stage's
      ``theory_r2`` (a consistency check);
    * ``theory_r2_spectrum_only`` = 1 − mean_k E_g(own λ̂, ā): what the layer's spectrum alone
      predicts when its targets sit on its modes as they do on average in the study;
    * ``theory_r2_alignment_only`` = 1 − mean_k E_g(λ̄, own a): what its alignment alone predicts
      on the study's average spectrum.

    Returns one row per (model, layer): ``[study,] model, layer, layer_index`` and
    :data:`DECOMPOSITION_COLUMNS`.
    """
    need = {"model", *PROFILE_COLUMNS}
    missing = sorted(need - set(profiles.columns))
    if missing:
        raise ValueError(f"profiles lack the columns {missing}")
    if "study" in profiles.columns and profiles["study"].nunique() > 1:
        raise ValueError("decompose_study takes one study; group the profiles by study first")
    keys = ["model", "layer"]
    n_layers = profiles.groupby(keys, sort=False).ngroups
    counts = profiles.groupby(["fold", "rank"]).size()
    if n_layers == 0:
        return pd.DataFrame(columns=[*keys, "layer_index", *DECOMPOSITION_COLUMNS])
    if not (counts == n_layers).all():
        raise ValueError(
            "the layers' profiles do not share folds and ranks: every layer of a study must be "
            "scored on the same stimuli and folds"
        )
    mean = profiles.groupby(["fold", "rank"], sort=True)[["eigenvalue", "alignment"]].mean()
    mean_by_fold = {int(k): m.droplevel(0) for k, m in mean.groupby(level="fold")}
    rows = []
    for (model, layer), g in profiles.groupby(keys, sort=False):
        own = _layer_folds(g)
        p_ref = float(g["p_ref"].iloc[0])
        full, spec, algn = [], [], []
        for k, f in own.items():
            lam = f["eigenvalue"].to_numpy()
            a = f["alignment"].to_numpy()
            rho = float(f["ridge"].iloc[0])
            m = mean_by_fold[k].loc[f["rank"].to_numpy()]
            lam_bar = m["eigenvalue"].to_numpy()
            a_bar = m["alignment"].to_numpy()
            full.append((lam, a, rho))
            spec.append((lam, a_bar, rho))
            algn.append((lam_bar, a, rho))
        row = {
            "model": model,
            "layer": layer,
            "layer_index": int(g["layer_index"].iloc[0]),
            "theory_r2_profile": profile_theory_r2(full, p_ref),
            "theory_r2_spectrum_only": profile_theory_r2(spec, p_ref),
            "theory_r2_alignment_only": profile_theory_r2(algn, p_ref),
        }
        if "study" in g.columns:
            row = {"study": g["study"].iloc[0], **row}
        rows.append(row)
    return pd.DataFrame(rows)
