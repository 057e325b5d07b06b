"""Cross-validated ridge regression from a layer's activations onto recordings (DESIGN §3.1).

Problem solved, per outer fold f with training stimuli ``tr`` (p of them) and test stimuli ``te``
(q of them), and per target n (a column of Y)::

    (b̂, c) = argmin_b,c  Σ_{i∈tr} (y_in − c − x_iᵀ b)² + α_n ‖b‖²        (intercept c unpenalised)

with α_n chosen from a grid ``alphas`` by exact leave-one-out (LOO) error on the training fold —
the estimator of ``sklearn.linear_model.RidgeCV(alphas, alpha_per_target=True,
fit_intercept=True)``. Scores on the test fold: R² = 1 − Σ(y − ŷ)²/Σ(y − ȳ_te)² and Pearson r(y, ŷ).

Implementation (the "eigen" method): the centred Gram matrix is formed once per layer; per fold
one symmetric eigendecomposition serves every alpha and every target:

* kernel form (M > p): K = X̃_tr X̃_trᵀ (X̃ = X centred on the training fold) = Q diag(s) Qᵀ.
  The hat matrix of ridge with an unpenalised intercept is H = 11ᵀ/p + Q diag(s/(s+α)) Qᵀ
  (the constant vector lies in the null space of K, so the two parts do not interact). With
  Ỹ_tr centred on the training fold and Z = QᵀỸ_tr, the training residuals are
  R(α) = Q diag(α/(s+α)) Z, the hat diagonal is h_i(α) = 1/p + Σ_k Q_ik² s_k/(s_k+α), and the
  LOO error of target n is Σ_i (R_in/(1 − h_i))². Test predictions use the centred cross-Gram
  K_te = X̃_te X̃_trᵀ: Ŷ_te = ȳ_tr + K_te Q diag(1/(s+α)) Z.
* covariance form (M ≤ p): C = X̃_trᵀ X̃_tr = V diag(s) Vᵀ, A = X̃_tr V (p × M); then
  H = 11ᵀ/p + A diag(1/(s+α)) Aᵀ, R(α) = Ỹ_tr − A diag(1/(s+α)) AᵀỸ_tr and
  Ŷ_te = ȳ_tr + X̃_te V diag(1/(s+α)) AᵀỸ_tr.

Neither form materialises an M × N coefficient matrix when M > p. All Gram products are taken from
one matrix per layer (the Gram of X centred over all P stimuli, :func:`predictivity.gram.centred_gram`,
or its M × M counterpart); fold centring is applied to that matrix algebraically.

Numerical hazard: eigenvalues of a PSD matrix computed in floating point can come out slightly
negative; they are clipped at 0 (``eig_floor``) before use, which only affects directions that
carry no variance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .gram import centred_gram, column_means

log = logging.getLogger(__name__)

DEFAULT_ALPHAS = np.logspace(-2, 8, 21)


def default_alphas() -> np.ndarray:
    """The default alpha grid: 21 values log-spaced from 1e-2 to 1e8 (DESIGN §3.1)."""
    return DEFAULT_ALPHAS.copy()


def make_folds(n_stimuli: int, n_folds: int = 5, seed: int = 0,
               groups: np.ndarray | None = None) -> list[np.ndarray]:
    """Test-index arrays of the outer K-fold split (DESIGN §3.1).

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
        return [np.asarray(f) for f in np.array_split(rng.permutation(n_stimuli), n_folds)]
    groups = np.asarray(groups)
    if groups.shape != (n_stimuli,):
        raise ValueError(f"groups must have one label per stimulus ({n_stimuli}), got shape {groups.shape}")
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
    return [np.flatnonzero(fold_of_stimulus == f) for f in range(n_folds)]


def training_size(n_stimuli: int, n_folds: int) -> int:
    """p_train = ⌊P·(K−1)/K⌋, the training-fold size the theory is evaluated at (DESIGN §3.1)."""
    return (n_stimuli * (n_folds - 1)) // n_folds


