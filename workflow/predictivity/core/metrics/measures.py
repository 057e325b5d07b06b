"""Five similarity measures between a layer and the recordings, beside the ridge score.

Notation: X ∈ R^{P×M} the activations of one layer on P stimuli, Y ∈ R^{P×N} the responses
averaged over repetitions (``mean`` of the recordings stage), ``folds`` the test-index arrays of
the regression stage (:func:`predictivity.core.ridge.make_folds`: the same folds, groups kept
together). Centring is always over stimuli unless stated. Full statement: ``docs/metrics.md``.

* ``pls`` — :func:`pls_score`: PLS regression (the estimator of
  ``sklearn.cross_decomposition.PLSRegression(25, scale=False)``, Brain-Score's neural
  predictivity, computed in kernel form by :func:`kernel_pls_predict`) fitted on each training
  fold; Pearson r per target on the test fold; mean over folds; median over targets.
* ``rsa`` — :func:`rsa_score`: Spearman correlation between the upper triangles of the two
  correlation-distance RDMs, D_μν = 1 − Pearson(x_μ, x_ν) over units; ceiling from the split-half
  RDM reliability (:func:`rdm_split_half_reliability`).
* ``cka`` — :func:`linear_cka`: ⟨K̃, L̃⟩_F / (‖K̃‖_F ‖L̃‖_F) of the centred Grams.
* ``procrustes`` — :func:`procrustes_similarity`: angular Procrustes shape distance θ of Williams
  et al. (2021) after PCA to a common dimension, reported as 1 − 2θ/π.
* ``cca`` — :func:`svcca`: SVCCA (Raghu et al. 2017), PCA and CCA fitted on each training fold,
  mean of the canonical correlations on the held-out stimuli; mean over folds.

Every layer-side quantity comes from a P × P matrix (the centred Gram of
:func:`predictivity.core.gram.centred_gram`, or the Gram of the stimulus patterns centred over
units for RSA), so a wide layer costs one Gram and never forms an M × M matrix. A measure whose
requirements the data do not meet returns NaN, or the documented fallback, with a ``note``; it
never raises.

Implemented with NumPy/SciPy. PLS in kernel form because scikit-learn's NIPALS works on the
P × M activations with a power iteration per component (≈ 10× slower on the demo's wide layers);
the tests check it equals ``PLSRegression`` on the same folds (``solver="sklearn"`` runs the
latter). ``rsatoolbox`` 0.3.2 gives the same RSA numbers (tested) but its import pulls in
matplotlib and its plotting modules (≈ 1 s of CPU per job), for a computation of a few lines; it
is a test dependency only.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.stats

from predictivity.core.basis import fold_cross_gram, fold_training_gram
from predictivity.core.gram import centred_gram
from predictivity.core.reliability import half_sizes, single_repetition_reliability, spearman_brown

log = logging.getLogger(__name__)

MEASURES = ("pls", "rsa", "cka", "procrustes", "cca")
GRAM_MEASURES = ("pls", "cka", "procrustes", "cca")  # share the layer's centred Gram

# Eigenvalues of a Gram at or below RANK_RTOL × its largest are numerically zero (float32
# activations give a Gram accurate to ≈ 1e-7 relative): PCA and CCA never use those directions.
RANK_RTOL = 1e-6

COLUMNS = [
    "layer",
    "layer_index",
    "metric",
    "score",
    "ceiling",
    "score_ceiled",
    "n_components",
    "note",
    "seconds",
]


@dataclass
class MeasureResult:
    """One measure on one layer. ``ceiling`` and ``score_ceiled`` are NaN where the measure has no
    ceiling; ``n_components`` is None where the measure has no dimension parameter."""

    score: float
    ceiling: float = np.nan
    score_ceiled: float = np.nan
    n_components: int | None = None
    note: str = ""


def _join(notes) -> str:
    return "; ".join(n for n in notes if n)


# --------------------------------------------------------------------------------------------
# helpers


def pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between matching columns of a and b (n × k each) → (k,); NaN where a column is
    constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    num = np.einsum("ij,ij->j", a, b)
    den = np.sqrt(np.einsum("ij,ij->j", a, a) * np.einsum("ij,ij->j", b, b))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _training_indices(n_stimuli: int, test: np.ndarray) -> np.ndarray:
    mask = np.ones(n_stimuli, dtype=bool)
    mask[np.asarray(test)] = False
    return np.flatnonzero(mask)


def _top_eigh(G: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest eigenpairs of the symmetric G, in decreasing order (λ (k,), V (n × k))."""
    n = G.shape[0]
    k = max(1, min(int(k), n))
    driver = "evx" if k == 1 else None  # one eigenpair (PLS weights): evx is the fastest
    lam, V = scipy.linalg.eigh(G, subset_by_index=[n - k, n - 1], driver=driver)
    return lam[::-1], V[:, ::-1]