@dataclass
class FoldResult:
    """Per-target outputs of one outer fold (arrays of length N)."""

    alpha: np.ndarray      # chosen alpha (absolute units, after any scaling)
    alpha_index: np.ndarray  # index into the (unscaled) grid
    r2: np.ndarray
    pearson_r: np.ndarray
    sse: np.ndarray        # Σ (y − ŷ)² over the test fold
    sst: np.ndarray        # Σ (y − ȳ_te)² over the test fold


def _double_centre_block(G: np.ndarray, tr: np.ndarray, te: np.ndarray):
    """Centre the Gram on the training fold: returns K_tr (p×p) and K_te (q×p).

    K_tr = C G_trtr C (C = I − 11ᵀ/p); K_te = G_te,tr − rowmean(G_te,tr) − colmean(G_trtr) + mean(G_trtr).
    """
    Gtt = G[np.ix_(tr, tr)]
    col = Gtt.mean(axis=0)
    grand = col.mean()
    Ktr = Gtt - col[None, :] - col[:, None] + grand
    Ktr = (Ktr + Ktr.T) / 2.0
    Gte = G[np.ix_(te, tr)]
    Kte = Gte - Gte.mean(axis=1, keepdims=True) - col[None, :] + grand
    return Ktr, Kte


def _select_and_predict(s, basis, Z, Yc_tr, alphas_abs, predict_basis, n_train, kernel: bool,
                        eig_floor: float = 0.0):
    """Shared LOO selection + test prediction given an eigendecomposition.

    s : (k,) eigenvalues (clipped at eig_floor), basis : (p, k) (Q in kernel form, A in covariance
    form), Z : (k, N) (QᵀỸ or AᵀỸ), predict_basis : (q, k) (K_te Q or X̃_te V).
    Returns chosen alpha index per target (N,) and centred test predictions (q, N).
    """
    s = np.maximum(s, eig_floor)
    N = Z.shape[1]
    best_err = np.full(N, np.inf)
    best_idx = np.zeros(N, dtype=int)
    basis_sq = basis ** 2
    for a_idx, a in enumerate(alphas_abs):
        if kernel:
            shrink = s / (s + a)
            h = 1.0 / n_train + basis_sq @ shrink
            R = basis @ ((a / (s + a))[:, None] * Z)
        else:
            inv = 1.0 / (s + a)
            h = 1.0 / n_train + basis_sq @ inv
            R = Yc_tr - basis @ (inv[:, None] * Z)
        loo = R / (1.0 - h)[:, None]
        err = np.einsum("ij,ij->j", loo, loo)
        better = err < best_err
        best_err[better] = err[better]
        best_idx[better] = a_idx
    pred = np.empty((predict_basis.shape[0], N), dtype=np.float64)
    for a_idx in np.unique(best_idx):
        cols = np.flatnonzero(best_idx == a_idx)
        a = alphas_abs[a_idx]
        if kernel:
            coef = Z[:, cols] / (s + a)[:, None]
        else:
            coef = Z[:, cols] / (s + a)[:, None]
        pred[:, cols] = predict_basis @ coef
    return best_idx, pred


def _scores(y_te: np.ndarray, pred: np.ndarray):
    """Per-target R², Pearson r, SSE and SST on a test fold (y_te, pred: q × N)."""
    resid = y_te - pred
    sse = np.einsum("ij,ij->j", resid, resid)
    yc = y_te - y_te.mean(axis=0)
    sst = np.einsum("ij,ij->j", yc, yc)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1.0 - sse / sst, np.nan)
        pc = pred - pred.mean(axis=0)
        num = np.einsum("ij,ij->j", yc, pc)
        den = np.sqrt(sst * np.einsum("ij,ij->j", pc, pc))
        r = np.where(den > 0, num / den, np.nan)
    return r2, r, sse, sst