def _numerical_rank(lam: np.ndarray, rtol: float = RANK_RTOL) -> int:
    """Number of eigenvalues above rtol × the largest (0 when the largest is ≤ 0)."""
    top = float(lam[0]) if len(lam) else 0.0
    if not top > 0:
        return 0
    return int(np.count_nonzero(lam > rtol * top))


def fold_centred_grams(
    G: np.ndarray, train: np.ndarray, test: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Training Gram K_tr = X̃_tr X̃_trᵀ and test–training cross-Gram K_te = X̃_te X̃_trᵀ, X̃ = X
    centred with the mean of the training stimuli, from G = X_c X_cᵀ (any centring of X):

        X̃_i · X̃_j = G_ij − r_i − r_j + g,   r_i = mean_{k∈tr} G_ik,   g = mean_{k∈tr} r_k,

    with the regression's arithmetic (:func:`predictivity.core.basis.fold_training_gram`,
    :func:`~predictivity.core.basis.fold_cross_gram`; K_tr symmetrised)."""
    return fold_training_gram(G, train), fold_cross_gram(G, train, test)


# --------------------------------------------------------------------------------------------
# PLS


def kernel_pls_predict(
    K: np.ndarray, K_te: np.ndarray, Y_tr: np.ndarray, n_components: int, rtol: float = 1e-12
) -> tuple[np.ndarray, int]:
    """PLS2 regression (``PLSRegression(c, scale=False)``) fitted on a training fold and applied
    to test stimuli, computed from Grams only (kernel form; Rännar et al. 1994).

    K = X̃_tr X̃_trᵀ (p × p) and K_te = X̃_te X̃_trᵀ (q × p), X̃ centred with the training mean
    (:func:`fold_centred_grams`); Y_tr (p × N) the training responses. NIPALS in regression mode:
    with X_k = D_k X̃_tr, Y_k = D_k Ỹ_tr (D_k the projection orthogonal to the scores t_1…t_{k−1})
    the weight w_k is the first left singular vector of X_kᵀY_k, t_k = X_k w_k, and both blocks are
    deflated by t_k. Writing w_k = X̃_trᵀ a_k, everything is a p-space computation:

        S_k = Z_kᵀ K_k Z_k,  (σ², v) its top eigenpair,  a_k = Z_k v/σ,  t_k = K_k a_k,
        K_{k+1} = D' K_k D',  Z_{k+1} = D' Z_k,  D' = I − t_k t_kᵀ/(t_kᵀt_k),

    where Z_0 is Ỹ_tr (or, when N > p, a p × r root of Ỹ_trỸ_trᵀ: the weights depend on Y only
    through it). The predictions are those of scikit-learn's coefficients
    W (PᵀW)⁺ Qᵀ with P_jk = t_jᵀK a_k/(t_jᵀt_j), Q = Ỹ_trᵀT diag(1/tᵀt):

        Ŷ_te = ȳ_tr + K_te A (PᵀW)⁺ diag(1/tᵀt) Tᵀ Ỹ_tr.

    scikit-learn finds each w_k by power iteration (tol 1e-6); this solves the eigenproblem
    exactly, so the two agree to that tolerance (exactly with a tight ``tol``; tested). Cost:
    O(p²r) once, then O(r³ + k r² + p²) for component k (r ≤ min(p, N)), independent of the
    number of units. Components stop early
    (scikit-learn's "y residual is constant") when the residual responses vanish or are
    orthogonal to the residual activations (σ² ≤ rtol × the first σ²). Returns (Ŷ_te, number of
    components used).
    """
    Y_tr = np.asarray(Y_tr, dtype=np.float64)
    y_mean = Y_tr.mean(axis=0)
    Yc = Y_tr - y_mean
    p, N = Yc.shape
    if N > p:
        lam, E = scipy.linalg.eigh(Yc @ Yc.T)
        keep = lam > lam[-1] * 1e-14 if lam[-1] > 0 else np.zeros(len(lam), bool)
        Z0 = E[:, keep] * np.sqrt(lam[keep])
    else:
        Z0 = Yc
    # Z_k = D_k Z_0 and K_k = D_k K D_k with D_k = I − T̂T̂ᵀ (T̂: the normalised scores so far,
    # orthonormal), so S_k = Z_kᵀ K Z_k is updated from S_0 = Z_0ᵀ K Z_0 with C = T̂ᵀZ_0,
    # H = T̂ᵀKZ_0, J = T̂ᵀKT̂:  S_k = S_0 − HᵀC − CᵀH + CᵀJC  (no p × p deflation).
    KZ0 = K @ Z0
    S0 = Z0.T @ KZ0
    Th = np.zeros((p, 0))
    KTh = np.zeros((p, 0))
    T, A = [], []
    sigma2_first = None
    for _ in range(n_components):
        if Z0.shape[1] == 0:
            break
        C = Th.T @ Z0
        H = Th.T @ KZ0
        S = S0 - H.T @ C - C.T @ H + C.T @ (Th.T @ KTh) @ C
        s2, v = _top_eigh((S + S.T) / 2.0, 1)
        s2 = float(s2[0])
        if sigma2_first is None:
            sigma2_first = s2
        if not (s2 > 0 and s2 > rtol * sigma2_first):
            break
        v = v[:, 0]
        a = (Z0 @ v - Th @ (C @ v)) / np.sqrt(s2)  # a_k = Z_k v/σ
        Ka = K @ a
        t = Ka - Th @ (Th.T @ Ka)  # t_k = D_k K a_k
        t -= Th @ (Th.T @ t)  # re-orthogonalise: keeps T̂ orthonormal to rounding
        norm_t = float(np.linalg.norm(t))
        if not norm_t > 0:
            break
        T.append(t)
        A.append(a)
        Th = np.column_stack([Th, t / norm_t])
        KTh = np.column_stack([KTh, K @ Th[:, -1]])
    c = len(T)
    if c == 0:
        return np.broadcast_to(y_mean, (K_te.shape[0], N)).copy(), 0
    T = np.column_stack(T)
    A = np.column_stack(A)
    tt = np.einsum("ij,ij->j", T, T)
    PtW = (T.T @ (K @ A)) / tt[:, None]
    R = (K_te @ A) @ np.linalg.pinv(PtW)
    return y_mean + (R / tt) @ (T.T @ Yc), c


def pls_score(
    X: np.ndarray,
    Y: np.ndarray,
    folds: list[np.ndarray],
    n_components: int = 25,
    target_ceiling: np.ndarray | None = None,
    Gx: np.ndarray | None = None,
    solver: str = "kernel",
) -> MeasureResult:
    """Cross-validated PLS regression (Brain-Score's neural predictivity).

    Per fold f (training stimuli tr, test stimuli te): PLS regression with c components
    (scikit-learn's ``PLSRegression(c, scale=False)``: X and Y centred with their training means,
    not scaled) fitted on (X_tr, Y_tr) predicts Ŷ_te; r_fn = Pearson(y_te,n, ŷ_te,n). Score =
    median_n mean_f r_fn (folds where r is undefined — a constant prediction or test target — are
    left out of the mean, as in the regression stage).

    ``solver="kernel"`` (default) computes it from the layer's centred Gram
    (:func:`kernel_pls_predict`; ``Gx`` may pass it), exact and independent of the number of
    units; ``solver="sklearn"`` calls ``PLSRegression`` on X (power-iteration weights, tol 1e-6).
    The two agree (tested).

    Components: c = min(n_components, M, p_min − 1), p_min the smallest training fold. PLS
    regression extracts its components in X space, so scikit-learn (≥ 1.1) bounds them by
    min(p, M) and not by the number of targets: a study with fewer targets than components is
    scored with all c components. c < n_components is the documented fallback (``note``); c < 1
    gives NaN. Components also stop early where the residual responses vanish (noted).

    Ceiling (``target_ceiling`` = ρ_n, the split-half reliability of each target's mean
    response): ``ceiling`` = median_n √ρ_n, the r a noiseless model would reach;
    ``score_ceiled`` = median_n (mean_f r_fn)/√ρ_n over the targets that have a ceiling (the
    regression stage's ``pearson_r_ceiled``).
    """
    Y = np.asarray(Y, dtype=np.float64)
    if solver not in ("kernel", "sklearn"):
        raise ValueError(f"solver must be 'kernel' or 'sklearn', got {solver!r}")
    if solver == "kernel" and Gx is None:
        Gx = centred_gram(np.asarray(X))
    P, N = Y.shape
    M = np.shape(X)[1]
    p_min = min(P - len(te) for te in folds)
    c = min(int(n_components), M, p_min - 1)
    notes = []
    if c < 1:
        return MeasureResult(
            np.nan,
            n_components=0,
            note=f"no PLS component possible ({M} units, {p_min} training stimuli)",
        )
    if c < n_components:
        notes.append(
            f"components capped at {c} (pls_components={n_components}, {M} units, "
            f"smallest training fold {p_min})"
        )
    r = np.full((len(folds), N), np.nan)
    for f, te in enumerate(folds):
        tr = _training_indices(P, te)
        if solver == "kernel":
            K_tr, K_te = fold_centred_grams(Gx, tr, te)
            if not np.trace(K_tr) > 0:
                notes.append(f"fold {f}: layer constant on the training stimuli")
                continue
            pred, used = kernel_pls_predict(K_tr, K_te, Y[tr], c)
            if used < c:
                notes.append(f"fold {f}: {used} components (residual responses exhausted)")
        else:
            from sklearn.cross_decomposition import PLSRegression

            X_tr = np.asarray(X[tr], dtype=np.float64)
            if not np.any(np.ptp(X_tr, axis=0) > 0):
                notes.append(f"fold {f}: layer constant on the training stimuli")
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = PLSRegression(n_components=c, scale=False).fit(X_tr, Y[tr])
                pred = model.predict(np.asarray(X[te], dtype=np.float64))
            notes.extend(f"fold {f}: {w.message}" for w in caught)
        if not np.all(np.isfinite(pred)):
            notes.append(f"fold {f}: non-finite predictions")
            continue
        r[f] = pearson_columns(Y[te], pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r_target = np.nanmean(r, axis=0)
        score = float(np.nanmedian(r_target)) if np.isfinite(r_target).any() else np.nan
        ceiling = score_ceiled = np.nan
        if target_ceiling is not None:
            rho = np.asarray(target_ceiling, dtype=np.float64)
            if np.isfinite(rho).any():
                ceiling = float(np.nanmedian(np.sqrt(rho)))
                ceiled = r_target / np.sqrt(rho)
                if np.isfinite(ceiled).any():
                    score_ceiled = float(np.nanmedian(ceiled))
    return MeasureResult(score, ceiling, score_ceiled, c, _join(dict.fromkeys(notes)))


# --------------------------------------------------------------------------------------------
# RSA


def pattern_gram(X: np.ndarray, block_units: int = 8192) -> np.ndarray:
    """S = X_r X_rᵀ with X_r = each stimulus pattern (row of X) centred over units, in float64
    (blocks of units, so a float32 X is never copied whole). (P, P)."""
    X = np.asarray(X)
    P, M = X.shape
    mu = X.mean(axis=1, dtype=np.float64)
    S = np.zeros((P, P), dtype=np.float64)
    for start in range(0, M, block_units):
        B = np.subtract(X[:, start : start + block_units], mu[:, None], dtype=np.float64)
        S += B @ B.T
    return (S + S.T) / 2.0


def correlation_rdm(X: np.ndarray) -> np.ndarray:
    """RDM D_μν = 1 − Pearson(x_μ, x_ν), the correlation over units between the patterns of
    stimuli μ and ν (rsatoolbox's ``calc_rdm(method="correlation")``). A stimulus whose pattern is
    constant over units has NaN entries (its diagonal too); (P, P), zero diagonal otherwise."""
    S = pattern_gram(X)
    d = np.sqrt(np.diag(S))
    with np.errstate(invalid="ignore", divide="ignore"):
        C = S / np.outer(d, d)
    C[~np.outer(d > 0, d > 0)] = np.nan
    D = 1.0 - C
    np.fill_diagonal(D, np.where(d > 0, 0.0, np.nan))
    return D


def upper_triangle(D: np.ndarray) -> np.ndarray:
    """The entries above the diagonal, row by row (P(P−1)/2,)."""
    return D[np.triu_indices(D.shape[0], k=1)]


def rdm_spearman(D1: np.ndarray, D2: np.ndarray) -> float:
    """Spearman ρ between the upper triangles of two RDMs, over the pairs finite in both (NaN if
    fewer than 3 or either is constant)."""
    a, b = upper_triangle(D1), upper_triangle(D2)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return np.nan
    return float(scipy.stats.spearmanr(a[ok], b[ok]).statistic)


def rdm_split_half_reliability(responses: np.ndarray) -> tuple[float, float]:
    """Split-half reliability of the recordings' RDM: (ρ_R, r_half).

    responses : (P, N, R ≥ 2). r_half = Spearman between the upper triangles of the RDMs of the
    mean of the even-indexed repetitions (0, 2, …; a = ⌈R/2⌉ of them) and of the odd-indexed ones
    (b = ⌊R/2⌋). ρ_R, the reliability of the RDM of all R repetitions, is r_half stepped up with
    Spearman–Brown exactly as the regression ceiling (:func:`predictivity.core.reliability.
    split_half_ceiling`): 2r/(1 + r) for R even, the exact unequal-halves solution for R odd;
    NaN for r_half ≤ 0. Spearman–Brown assumes the RDM of k repetitions behaves like a mean of k
    parallel measurements; a correlation-distance RDM is a nonlinear function of the responses,
    so this is the convention (Brain-Score's RDM ceilings also step up a split-half consistency),
    not an exact result.
    """
    responses = np.asarray(responses, dtype=np.float64)
    if responses.ndim != 3 or responses.shape[2] < 2:
        raise ValueError("rdm_split_half_reliability needs (stimuli, targets, repetitions ≥ 2)")
    R = responses.shape[2]
    r_half = rdm_spearman(
        correlation_rdm(responses[:, :, 0::2].mean(axis=2)),
        correlation_rdm(responses[:, :, 1::2].mean(axis=2)),
    )
    if not r_half > 0:
        return np.nan, r_half
    a, b = half_sizes(R)
    if a == b:
        return 2 * r_half / (1 + r_half), r_half
    rho = spearman_brown(single_repetition_reliability(np.array(r_half), a, b), R)
    return float(rho), r_half


def rsa_score(
    X: np.ndarray,
    Y: np.ndarray | None = None,
    responses: np.ndarray | None = None,
    rdm_y: np.ndarray | None = None,
    reliability: float | None = None,
) -> MeasureResult:
    """RSA: Spearman between the upper triangles of the correlation-distance RDMs of the layer
    and of the trial-averaged responses (:func:`correlation_rdm`, :func:`rdm_spearman`).

    Ceiling: with ``responses`` (P, N, R ≥ 2), or a precomputed ``reliability`` ρ_R, ``ceiling`` =
    √ρ_R (:func:`rdm_split_half_reliability`): if the data RDM is the true RDM plus independent
    noise, a model whose RDM is the true one correlates with it at √ρ_R (the regression stage's
    r/√ρ convention); ``score_ceiled`` = score/√ρ_R. Without repetitions both are NaN.
    ``rdm_y`` (the recordings' RDM) may be passed to compute it once per study.
    """
    notes = []
    if rdm_y is None:
        if Y is None:
            raise ValueError("rsa_score needs Y or rdm_y")
        rdm_y = correlation_rdm(Y)
    if reliability is None and responses is not None:
        reliability, _ = rdm_split_half_reliability(responses)
    if reliability is None:
        notes.append("no ceiling: no per-repetition responses (≥ 2 repetitions) given")
        reliability = np.nan
    elif not np.isfinite(reliability):
        notes.append("no ceiling: split-half RDM correlation ≤ 0")
    X = np.asarray(X)
    if X.shape[1] < 2:
        return MeasureResult(np.nan, note="RSA needs ≥ 2 units (correlation over units)")
    if Y is not None and np.asarray(Y).shape[1] < 2:
        return MeasureResult(np.nan, note="RSA needs ≥ 2 targets (correlation over targets)")
    rdm_x = correlation_rdm(X)
    n_bad = int(np.count_nonzero(np.isnan(np.diag(rdm_x))))
    if n_bad:
        notes.append(f"{n_bad} stimuli with a constant layer pattern left out")
    score = rdm_spearman(rdm_x, rdm_y)
    if not np.isfinite(score):
        notes.append("RDM correlation undefined (constant RDM)")
    ceiling = float(np.sqrt(reliability)) if np.isfinite(reliability) else np.nan
    return MeasureResult(
        score, ceiling, score / ceiling if ceiling > 0 else np.nan, None, _join(notes)
    )


# --------------------------------------------------------------------------------------------
# CKA


def linear_cka(Gx: np.ndarray, Gy: np.ndarray) -> float:
    """Linear CKA (Kornblith et al. 2019) from the centred Grams K̃ = X_c X_cᵀ, L̃ = Y_c Y_cᵀ:

        CKA = ⟨K̃, L̃⟩_F / (‖K̃‖_F ‖L̃‖_F) = ‖Y_cᵀX_c‖²_F / (‖X_cᵀX_c‖_F ‖Y_cᵀY_c‖_F),

    i.e. HSIC(K, L)/√(HSIC(K, K) HSIC(L, L)) with HSIC = tr(KHLH)/(P − 1)². In [0, 1]; invariant
    to orthogonal transforms and isotropic scaling of either side. NaN when either side is
    constant."""
    num = float(np.vdot(Gx, Gy))
    den = float(np.linalg.norm(Gx) * np.linalg.norm(Gy))
    return num / den if den > 0 else np.nan


def cka_score(X: np.ndarray, Y: np.ndarray | None = None, Gx=None, Gy=None) -> MeasureResult:
    """:func:`linear_cka` of a layer and the responses (Grams computed here unless given)."""
    Gx = centred_gram(X) if Gx is None else Gx
    Gy = centred_gram(np.asarray(Y, dtype=np.float64)) if Gy is None else Gy
    score = linear_cka(Gx, Gy)
    return MeasureResult(
        score, note="" if np.isfinite(score) else "a side is constant over stimuli"
    )


# --------------------------------------------------------------------------------------------
# Procrustes


def pca_scores(G: np.ndarray, d: int, rtol: float = RANK_RTOL, basis=None) -> np.ndarray:
    """Principal-component scores of the top d PCs from the centred Gram G = X_c X_cᵀ:
    X_c = U S Vᵀ ⇒ G = U S² Uᵀ and the scores X_c V_d = U_d S_d. Components with eigenvalue
    ≤ rtol × the largest are dropped, so the result has min(d, numerical rank) columns.
    ``basis``: the layer's shared :class:`predictivity.core.basis.LayerBasis` (its
    eigendecomposition of G/P is used instead of an ``eigh`` here)."""
    if basis is None:
        lam, U = _top_eigh(G, d)
    else:
        P = basis.n_stimuli
        d = max(1, min(int(d), P))
        lam, U = basis.lam[::-1][:d] * P, basis.U[:, ::-1][:, :d]
    k = _numerical_rank(lam, rtol)
    return U[:, :k] * np.sqrt(lam[:k])


def procrustes_similarity(A: np.ndarray, B: np.ndarray) -> tuple[float, float]:
    """Angular Procrustes shape distance (Williams et al. 2021) → (1 − 2θ/π, θ).

    A (P × a) and B (P × b) are centred over stimuli and scaled to unit Frobenius norm; then

        θ = arccos max_Q tr(AᵀB Q) = arccos ‖AᵀB‖_*,

    the maximum over orthogonal Q (partial isometries when a ≠ b, which is zero-padding the
    smaller side), ‖·‖_* the nuclear norm. θ ∈ [0, π/2] (0: B is a rotated, rescaled copy of A);
    the similarity 1 − 2θ/π ∈ [0, 1] is 1 for a rotated copy and 0 for orthogonal
    representations. NaN when a side is constant."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    A = A - A.mean(axis=0)
    B = B - B.mean(axis=0)
    na, nb = np.linalg.norm(A), np.linalg.norm(B)
    if not (na > 0 and nb > 0):
        return np.nan, np.nan
    nuc = float(np.linalg.svd((A / na).T @ (B / nb), compute_uv=False).sum())
    theta = float(np.arccos(np.clip(nuc, -1.0, 1.0)))
    return 1.0 - 2.0 * theta / np.pi, theta


def procrustes_score(
    X: np.ndarray,
    Y: np.ndarray | None = None,
    dim: int = 50,
    Gx=None,
    Gy=None,
    B=None,
    basis=None,
) -> MeasureResult:
    """:func:`procrustes_similarity` after PCA of both sides to a common dimension.

    d = min(dim, P − 1). Each side is replaced by its top-d principal-component scores (all
    stimuli; :func:`pca_scores`, from the centred Gram, so no M × M matrix); a side of numerical
    rank r < d keeps its r components, which is zero-padding it to d (noted). ``n_components`` = d.
    ``B`` may pass the responses' PC scores (computed once per study); ``basis`` the layer's
    shared eigen basis.
    """
    Gx = (centred_gram(X) if basis is None else basis.G) if Gx is None else Gx
    P = Gx.shape[0]
    d = min(int(dim), P - 1)
    if B is None:
        Gy = centred_gram(np.asarray(Y, dtype=np.float64)) if Gy is None else Gy
        B = pca_scores(Gy, d)
    A = pca_scores(Gx, d, basis=basis)
    notes = []
    if A.shape[1] == 0 or B.shape[1] == 0:
        return MeasureResult(np.nan, n_components=d, note="a side is constant over stimuli")
    if d < dim:
        notes.append(f"dimension capped at P − 1 = {d}")
    for side, Z in (("layer", A), ("recordings", B)):
        if Z.shape[1] < d:
            notes.append(f"{side} rank {Z.shape[1]} < {d}: zero-padded")
    sim, _ = procrustes_similarity(A, B)
    return MeasureResult(sim, n_components=d, note=_join(notes))


# --------------------------------------------------------------------------------------------
# SVCCA


@dataclass
class FoldPCA:
    """PCA of one side fitted on a fold's training stimuli, whitened: ``train`` = Q (p × k, the
    eigenvectors of K_tr: the training PC scores divided by their norms), ``test`` =
    K_te Q Λ⁻¹ (the test stimuli's PC scores, centred with the training mean, divided by the
    same norms); ``rank`` = numerical rank of K_tr among the computed components."""

    train: np.ndarray
    test: np.ndarray
    rank: int


def fold_pcas(G: np.ndarray, folds: list[np.ndarray], k: int, rtol: float = RANK_RTOL, basis=None):
    """:class:`FoldPCA` of the top k training PCs of every fold, from the centred Gram G (with
    the layer's shared ``basis``, from its eigendecomposition of each K_tr)."""
    P = G.shape[0]
    out = []
    for te in folds:
        tr = _training_indices(P, te)
        kk = max(1, min(k, len(tr) - 1))
        if basis is None:
            K_tr, K_te = fold_centred_grams(G, tr, te)
            lam, Q = _top_eigh(K_tr, kk)
        else:
            f = basis.fold(tr, te)
            K_te = fold_cross_gram(G, tr, np.asarray(te))  # rows in the caller's test order
            lam, Q = f.s[::-1][:kk], f.Q[:, ::-1][:, :kk]
        r = _numerical_rank(lam, rtol)
        out.append(FoldPCA(Q[:, :r], K_te @ Q[:, :r] / lam[:r], r))
    return out


def svcca_fold(a: FoldPCA, b: FoldPCA, k: int) -> np.ndarray:
    """Held-out canonical correlations of one fold (k,): CCA of the two sides' top-k whitened
    training PC scores, Q_aᵀQ_b = U S Vᵀ (S: the training canonical correlations, decreasing),
    canonical variates on the test stimuli u = T_a U, v = T_b V, and r_i = Pearson(u_i, v_i)
    over the test stimuli (signed)."""
    U, _, Vt = np.linalg.svd(a.train[:, :k].T @ b.train[:, :k])
    u = a.test[:, :k] @ U[:, :k]
    v = b.test[:, :k] @ Vt.T[:, :k]
    return pearson_columns(u, v)


def svcca(
    X: np.ndarray,
    Y: np.ndarray | None,
    folds: list[np.ndarray],
    dim: int = 20,
    Gx=None,
    Gy=None,
    pcas_y=None,
    basis=None,
) -> MeasureResult:
    """Cross-validated SVCCA (Raghu et al. 2017).

    Per fold: PCA of X and of Y fitted on the training stimuli, keeping the top k PCs of each
    (:func:`fold_pcas`); CCA between the two k-dimensional training scores; the k canonical
    weight pairs applied to the held-out stimuli (projected with the training mean and axes);
    the fold's value is the mean over i = 1…k of the held-out Pearson r_i
    (:func:`svcca_fold`). Score = mean over folds.

    k = min(dim, ⌊(p_min − 1)/2⌋, numerical ranks of both sides on every training fold): the
    same k in every fold; k < dim is the documented fallback (``note``: a side with fewer
    targets, units or non-degenerate dimensions than ``dim``, or training folds too small for a
    2k-dimensional CCA); k < 1 gives NaN. ``n_components`` = k. ``pcas_y`` may pass Y's
    :func:`fold_pcas` (computed once per study, with at least ``dim`` components); ``basis``
    the layer's shared eigen basis for these folds.
    """
    Gx = (centred_gram(X) if basis is None else basis.G) if Gx is None else Gx
    P = Gx.shape[0]
    p_min = min(P - len(te) for te in folds)
    k_max = min(int(dim), (p_min - 1) // 2)
    if pcas_y is None:
        Gy = centred_gram(np.asarray(Y, dtype=np.float64)) if Gy is None else Gy
        pcas_y = fold_pcas(Gy, folds, k_max)
    pcas_x = fold_pcas(Gx, folds, k_max, basis=basis)
    rank_x = min(p.rank for p in pcas_x)
    rank_y = min(p.rank for p in pcas_y)
    k = min(k_max, rank_x, rank_y)
    notes = []
    if k < 1:
        return MeasureResult(
            np.nan, n_components=0, note="a side has no non-degenerate dimension on a training fold"
        )
    if k < dim:
        why = []
        if k_max < dim:
            why.append(f"smallest training fold {p_min} allows {k_max}")
        if rank_x < dim:
            why.append(f"layer rank {rank_x}")
        if rank_y < dim:
            why.append(f"recordings rank {rank_y}")
        notes.append(f"k capped at {k} (cca_dim={dim}; {', '.join(why)})")
    per_fold = [np.nanmean(svcca_fold(a, b, k)) for a, b in zip(pcas_x, pcas_y)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        score = float(np.nanmean(per_fold))
    return MeasureResult(score, n_components=k, note=_join(notes))


# --------------------------------------------------------------------------------------------
# all measures of a model


def check_enabled(enabled) -> list[str]:
    """The requested measures in canonical order; ValueError naming an unknown one."""
    enabled = list(enabled)
    unknown = [m for m in enabled if m not in MEASURES]
    if unknown:
        raise ValueError(f"unknown measure(s) {unknown}; known: {', '.join(MEASURES)}")
    return [m for m in MEASURES if m in enabled]


def score_metrics(
    layers: dict[str, np.ndarray],
    Y: np.ndarray,
    folds: list[np.ndarray],
    enabled=MEASURES,
    pls_components: int = 25,
    procrustes_dim: int = 50,
    cca_dim: int = 20,
    ceiling: np.ndarray | None = None,
    responses: np.ndarray | None = None,
    bases: dict | None = None,
) -> pd.DataFrame:
    """Every enabled measure on every layer of a model: one row per layer × measure.

    Columns: ``layer``, ``layer_index``, ``metric``, ``score``, ``ceiling``, ``score_ceiled``,
    ``n_components`` (PLS components, Procrustes dimension, SVCCA k; NA for RSA and CKA),
    ``note`` (fallbacks and reasons for NaN; also logged), ``seconds``: the measure's own time on
    the layer plus equal shares of the work it shares — the layer's centred Gram (split among the
    enabled Gram measures) and the responses' side (Gram, PCs, RDM, ceiling; split among the
    layers) — so the column sums to the stage's computing time.

    ``ceiling`` — per-target split-half reliability ρ_n (recordings stage), used by PLS;
    ``responses`` — (P, N, R) per-repetition responses, used for the RSA ceiling (absent: NaN);
    ``bases`` — the layers' shared eigen bases by name (:mod:`predictivity.core.basis`): their G
    and eigendecompositions replace this stage's own.
    """
    enabled = check_enabled(enabled)
    Y = np.asarray(Y, dtype=np.float64)
    y_seconds = dict.fromkeys(enabled, 0.0)
    uses_gram = [m for m in enabled if m in GRAM_MEASURES]

    def timed(fn, *args, **kwargs):
        t0 = time.perf_counter()
        return fn(*args, **kwargs), time.perf_counter() - t0

    Gy = B = pcas_y = rdm_y = reliability = None
    if uses_gram:
        Gy, t = timed(centred_gram, Y)
        for m in uses_gram:
            y_seconds[m] += t / len(uses_gram)
    if "procrustes" in enabled:
        B, t = timed(pca_scores, Gy, min(procrustes_dim, Y.shape[0] - 1))
        y_seconds["procrustes"] += t
    if "cca" in enabled:
        p_min = min(Y.shape[0] - len(te) for te in folds)
        pcas_y, t = timed(fold_pcas, Gy, folds, min(cca_dim, (p_min - 1) // 2))
        y_seconds["cca"] += t
    if "rsa" in enabled:
        t0 = time.perf_counter()
        rdm_y = correlation_rdm(Y) if Y.shape[1] >= 2 else None
        if responses is not None and np.asarray(responses).shape[-1] >= 2 and Y.shape[1] >= 2:
            reliability, r_half = rdm_split_half_reliability(responses)
            log.info("RSA: split-half RDM Spearman %.4f, reliability %.4f", r_half, reliability)
        y_seconds["rsa"] += time.perf_counter() - t0

    rows = []
    for index, (name, X) in enumerate(layers.items()):
        X = np.asarray(X)
        X = X.reshape(X.shape[0], -1)
        gram_share = 0.0
        Gx = None
        basis = None if bases is None else bases.get(name)
        if basis is not None:
            Gx = basis.G
        elif uses_gram:
            Gx, t = timed(centred_gram, X)
            gram_share = t / len(uses_gram)
        for m in enabled:
            t0 = time.perf_counter()
            if m == "pls":
                res = pls_score(X, Y, folds, pls_components, ceiling, Gx=Gx)
            elif m == "rsa":
                if rdm_y is None:
                    res = MeasureResult(
                        np.nan, note="RSA needs ≥ 2 targets (correlation over targets)"
                    )
                else:
                    res = rsa_score(X, rdm_y=rdm_y, reliability=reliability)
            elif m == "cka":
                res = cka_score(X, Gx=Gx, Gy=Gy)
            elif m == "procrustes":
                res = procrustes_score(X, dim=procrustes_dim, Gx=Gx, B=B, basis=basis)
            else:
                res = svcca(X, None, folds, cca_dim, Gx=Gx, pcas_y=pcas_y, basis=basis)
            seconds = time.perf_counter() - t0 + (gram_share if m in GRAM_MEASURES else 0.0)
            log.info(
                "layer %s: %s = %.4f%s (%.2f s)%s",
                name,
                m,
                res.score,
                f", ceiled {res.score_ceiled:.4f}" if np.isfinite(res.score_ceiled) else "",
                seconds,
                f" — {res.note}" if res.note else "",
            )
            if not np.isfinite(res.score):
                log.warning("layer %s: %s is NaN: %s", name, m, res.note or "undefined")
            rows.append(
                {
                    "layer": name,
                    "layer_index": index,
                    "metric": m,
                    "score": res.score,
                    "ceiling": res.ceiling,
                    "score_ceiled": res.score_ceiled,
                    "n_components": res.n_components,
                    "note": res.note,
                    "seconds": seconds,
                }
            )
    df = pd.DataFrame(rows, columns=COLUMNS)
    n_layers = max(len(layers), 1)
    df["seconds"] = df["seconds"] + df["metric"].map(y_seconds).fillna(0.0) / n_layers
    df["n_components"] = df["n_components"].astype("Int64")
    df["layer_index"] = df["layer_index"].astype(np.int64)
    for col in ("score", "ceiling", "score_ceiled", "seconds"):
        df[col] = df[col].astype(np.float64)
    df["note"] = df["note"].astype(str)
    return df