def ridge_cv_fold(X: np.ndarray | None, Y: np.ndarray, tr: np.ndarray, te: np.ndarray,
                  alphas: np.ndarray, *, G: np.ndarray | None = None,
                  C_all: np.ndarray | None = None, alpha_scaling: str = "none",
                  form: str | None = None) -> FoldResult:
    """Ridge with per-target LOO alpha on one outer fold.

    Parameters
    ----------
    X : (P, M) activations, already centred over all P stimuli (only needed in covariance form,
        and in kernel form only if G is None).
    Y : (P, N) float64 responses (mean over repetitions).
    tr, te : index arrays of the training (p) and test (q) stimuli.
    alphas : (n_alpha,) positive grid.
    G : (P, P) Gram of the globally centred X (kernel form).
    C_all : (M, M) XᵀX of the globally centred X (covariance form).
    alpha_scaling : "none" (grid used as given) or "trace" (grid × tr(K_tr)/p of this fold).
    form : "kernel", "covariance" or None (kernel when M > p).
    """
    p = len(tr)
    Ytr = Y[tr]
    ybar = Ytr.mean(axis=0)
    Yc_tr = Ytr - ybar
    if form is None:
        form = "kernel" if (X is None or X.shape[1] > p) else "covariance"
    if form == "kernel":
        if G is None:
            G = centred_gram(X)
        Ktr, Kte = _double_centre_block(G, tr, te)
        s, Q = np.linalg.eigh(Ktr)
        trace = float(np.trace(Ktr))
        Z = Q.T @ Yc_tr
        pb = Kte @ Q
        scale = trace / p if alpha_scaling == "trace" else 1.0
        alphas_abs = np.asarray(alphas, dtype=np.float64) * scale
        idx, pred = _select_and_predict(s, Q, Z, Yc_tr, alphas_abs, pb, p, kernel=True)
    elif form == "covariance":
        Xtr = np.asarray(X[tr], dtype=np.float64)
        mu = Xtr.mean(axis=0)
        Xtr_c = Xtr - mu
        if C_all is not None:
            Xte_raw = np.asarray(X[te], dtype=np.float64)
            Ctr = C_all - Xte_raw.T @ Xte_raw - p * np.outer(mu, mu)
        else:
            Ctr = Xtr_c.T @ Xtr_c
        Ctr = (Ctr + Ctr.T) / 2.0
        s, V = np.linalg.eigh(Ctr)
        s = np.maximum(s, 0.0)
        trace = float(s.sum())
        A = Xtr_c @ V
        Z = A.T @ Yc_tr
        Xte_c = np.asarray(X[te], dtype=np.float64) - mu
        pb = Xte_c @ V
        scale = trace / p if alpha_scaling == "trace" else 1.0
        alphas_abs = np.asarray(alphas, dtype=np.float64) * scale
        idx, pred = _select_and_predict(s, A, Z, Yc_tr, alphas_abs, pb, p, kernel=False)
    else:
        raise ValueError(f"unknown form {form!r}")
    pred = pred + ybar
    r2, r, sse, sst = _scores(Y[te], pred)
    return FoldResult(alpha=alphas_abs[idx], alpha_index=idx, r2=r2, pearson_r=r, sse=sse, sst=sst)


def cross_validated_ridge(X: np.ndarray, Y: np.ndarray, folds: list[np.ndarray],
                          alphas: np.ndarray | None = None, alpha_scaling: str = "none",
                          form: str | None = None) -> pd.DataFrame:
    """K-fold cross-validated ridge scores for every target of one layer (DESIGN §3.1).

    Parameters
    ----------
    X : (P, M) activations (float32 or float64; a memory map is fine).
    Y : (P, N) responses averaged over repetitions (constant targets must be removed beforehand).
    folds : list of K test-index arrays (see :func:`make_folds`); training = the complement.
    alphas : grid (default :func:`default_alphas`).
    alpha_scaling : "none" or "trace" (each fold's grid × tr(K_tr)/p).
    form : force "kernel" or "covariance" (default: kernel when M > p_train).

    Returns
    -------
    DataFrame, one row per target: ``target`` (0-based column of Y), ``r2`` and ``pearson_r``
    (mean over folds, NaN folds ignored), ``alpha`` (median over folds of the chosen alpha, in
    absolute units), ``alpha_at_edge`` (the chosen alpha was the lowest or highest grid value in
    the majority of folds), ``sse`` and ``sst`` (summed over folds, for the pooled R²).
    """
    alphas = default_alphas() if alphas is None else np.asarray(alphas, dtype=np.float64)
    if np.any(~np.isfinite(alphas)) or np.any(alphas <= 0):
        raise ValueError("alphas must be finite and positive")
    X = np.asarray(X) if not isinstance(X, np.memmap) else X
    P, M = X.shape
    Y = np.asarray(Y, dtype=np.float64)
    N = Y.shape[1]
    p_max = max(P - len(f) for f in folds)
    if form is None:
        form = "kernel" if M > p_max else "covariance"
    mean = column_means(X)
    if form == "kernel":
        G = centred_gram(X)
        Xc = None
        C_all = None
    else:
        Xc = np.asarray(X, dtype=np.float64) - mean
        C_all = Xc.T @ Xc
        G = None
    K = len(folds)
    r2 = np.empty((K, N)); r = np.empty((K, N)); alpha = np.empty((K, N))
    edge = np.zeros((K, N), dtype=bool); sse = np.zeros(N); sst = np.zeros(N)
    all_idx = np.arange(P)
    for k, te in enumerate(folds):
        tr = np.setdiff1d(all_idx, te)
        res = ridge_cv_fold(Xc, Y, tr, np.sort(te), alphas, G=G, C_all=C_all,
                            alpha_scaling=alpha_scaling, form=form)
        r2[k], r[k], alpha[k] = res.r2, res.pearson_r, res.alpha
        edge[k] = (res.alpha_index == 0) | (res.alpha_index == len(alphas) - 1)
        sse += res.sse
        sst += res.sst
    with np.errstate(invalid="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = pd.DataFrame({
                "target": np.arange(N),
                "r2": np.nanmean(r2, axis=0),
                "pearson_r": np.nanmean(r, axis=0),
                "alpha": np.median(alpha, axis=0),
                "alpha_at_edge": edge.mean(axis=0) > 0.5,
                "sse": sse,
                "sst": sst,
            })
    return out


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


def score_layers(layers: dict[str, np.ndarray], Y: np.ndarray, folds: list[np.ndarray],
                 alphas: np.ndarray | None = None, alpha_scaling: str = "none",
                 target: np.ndarray | None = None, ceiling: np.ndarray | None = None,
                 alpha_edge_warning: float = 0.05) -> pd.DataFrame:
    """:func:`cross_validated_ridge` for every layer of a model; one row per layer × target.

    ``target`` gives the original column index of each column of Y (constant targets having been
    removed); ``ceiling`` the split-half noise ceiling per column (NaN where unavailable). Adds the
    columns ``layer``, ``layer_index``, ``ceiling``, ``r2_ceiled`` = r2/ceiling and
    ``pearson_r_ceiled`` = r/√ceiling (DESIGN §3.1: beside the raw scores, never instead).
    Logs a warning for a layer where more than ``alpha_edge_warning`` of the targets chose an
    alpha at either end of the grid.
    """
    N = Y.shape[1]
    target = np.arange(N) if target is None else np.asarray(target)
    ceiling = np.full(N, np.nan) if ceiling is None else np.asarray(ceiling, dtype=np.float64)
    frames = []
    for index, (name, X) in enumerate(layers.items()):
        df = cross_validated_ridge(X, Y, folds, alphas, alpha_scaling)
        df["target"] = target
        df.insert(0, "layer", name)
        df.insert(1, "layer_index", index)
        df["ceiling"] = ceiling
        with np.errstate(invalid="ignore", divide="ignore"):
            df["r2_ceiled"] = df["r2"] / ceiling
            df["pearson_r_ceiled"] = df["pearson_r"] / np.sqrt(ceiling)
        edge = float(df["alpha_at_edge"].mean())
        log.info("layer %s (%d units): median R² %.4f, median r %.4f, median alpha %.3g, %.0f%% of targets at the grid edge",
                 name, X.shape[1], df["r2"].median(), df["pearson_r"].median(), df["alpha"].median(), 100 * edge)
        if edge > alpha_edge_warning:
            log.warning("layer %s: %.0f%% of targets chose an alpha at the edge of the grid (> %.0f%%); "
                        "its scores are limited by the grid — widen `regression.alphas` or use "
                        "`regression.alpha_scaling: trace`", name, 100 * edge, 100 * alpha_edge_warning)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
