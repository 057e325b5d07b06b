"""Cross-validated ridge regression from a layer's activations onto recordings
(``docs/design.md#regression``).

Problem solved, per outer fold f with training stimuli ``tr`` (p of them) and test stimuli ``te``
(q of them), and per target n (a column of Y)::

    (b̂, c) = argmin_b,c  Σ_{i∈tr} (y_in − c − x_iᵀ b)² + α_n ‖b‖²        (intercept c unpenalised)

with α_n chosen from a grid ``alphas`` inside the training fold:

* without stimulus groups, by exact leave-one-out (LOO) error — the estimator of
  ``sklearn.linear_model.RidgeCV(alphas, alpha_per_target=True, fit_intercept=True)``;
* with stimulus groups (``groups``, the labels that keep near-duplicates in one outer fold), by
  exact leave-one-group-out (LOGO) over the groups of the training fold: with H(α) the hat matrix
  of ridge with an unpenalised intercept on the training fold and r = (I − H)y its residuals,
  the residuals of the fit without group g on g are e_g = (I − H_gg)⁻¹ r_g, and
  α_n = argmin_α Σ_g ‖e_g,n(α)‖² — the same alphas as refitting ``sklearn.linear_model.Ridge``
  with ``LeaveOneGroupOut`` (:func:`_kernel_group_select`, :func:`_covariance_group_select`).
  Plain LOO would find each left-out stimulus's near-duplicates in the training set and choose
  too small an alpha. ``alpha_cv="loo"`` forces plain LOO.

Scores on the test fold: R² = 1 − Σ(y − ŷ)²/Σ(y − ȳ_te)² and Pearson r(y, ŷ).

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
one matrix per layer (the Gram of X centred over all P stimuli, :func:`predictivity.core.gram.centred_gram`,
or its M × M counterpart); fold centring is applied to that matrix algebraically.

Cost (kernel form, per fold): the Gram P²M once per layer (float32 blocks for float32 activations,
summed in float64); ``scipy.linalg.eigh(driver="evd")`` of K_tr (≈ 9p³ counted); Z = QᵀỸ (2p²N);
the LOO search; the predictions. Choosing alpha by exact LOO needs the p × N residuals R(α):
2p²N flops per alpha, n_α times — what scikit-learn spends. The default ``loo_search="bounded"``
(:func:`_kernel_loo_select`) returns the same alphas while computing R(α) only for the
(alpha, target) pairs that rigorous bounds cannot rule out (1.3–2.9 per target on the
benchmark's sizes instead of n_α). Everything after the Gram is float64, whatever the dtype of X.

Numerical hazard: eigenvalues of a PSD matrix computed in floating point can come out slightly
negative; they are clipped at 0 (``eig_floor``) before use, which only affects directions that
carry no variance.

Units: with a trace-scaled grid the fit is equivariant (X·a, Y·b give alphas·a², the same R²).
The kernel-form LOO and leave-one-group-out searches work on (s, α)/κ (:func:`_spectrum_scale`)
with each target divided by its largest |z| (:func:`_target_scale`; errors multiplied back),
and the predictions divide both factors by κ, so that no intermediate (D², z², z/(s+α))
overflows or underflows at the extremes of float64: tested from X·1e±100 with Y·1e∓150.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg

from predictivity.core.basis import (
    FoldEigen,
    LayerBasis,
    covariance_fold_eigh,
    fold_cross_gram,
    fold_training_gram,
    kernel_eigh,
)
from predictivity.core.folds import MIN_TEST_STIMULI, make_folds, training_size  # noqa: F401
from predictivity.core.gram import centred_gram, column_means
from predictivity.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_ALPHAS = np.logspace(-2, 8, 21)


def default_alphas() -> np.ndarray:
    """The default alpha grid: 21 values log-spaced from 1e-2 to 1e8."""
    return DEFAULT_ALPHAS.copy()


def _check_alpha_range(alphas_abs: np.ndarray, trace: float, dtype) -> None:
    """The grid must reach above the rounding level of the eigenvalues (eps × trace): below it
    every alpha acts as 0 and the solution is rounding noise (R² of −1e26)."""
    floor = 10.0 * float(np.finfo(dtype).eps) * trace
    if np.isfinite(trace) and float(np.max(alphas_abs)) < floor:
        raise InputError(
            "regression.alphas",
            f"the largest alpha ({float(np.max(alphas_abs)):.3g}) is below the rounding level "
            f"of this layer's Gram matrix ({floor:.3g}: its trace is {trace:.3g}), so every "
            "alpha acts as 0.",
            "Use `regression.alpha_scaling: trace`, or rescale the activations.",
        )


@dataclass
class FoldResult:
    """Per-target outputs of one outer fold (arrays of length N)."""

    alpha: np.ndarray  # chosen alpha (absolute units, after any scaling)
    alpha_index: np.ndarray  # index into the (unscaled) grid
    r2: np.ndarray
    pearson_r: np.ndarray
    sse: np.ndarray  # Σ (y − ŷ)² over the test fold
    sst: np.ndarray  # Σ (y − ȳ_te)² over the test fold
    grouped: bool = False  # alpha chosen by leave-one-group-out (else plain LOO)
    # inner CV on the training fold at the chosen alpha: cv_sse = Σ of the squared LOO (or
    # leave-one-group-out) residuals, cv_sst = Σ_i Ỹ_tr² (Ỹ centred on the training fold), so
    # 1 − cv_sse/cv_sst is the inner-CV R² (None where not computed)
    cv_sse: np.ndarray | None = None
    cv_sst: np.ndarray | None = None


def _double_centre_block(G: np.ndarray, tr: np.ndarray, te: np.ndarray):
    """Centre the Gram on the training fold: returns K_tr (p×p) and K_te (q×p)
    (:func:`predictivity.core.basis.fold_training_gram`, :func:`~predictivity.core.basis.fold_cross_gram`)."""
    return fold_training_gram(G, tr), fold_cross_gram(G, tr, te)


LOO_SEARCHES = ("bounded", "exhaustive")

# Relative slack of every pruning comparison. The bounds below hold in exact arithmetic; in
# floating point the quantities they compare (‖R‖² from the eigenbasis, partial sums from a
# GEMM) differ from the computed LOO errors by O(p·ε) ≈ 1e-12 relative for p ≤ 10⁴, so a slack
# of 1e-9 keeps every pruning decision on the safe side by three orders of magnitude.
_PRUNE_SLACK = 1e-9
_SEARCH_CHUNK = 2048  # targets per bounded search (N × p arrays of 6.5 MB at p = 400)


def _column_tol(p: int) -> float:
    """Relative error bound of a computed column Qv (Q p × p orthogonal): each entry is a
    length-p dot product, |fl(Qv) − Qv| ≤ γ_p |Q||v| entrywise with γ_p = pu/(1 − pu), u = eps/2
    (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.5; any summation order, FMA or
    not), and ‖|Q|‖₂ ≤ ‖Q‖_F = √p, so ‖fl(Qv) − Qv‖ ≤ γ_p·√p·‖v‖ (‖v‖ = ‖Qv‖); returned with a
    factor 2 to spare, p^{3/2}·eps: 9e-13 at p = 400, 7e-12 at p = 1600."""
    return p**1.5 * np.finfo(np.float64).eps


def _spectrum_scale(s: np.ndarray, alphas_abs: np.ndarray) -> float:
    """κ = the largest eigenvalue (the largest alpha for a zero spectrum). The LOO and
    leave-one-group-out residuals divided by α (c/g, S_gg⁻¹c_g) are unchanged by (s, α) → (s, α)/κ,
    and so are the predictions with their basis divided by κ; in those units D = 1/(s+α), D² and
    z/(s+α) stay in range whatever the units of X (a Gram of 1e200 would underflow D²)."""
    return float(s.max()) if s.size and s.max() > 0 else float(np.max(alphas_abs))


def _target_scale(Z: np.ndarray) -> np.ndarray:
    """m_n = max_k |Z_kn| (1 where 0 or not finite): the selections work on Z/m, whose squares
    neither underflow nor overflow whatever the units of Y, and multiply their errors by m²."""
    m = np.maximum(Z.max(axis=0), -Z.min(axis=0)) if Z.shape[0] else np.ones(Z.shape[1])
    return np.where(np.isfinite(m) & (m > 0), m, 1.0)


def _weight_split(w: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Per alpha (a column of w), the mid-range w̄ = (max w + min w)/2 and the half-range
    ū = (max w − min w)/2, enlarged by tol, of the split bounds: w = w̄ + u, |u| ≤ ū."""
    w_hi, w_lo = w.max(axis=0), w.min(axis=0)
    return (w_hi + w_lo) / 2.0, (w_hi - w_lo) / 2.0 * (1.0 + tol)


def _loo_errors(
    basis: np.ndarray,
    scale: np.ndarray,
    Zc: np.ndarray,
    inv_g: np.ndarray,
    Yc_cols: np.ndarray | None = None,
    chunk_bytes: int = 4 << 20,
) -> np.ndarray:
    """Σ_i (R_in · inv_g_i)² for every column n of ``Zc``.

    Kernel form: R = basis diag(scale) Zc (scale = 1/(s+α), inv_g = 1/g: the LOO residual c/g).
    Covariance form: R = Yc_cols − basis diag(scale) Zc (scale = 1/(s+α), inv_g = 1/(1 − h)).
    The diagonal is applied to whichever of basis and Zc is smaller, and the columns are taken
    in chunks so that each chunk of R is scaled and reduced while it is still in cache.
    """
    p, k = basis.shape
    N = Zc.shape[1]
    out = np.empty(N)
    if N == 0:
        return out
    scaled_basis = basis * scale[None, :] if p * k <= k * N else None
    chunk = max(p, chunk_bytes // (8 * p))
    for c0 in range(0, N, chunk):
        Zb = Zc[:, c0 : c0 + chunk]
        R = scaled_basis @ Zb if scaled_basis is not None else basis @ (scale[:, None] * Zb)
        if Yc_cols is not None:
            np.subtract(Yc_cols[:, c0 : c0 + chunk], R, out=R)
        R *= inv_g[:, None]
        out[c0 : c0 + chunk] = np.einsum("ij,ij->j", R, R)
    return out


def _kernel_loo_select(
    s: np.ndarray,
    Q: np.ndarray,
    Z: np.ndarray,
    alphas_abs: np.ndarray,
    n_train: int,
    search: str = "bounded",
    max_rounds: int = 4,
    Yc: np.ndarray | None = None,
    prep: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-target argmin over the grid of the exact LOO error, kernel form.

    ``Yc``: the centred training targets Ỹ_tr (= QZ), if the caller has them: a free anchor of
    the projection bound (below). ``prep`` (:func:`kernel_loo_prep` of the same Q, Z and Yc)
    carries the products that do not depend on s, for callers that search one basis under
    several spectra (the controls' γ); the search uses its per-target scaled Z in place of ``Z``.

    Returns ``(idx, err)``: the chosen grid indices (N,) and the LOO error at the chosen alpha,
    err_n(α_idx) = Σ_i (c_in/g_i)² (N,). Since R = αc and 1 − h = αg, c_i/g_i = R_i/(1 − h_i)
    exactly: err is the sum of squared LOO residuals Σ_i (R_in/(1 − h_i))², in the units of Ỹ²
    (not rescaled by α), so 1 − err/Σ_i ỹ_in² is the inner-CV R² of the training fold.

    With K_tr = Q diag(s) Qᵀ (Q orthogonal, p × p), Z = QᵀỸ_tr, t = Qᵀ1 and, per alpha,
    D = 1/(s+α), the LOO residual of ridge with an unpenalised intercept is c_i/g_i with

        c = Q diag(D) Z,     g_i = Σ_k Q_ik² D_k − (Σ_k Q_ik t_k D_k)/p,

    (c = (K+αI)⁻¹Ỹ and g = diag((K+αI)⁻¹) corrected for the intercept, the form of
    scikit-learn's ``_RidgeGCV``; it equals R_i/(1 − h_i) of the module docstring, divided through
    by α, without the cancellation in 1 − h when h → 1 at small α), so with w_i = 1/g_i²

        err_n(α) = Σ_i w_i c_in(α)².

    ``search="exhaustive"`` evaluates err for every alpha and target: n_α GEMMs of p × p × N,
    i.e. 2p²N flops per alpha — the same work as scikit-learn.

    ``search="bounded"`` (default) returns the same indices with far fewer GEMM columns. It
    computes err exactly only for (α, n) pairs that lower bounds cannot rule out, all bounds
    resting on Q being orthogonal (so ‖Q v‖ = ‖v‖):

    1. Norm bound: ‖c_n(α)‖² = Σ_k D_k² Z_kn² (one small GEMM for every alpha and target), so
       w_min(α)·‖c_n‖² ≤ err_n(α) ≤ w_max(α)·‖c_n‖².
    2. Reference bound (:func:`_reference_bounds`): once c_n is known at an alpha α_r, every
       other alpha is bounded from above and below through c(α) = μc(α_r) + e, ‖e‖ exact in the
       eigenbasis, with w split into its mid-range w̄ and a spread u: the uncertainty is
       2|μ|‖u∘c(α_r)‖‖e‖ + max|u|·‖e‖², first order in ‖e‖ but scaled by the spread of w, a few
       per cent near the chosen alphas, where the triangle inequality scales it by w itself.
    3. Projection bound (:func:`_projection_bounds`), for targets that bound 2 from two anchors
       (below) leaves with more than 4 survivors (flat LOO curves, rows of unequal leverage):
       c_n(α) is split into its least-squares fit by the exact c_n at 2–3 anchor alphas plus a
       remainder whose norm is exact in the eigenbasis; lower and upper bounds. With ``Yc``
       given, Ỹ_tr = Q(1∘z) is a further anchor that costs nothing (the function 1, the limit of
       α/(s+α)), for targets with a surviving alpha above the z²-weighted mean eigenvalue.

    Round 0 computes, for every target, the candidate α minimising w_mean(α)·‖c_n(α)‖² (one
    GEMM column per target); its error is the incumbent U_n. A pair whose lower bound exceeds
    U_n (or the smallest upper bound) cannot be the argmin and is dropped. Targets with more than
    2 survivors then get the survivor farthest from the candidate computed as a second anchor and
    bound 2 from it (a flat stretch that anchor lies in is mostly ruled out by it); those still
    left with more than 4 get bound 3 from both anchors, one more round whose alpha is the third
    anchor, and their remaining survivors computed at the end (bound 3 costs about as much as
    the columns it saves, so it is kept for the targets where it saves many). All others get up
    to ``max_rounds`` rounds, each computing the survivor
    with the smallest lower bound and bounding the rest from it. What is left is computed
    exactly. The minimum computed error wins, ties going to the lowest grid index as in the
    exhaustive loop (and scikit-learn). If after bound 3 more than half of all pairs survive,
    the rest is done as whole-alpha GEMMs: never much more than the exhaustive loop.

    Targets are searched in chunks of ``_SEARCH_CHUNK`` (2048; their N × p arrays stay in
    cache), each round's pairs sorted by alpha
    so that their GEMMs write the columns in place (:func:`_pair_columns`), and each computed
    column's error is read off the reference bound's product Σ_i w_i(α) c*_i² at its own alpha
    instead of a separate pass (together, on size D, one fold, best of 4 alternating with the code
    before: 0.74–0.76 → 0.72–0.74 s).

    Measured (one fold; exact columns per target, the exhaustive loop's being n_α): size A of
    the benchmark (p = 1600, the default trace-scaled grid of 21 alphas) 1.31, and 1.34–1.50 for
    the controls' reshaped spectra (γ = 0.25 … 2); size D (p = 400, 20 alphas, flat curves over
    the small alphas) 2.9 on the regression benchmark's absolute grid, 2.4 trace-scaled, bound 3
    then being used for 1.7 and 0.006 thousand of its 20 thousand targets; with bound 3 for every
    target left with more than 2 survivors after round 0 (11.5 thousand): 2.6 columns, but 5–8 %
    more time (its products of n × p arrays cost as much as the columns they save at p = 400).
    Before the split bound 2 (triangle inequality, plus a row bound and two more anchors which
    it made redundant): 2.48 on A, 4.7 and 3.8 on D.

    Exactness and ties. Every bound holds in exact arithmetic; all comparisons carry a relative
    slack (``_PRUNE_SLACK`` = 1e-9) far above the rounding error of the compared quantities
    (≤ 1e-10 relative), so a pair is only dropped when it provably is not the minimum, and every
    pair within 1e-9 of the minimum is computed and compared exactly like the exhaustive loop.
    Two alphas whose exact errors differ by less than the rounding error of their computation
    (~1e-12, up to ~1e-10 at the smallest alphas, where the intercept correction of g cancels)
    are not ordered by the arithmetic: the exhaustive loop and scikit-learn pick whichever
    rounding favours, and so may this search (it computes those pairs in GEMMs of another
    shape). No tolerance-based tie rule is applied, so that where the errors are separated by
    more than rounding the alpha is exactly scikit-learn's.
    """
    p, N = Z.shape
    n_alpha = len(alphas_abs)
    prep = kernel_loo_prep(Q, Z, Yc) if prep is None else prep
    Z, m2 = prep["Z"], prep["m"] ** 2  # each target in units where its largest |z_k| is 1
    kappa = _spectrum_scale(s, alphas_abs)  # c/g, hence err, is unchanged by (s, α)/κ
    s, alphas_abs = s / kappa, np.asarray(alphas_abs, dtype=np.float64) / kappa
    D = 1.0 / (s[:, None] + alphas_abs[None, :])  # p × n_α
    t = prep["t"]  # Qᵀ1
    g = prep["Q2"] @ D - (Q @ (t[:, None] * D)) / n_train  # diag((K+αI)⁻¹) − intercept part
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / g
    ok = bool(np.all(g > 0) and np.all(np.isfinite(inv)))
    if search == "exhaustive" or not ok or N == 0:
        best_err = np.full(N, np.inf)
        best_idx = np.zeros(N, dtype=int)
        for j in range(n_alpha):
            err = _loo_errors(Q, D[:, j], Z, inv[:, j])
            better = err < best_err
            best_err[better] = err[better]
            best_idx[better] = j
        return best_idx, best_err * m2
    if search != "bounded":
        raise ValueError(f"unknown LOO search {search!r}; use one of {LOO_SEARCHES}")
    w = inv * inv  # p × n_α
    if N <= _SEARCH_CHUNK:
        best_idx, best_err = _bounded_search(Q, D, inv, w, s, alphas_abs, prep, max_rounds)
        return best_idx, best_err * m2
    # targets in chunks: each one's rounds run on arrays that stay in cache, and the searches
    # of different targets do not interact (only the thresholds below scale with the count)
    best_idx = np.empty(N, dtype=int)
    best_err = np.empty(N)
    for c0 in range(0, N, _SEARCH_CHUNK):
        sl = slice(c0, min(N, c0 + _SEARCH_CHUNK))
        best_idx[sl], best_err[sl] = _bounded_search(
            Q, D, inv, w, s, alphas_abs, _prep_chunk(prep, sl), max_rounds
        )
    return best_idx, best_err * m2


def _prep_chunk(prep: dict, sl: slice) -> dict:
    """The targets ``sl`` of a :func:`kernel_loo_prep` (views, kept in ``prep`` for the next
    spectrum searched on the same basis)."""
    key = ("chunk", sl.start, sl.stop)
    if key not in prep:
        ZT = prep["ZT"][sl]
        sub = {"Q2": prep["Q2"], "t": prep["t"], "Z": ZT.T, "ZT": ZT, "Z2T": prep["Z2T"][sl]}
        sub["m"] = prep["m"][sl]
        if "Yc" in prep:
            sub["Yc"] = prep["Yc"][:, sl]
        prep[key] = sub
    return prep[key]


def _bounded_search(Q, D, inv, w, s, alphas_abs, prep, max_rounds):
    """The bounded search of :func:`_kernel_loo_select` (its docstring) for the targets of
    ``prep``, in the rescaled units (s, α)/κ and Z/m; returns (grid indices, errors ÷ m²)."""
    p, n_alpha = D.shape
    Z = prep["Z"]
    N = Z.shape[1]
    sqrt_w_max = np.sqrt(w.max(axis=0))
    ZT, Z2T = prep["ZT"], prep["Z2T"]  # targets as rows (C order), for gathering targets
    norm2 = (Z2T @ (D * D)).T  # ‖c_n(α)‖², n_α × N
    lower = w.min(axis=0)[:, None] * norm2  # bound 1
    targets = np.arange(N)
    best_err = np.full(N, np.inf)
    best_idx = np.argmin(w.mean(axis=0)[:, None] * norm2, axis=0)  # the candidates
    computed = np.zeros((n_alpha, N), dtype=bool)
    upper = np.full(N, np.inf)  # upper bounds on min_α err_n (bounds 2 and 3)
    active, ref = targets, best_idx.copy()

    def record(js, ns, err):
        cur_err, cur_idx = best_err[ns], best_idx[ns]
        better = (err < cur_err) | ((err == cur_err) & (js < cur_idx))
        best_err[ns[better]] = err[better]
        best_idx[ns[better]] = js[better]
        computed[js, ns] = True

    def survivors():
        bound = np.minimum(best_err, upper) * (1.0 + _PRUNE_SLACK)
        return (lower * (1.0 - _PRUNE_SLACK) <= bound) & ~computed

    proj = None  # (targets, anchor alphas, anchor cᵀ, anchor errors, cache, free) of bound 3
    grid_arrays = (D, w, sqrt_w_max, norm2)
    ext = None  # the same with a column for the free anchor Ỹ_tr = Q(1∘z), formed when used
    projected = np.zeros(N, dtype=bool)  # targets bounded by projection
    for rnd in range(max(1, max_rounds)):
        in_target_order = True
        if np.any(ref[1:] < ref[:-1]):  # pairs sorted by alpha: their GEMMs write in place
            order = np.argsort(ref, kind="stable")
            active, ref = active[order], ref[order]
            in_target_order = False
        cT = _pair_columns(Q, D, ZT, ref, active)  # rows = the active targets' columns
        err = np.empty(active.size)
        plain = ~projected[active]  # the reference bound, where projection does not bound
        if plain.any():
            sub = active[plain]
            # its Σ_i w_i(α_r) c*_i² at α_r itself is the pair's LOO error
            lo_ref, up_ref, err[plain] = _reference_bounds(
                D, Z2T if sub.size == N and in_target_order else Z2T[sub], w, ref[plain],
                cT if plain.all() else cT[plain], norm2[:, sub], own=True,
            )  # fmt: skip
            lower[:, sub] = np.maximum(lower[:, sub], lo_ref)
            upper[sub] = np.minimum(upper[sub], up_ref)
        if not plain.all():
            err[~plain] = _column_errors(cT[~plain], inv, ref[~plain])
        record(ref, active, err)
        if proj is not None:  # bound 3 again, with this round's alphas as third anchors
            for Fg, anc_j, anc_cT, anc_err, cache, free in proj:
                inF = np.isin(active, Fg)
                if inF.any():
                    at = np.searchsorted(Fg, active[inF])
                    _project(
                        *(ext if free else grid_arrays), Z2T, lower, upper, active[inF],
                        [j[at] for j in anc_j] + [ref[inF]],
                        [a[at] for a in anc_cT] + [cT[inF]],
                        [e[at] for e in anc_err] + [np.zeros(inF.sum())],
                        {key: v[at] for key, v in cache.items()},
                    )  # fmt: skip
            proj = None
        alive = survivors()
        if rnd == 0:
            # bound 3 for the targets the bounds above leave with many survivors: anchors = the
            # candidate and the survivor farthest from it; one more round adds that round's
            # alpha as a third anchor, the rest is computed at the end
            F = np.flatnonzero(alive.sum(axis=0) > 2)
            if F.size:
                # the far anchor: the survivor farthest from the candidate (a computed column)
                at_F = np.empty(N, dtype=int)
                at_F[active] = np.arange(N)  # round 0: active holds every target once
                at_F = at_F[F]  # F's rows of ref and cT
                steps = np.abs(np.arange(n_alpha)[:, None] - ref[None, at_F])
                far = np.argmax(np.where(alive[:, F], steps, -1), axis=0)
                c_far = _pair_columns(Q, D, ZT, far, F)
                # bound 2 from the far anchor first (it rules out most of a flat stretch it lies
                # in); bound 3 only for the targets it leaves with more than 4 survivors, where
                # it costs less than computing them (on size D: 1.7 of the 11.5 thousand targets)
                lo_far, up_far, err_far = _reference_bounds(
                    D, Z2T[F], w, far, c_far, norm2[:, F], own=True
                )
                record(far, F, err_far)
                lower[:, F] = np.maximum(lower[:, F], lo_far)
                upper[F] = np.minimum(upper[F], up_far)
                alive = survivors()
                hard = alive[:, F].sum(axis=0) > 4
                F, far, c_far, at_F = F[hard], far[hard], c_far[hard], at_F[hard]
                above = np.zeros(F.size, dtype=bool)
                if "Yc" in prep and F.size:
                    # the free anchor Ỹ_tr = Q(1∘z) (extra column n_α of ext's D) where some
                    # survivor lies above the eigenvalues that carry the target (α ≥ s_eff, the
                    # z²-weighted mean eigenvalue: there α/(s+α) is close to the anchor's 1;
                    # elsewhere it only costs: measured on size D, whose targets sit on 64
                    # strong factors)
                    z2F = Z2T[F]
                    s_eff = (z2F @ s) / np.maximum(z2F.sum(axis=1), np.finfo(np.float64).tiny)
                    above = (alive[:, F] & (alphas_abs[:, None] >= s_eff[None, :])).any(axis=0)
                groups = _anchor_groups(F, ref[at_F], cT[at_F], far, c_far, above, prep, Q, n_alpha)
                del c_far
                proj = []
                for Fg, anc_j, anc_cT, anc_err in groups:
                    free = max(int(a.max()) for a in anc_j) >= n_alpha
                    if free and ext is None:  # the function 1 as column n_α
                        ext = (
                            np.hstack([D, np.ones((p, 1))]),
                            np.hstack([w, w[:, -1:]]),
                            np.append(sqrt_w_max, sqrt_w_max[-1]),
                            np.vstack([norm2, Z2T.sum(axis=1)[None, :]]),
                        )
                    cache = _project(
                        *(ext if free else grid_arrays), Z2T, lower, upper, Fg,
                        anc_j, anc_cT, anc_err,
                    )  # fmt: skip
                    proj.append((Fg, anc_j, anc_cT, anc_err, cache, free))
                projected[F] = True
                alive = survivors()
            if alive.sum() > 0.5 * (n_alpha - 1) * N:
                break  # flat LOO curves: nothing to gain, finish with whole-alpha GEMMs
        del cT
        go_on = alive.any(axis=0)
        if rnd >= 1:
            go_on &= ~projected  # projected targets: their survivors are computed at the end
        active = np.flatnonzero(go_on)
        if active.size == 0:
            break
        masked = np.where(alive[:, active], lower[:, active], np.inf)
        ref = np.argmin(masked, axis=0)
    # what the rounds left is computed exactly: alphas with many survivors get their own GEMM,
    # the rest are packed into shared GEMMs of (alpha, target) columns
    big = max(64, N // 8)
    found_n, found_j, found_e = [targets], [best_idx.copy()], [best_err.copy()]
    for j in np.flatnonzero(alive.sum(axis=1) >= big):
        cols = np.flatnonzero(alive[j])
        if 2 * cols.size >= N:
            err = _loo_errors(Q, D[:, j], Z, inv[:, j])[cols]
        else:
            err = _loo_errors(Q, D[:, j], Z[:, cols], inv[:, j])
        found_n.append(cols)
        found_j.append(np.full(cols.size, j))
        found_e.append(err)
        alive[j] = False
    js, ns = np.nonzero(alive)
    if js.size:
        found_n.append(ns)
        found_j.append(js)
        found_e.append(_pair_loo_errors(Q, D, inv, Z, js, ns, ZT=ZT)[0])
    # argmin per target over everything computed; equal errors → lowest grid index
    all_n = np.concatenate(found_n)
    all_j = np.concatenate(found_j)
    all_e = np.concatenate(found_e)
    order = np.lexsort((all_j, all_e, all_n))
    first = np.ones(order.size, dtype=bool)
    first[1:] = all_n[order[1:]] != all_n[order[:-1]]
    best_idx[all_n[order[first]]] = all_j[order[first]]
    best_err[all_n[order[first]]] = all_e[order[first]]
    return best_idx, best_err


def _anchor_groups(F, cand, cand_cT, far, far_cT, above, prep, Q, n_alpha) -> list:
    """The targets ``F`` of the projection bound split by their anchors: (targets, anchor
    alpha indices, anchor cᵀ rows, anchor errors) per group. ``cand``/``far``: the candidate's
    and the far survivor's grid index (their cᵀ rows computed); ``above``: targets that also
    get the free anchor Ỹ_tr (``prep["Yc"]``, index n_α), with a bound on its rounding."""
    zero = np.zeros(F.size)
    groups = []
    for free, mask in ((False, ~above), (True, above)):
        if not mask.any():
            continue
        sel = slice(None) if mask.all() else mask  # one group: no gathers
        Fg = F[sel]
        j = [cand[sel], far[sel]]
        c = [cand_cT[sel], far_cT[sel]]
        e = [zero[sel], zero[sel]]
        if free:
            # Ỹ_tr's rows in the search's units (÷ m), with a bound on their rounding:
            # ‖Yc_n − QZ_n‖ ≤ 8p·eps·‖Yc_n‖ (Z = QᵀYc, Q orthogonal to O(p·eps))
            YT = _rows_of(prep, "Yc", Fg) / prep["m"][Fg, None]
            j.append(np.full(Fg.size, n_alpha))
            c.append(YT)
            e.append(8.0 * Q.shape[0] * np.finfo(np.float64).eps * np.sqrt((YT * YT).sum(axis=1)))
        groups.append((Fg, j, c, e))
    return groups


def kernel_loo_prep(Q: np.ndarray, Z: np.ndarray, Yc: np.ndarray | None = None) -> dict:
    """What :func:`_kernel_loo_select` needs of Q and Z alone: Q∘Q, t = Qᵀ1, and each target
    scaled by m_n = max_k |Z_kn| (1 where that is 0 or not finite) so that its squares neither
    underflow nor overflow whatever the units of Y: Z/m, its transpose (C order) and squares,
    m itself (the search's errors are multiplied back by m²), and the centred targets Yc (whose
    rows, divided by m, are Q(Z/m) up to rounding: the free anchor), if given."""
    m = _target_scale(Z)
    ZT = np.divide(Z.T, m[:, None], order="C")  # a new array, whatever the layout of Z
    # Z/m is ZT's transposed view; Yc is scaled by 1/m only where its rows are used
    prep = {"Q2": Q * Q, "t": Q.sum(axis=0), "Z": ZT.T, "ZT": ZT, "Z2T": ZT * ZT, "m": m}
    if Yc is not None:
        prep["Yc"] = Yc
    return prep


def _rows_of(prep: dict, key: str, cols: np.ndarray) -> np.ndarray:
    """The columns ``cols`` of ``prep[key]`` as C-ordered rows: gathered directly when few,
    else from its transpose, formed once and kept in ``prep`` (shared by the γ of the controls)."""
    A = prep[key]
    if 4 * cols.size < A.shape[1]:
        return np.ascontiguousarray(A[:, cols].T)
    if key + "T" not in prep:
        prep[key + "T"] = np.ascontiguousarray(A.T)
    return prep[key + "T"][cols]


def _project(
    D,
    w,
    sqrt_w_max,
    norm2,
    Z2T,
    lower,
    upper,
    cols,
    anchor_j,
    anchor_cT,
    anchor_err,
    cache=None,
):
    """Bound 3 (projection) for the targets ``cols``: tightens ``lower`` (n_α × N) and ``upper``
    (N) in place with :func:`_projection_bounds`; returns its cache. D, w, sqrt_w_max and norm2
    may carry columns beyond the grid's n_α (free anchors): their bounds are dropped."""
    lo, hi, cache = _projection_bounds(
        D, w, sqrt_w_max, Z2T, norm2[:, cols], cols, anchor_j, anchor_cT, cache, anchor_err
    )
    n_alpha = lower.shape[0]
    lower[:, cols] = np.maximum(lower[:, cols], lo[:n_alpha])
    upper[cols] = np.minimum(upper[cols], hi[:n_alpha].min(axis=0))
    return cache


def _projection_bounds(
    D: np.ndarray,
    w: np.ndarray,
    sqrt_w_max: np.ndarray,
    Z2T: np.ndarray,
    norm2: np.ndarray,
    cols: np.ndarray,
    anchor_j: list[np.ndarray],
    anchor_cT: list[np.ndarray],
    cache: dict | None = None,
    anchor_err: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Lower and upper bounds on err_n(α) for every alpha from the exact c_n at m anchor alphas.

    Let a_1 … a_m be grid alphas of target n at which c_j = c_n(a_j) = Q(D(a_j)∘z_n) is known
    exactly. For any coefficients λ_1 … λ_m,

        c_n(α) = Σ_j λ_j c_j + e,   e = Q(r∘z_n),   r = D(α) − Σ_j λ_j D(a_j),

    and ‖e‖ = ‖r∘z_n‖ =: δ exactly (Q is orthogonal), a quantity of the eigenbasis alone:
    δ² = ‖D(α)∘z‖² − 2Σ_j λ_j h_j(α) + Σ_jl λ_j λ_l h_l(a_j) with h_j(α) = Σ_k D_k(α) D_k(a_j) z_k².
    λ minimises δ (the z²-weighted least-squares fit of the function 1/(s + α) by the m functions
    1/(s + a_j); any λ gives valid bounds). With main = Σ_i w_i(α) (Σ_j λ_j c_ji)² =
    Σ_jl λ_j λ_l P_jl(α), P_jl = w(α)ᵀ(c_j∘c_l), the triangle inequality in the w-weighted norm
    gives

        (√main − √max_i w_i(α) · δ)₊²  ≤  err_n(α)  ≤  (√main + √max_i w_i(α) · δ)²,

    and, splitting w = w̄ + u as the reference bound (:func:`_reference_bounds`) does, with
    ĉ = Σ_j λ_j c_j and ‖ĉ‖² = Σ_jl λ_j λ_l ⟨c_j, c_l⟩ (exact in the eigenbasis),

        err_n(α) = main + w̄(‖c_n(α)‖² − ‖ĉ‖²) + ρ,   |ρ| ≤ 2‖u∘ĉ‖δ + max_i |u_i|·δ²,

    ‖u∘ĉ‖ ≤ Σ_j |λ_j| ‖u∘c_j‖; both pairs hold, the tighter is kept (the triangle form where
    the spread of w exceeds its size, as on rows of very unequal leverage).

    Unlike the reference bound, which fits c(α) by one anchor, this one is exact wherever D(α)
    lies in the span of the anchors' D: on a stretch where α ≪ s (or α ≫ s) for the modes that
    carry z_n, two anchors fit 1/(s+α) to second order in α/s, so the flat LOO curves of a noise
    floor far above the small alphas are bounded tightly where the norm bound is as wide as the
    range of w (× 1.4 on the benchmark's size D); far above the spectrum, where w is flat to
    O(s/α), the split form is as tight as rounding. Cost: m(m+1)/2 products of p-vectors, GEMMs
    of n × p × n_α — small beside one p × p × n GEMM.

    Rounding: h and ‖D∘z‖² are sums of p non-negative terms and |P_jl| ≤ √(P_jj P_ll), so the
    computed δ² and main differ from the exact ones by at most tol·(the same sums with |λ|),
    tol = 4(p + 4)·eps: that much is added to δ² and taken off main. Each anchor c_j is a
    computed column, within p^{3/2}·eps·‖c_j‖ of Q(D(a_j)∘z) (:func:`_column_tol`); ``anchor_err``
    (m arrays (n,), default 0) adds to that for an anchor not computed as that product (the free
    anchor Ỹ_tr): Σ_j |λ_j|·err_j = ε is added to the remainder's norm, and ε(2‖ĉ‖ + ε) to the
    split form's ‖ĉ‖².

    ``Z2T``: (N × p) squares of Zᵀ, rows = targets; ``cols`` the targets bounded here (n), in
    the order of ``norm2`` (n_α × n) columns, ``anchor_j`` (m arrays (n,)) and ``anchor_cT``
    (m arrays (n × p), rows = c_n at the anchor). ``cache`` (returned, and given back with
    rows and anchors appended) holds the h and P of the anchors already seen. Returns
    (lower, upper, cache), bounds n_α × n.
    """
    p, n_alpha = D.shape
    m = len(anchor_j)
    n = len(cols)
    tol = 4.0 * (p + 4) * np.finfo(np.float64).eps
    cache = {} if cache is None else cache
    rows = np.arange(n)
    H = []
    for j in range(m):
        if ("h", j) in cache:
            H.append(cache[("h", j)])
            continue
        Hj = np.empty((n, n_alpha))
        aj = anchor_j[j]
        order = np.argsort(aj, kind="stable")
        for pos in np.split(order, np.flatnonzero(np.diff(aj[order])) + 1):
            b = int(aj[pos[0]])
            Hj[pos] = Z2T[cols[pos]] @ (D * D[:, b, None])
        cache[("h", j)] = Hj
        H.append(Hj)
    # P_jl = w(α)ᵀ(c_j∘c_l) and, for the split form below, U_j = ‖u(α)∘c_j‖ (u = w − w̄): the
    # diagonal pairs share one product with [w | u²]
    w_bar, u_bar = _weight_split(w, tol)
    wu = np.hstack([w, (w - w_bar[None, :]) ** 2])
    P = {}
    for j in range(m):
        for k in range(j, m):
            if ("P", j, k) not in cache:
                if j == k:
                    both = (anchor_cT[j] * anchor_cT[j]) @ wu
                    cache[("P", j, j)] = both[:, :n_alpha]  # n × n_α
                    cache[("U", j)] = np.sqrt(np.maximum(both[:, n_alpha:], 0.0))
                else:
                    cache[("P", j, k)] = (anchor_cT[j] * anchor_cT[k]) @ w
            P[j, k] = cache[("P", j, k)]
    G = np.empty((n, m, m))
    for j in range(m):
        for k in range(m):
            G[:, j, k] = H[k][rows, anchor_j[j]]
    G = (G + G.transpose(0, 2, 1)) / 2.0
    # λ = G⁻¹h per alpha and target, G scaled to unit diagonal and regularised (any λ is valid)
    scale = np.sqrt(np.maximum(np.einsum("njj->nj", G), np.finfo(np.float64).tiny))
    outer = scale[:, :, None] * scale[:, None, :]
    Ginv = np.linalg.inv(G / outer + 1e-10 * np.eye(m)) / outer
    lam = [sum(Ginv[:, j, k, None] * H[k] for k in range(m)) for j in range(m)]  # n × n_α
    n2 = norm2.T
    d2 = n2.copy()
    d2_abs = n2.copy()
    main = np.zeros((n, n_alpha))
    main_abs = np.zeros((n, n_alpha))
    for j in range(m):
        d2 -= 2.0 * lam[j] * H[j]
        d2_abs += 2.0 * np.abs(lam[j]) * H[j]
        for k in range(j, m):
            f = 1.0 if j == k else 2.0
            Gjk = G[:, j, k, None]
            d2 += f * lam[j] * lam[k] * Gjk
            d2_abs += f * np.abs(lam[j] * lam[k] * Gjk)
            main += f * lam[j] * lam[k] * P[j, k]
        main_abs += np.abs(lam[j]) * np.sqrt(np.maximum(P[j, j], 0.0))
    main_abs *= main_abs
    rem = np.sqrt(np.maximum(d2, 0.0) + tol * d2_abs)
    # each anchor's error: the computed column's rounding (≤ p^{3/2}·eps·‖c_j‖), plus anchor_err
    eps_anchor = np.zeros((n, n_alpha))
    for j in range(m):
        e = _column_tol(p) * np.sqrt(np.maximum(G[:, j, j], 0.0))
        if anchor_err is not None:
            e = e + anchor_err[j]
        eps_anchor += np.abs(lam[j]) * e[:, None]
    rem += eps_anchor
    delta = sqrt_w_max[None, :] * rem
    root_lo = np.sqrt(np.maximum(main - tol * main_abs, 0.0))
    root_hi = np.sqrt(np.maximum(main, 0.0) + tol * main_abs)
    lo = np.maximum(root_lo - delta, 0.0)
    lo, hi = lo * lo, (root_hi + delta) ** 2
    # the split form (as in :func:`_reference_bounds`): w = w̄ + u, ĉ = Σ_j λ_j c_j,
    # c = ĉ + e' with ‖e'‖ ≤ rem; err = main + w̄(‖c‖² − ‖ĉ‖²) + 2⟨u∘ĉ, e'⟩ + Σ_i u_i e'_i²,
    # ‖ĉ‖² = Σ_jl λ_j λ_l G_jl up to the anchors' own error ε (|‖ĉ‖² − that| ≤ ε(2‖ĉ‖ + ε)) and
    # ‖u∘ĉ‖ ≤ Σ_j |λ_j| ‖u∘c_j‖
    chat2 = np.zeros((n, n_alpha))
    chat2_abs = np.zeros((n, n_alpha))
    uc = np.zeros((n, n_alpha))
    for j in range(m):
        uc += np.abs(lam[j]) * cache[("U", j)]
        for k in range(j, m):
            f = 1.0 if j == k else 2.0
            term = f * lam[j] * lam[k] * G[:, j, k, None]
            chat2 += term
            chat2_abs += np.abs(term)
    uc *= 1.0 + tol
    est = main + w_bar[None, :] * (n2 - chat2)
    slack = tol * (main_abs + w_bar[None, :] * (n2 + chat2_abs))
    slack += w_bar[None, :] * eps_anchor * (2.0 * np.sqrt(chat2_abs) + eps_anchor)
    rho = 2.0 * uc * rem + u_bar[None, :] * rem * rem + slack
    lo = np.maximum(lo, est - rho)
    hi = np.minimum(hi, est + rho)
    return lo.T, hi.T, cache


def _reference_bounds(
    D: np.ndarray,
    Z2T: np.ndarray,
    w: np.ndarray,
    ref: np.ndarray,
    cT: np.ndarray,
    norm2: np.ndarray,
    chunk_bytes: int = 2 << 20,
    own: bool = False,
):
    """Lower bounds on err_n(α) for every alpha, and an upper bound on min_α err_n, from the
    exact c* = c_n(α_r) at a reference alpha r_n (bound 2 of :func:`_kernel_loo_select`); with
    ``own``, also err_n(α_r) itself, Σ_i w_i(α_r) c*_i², a column of the product below.

    Write w_i(α) = w̄ + u_i with w̄ = (max_i w_i + min_i w_i)/2, so |u_i| ≤ ū = (max − min)/2, and
    c(α) = μc* + e with μ = ⟨D(α)∘z, D(α_r)∘z⟩/‖D(α_r)∘z‖² (the z²-weighted least-squares
    coefficient) and ‖e‖² = δ² = ‖D(α)∘z‖² − μ⟨D(α)∘z, D(α_r)∘z⟩, exact in the eigenbasis (Q is
    orthogonal). Expanding Σ_i w_i(μc*_i + e_i)² and using 2μ⟨c*, e⟩ + ‖e‖² = ‖c(α)‖² − μ²‖c*‖²,

        err(α) = μ² Σ_i w_i c*_i² + w̄ (‖c(α)‖² − μ²‖c*‖²) + ρ,
        |ρ| = |2μ⟨u∘c*, e⟩ + Σ_i u_i e_i²| ≤ 2|μ| ‖u∘c*‖ δ + ū δ²,

    a lower and an upper bound at every alpha (the upper ones' minimum bounds min_α err_n).
    ‖u∘c*‖² = Σ_i u_i² c*_i² is computed with Σ_i w_i c*_i² in one small GEMM. The uncertainty is
    first order in δ, like the triangle inequality's √err(α) ≥ √(Σ_i w_i c*_i²)/… − √(max w)·δ,
    but its coefficient is the spread of w where c* lies instead of the size of w: w varies by a
    few per cent over the rows near the chosen alphas. On the benchmark's size A (p = 1600, one
    fold, its best alpha as reference) it leaves 0.2–0.4 neighbours per target to compute, where
    the triangle form leaves 3–6.

    Rounding: every sum is of p terms whose absolute values are known; tol = 4(p + 4)·eps of
    them is allowed for (δ² then carries a floor of tol·‖c(α)‖², ≈ 1e-6 relative in δ, which
    costs little: ρ scales it by the spread of w). c* is the computed column Q(D(α_r)∘z) + η,
    ‖η‖ ≤ p^{3/2}·eps·‖c*‖ (:func:`_column_tol`): |μ|‖η‖ joins δ, and w̄·|μ|‖η‖(2|μ|‖c*‖ + |μ|‖η‖)
    the slack, for ‖μc*‖² is taken from the eigenbasis. This bound replaced the triangle form with
    λc(α) = c* + Δ (λ = 1 or α/α_r, ‖Δ‖ summed mode by mode without that floor): kept beside
    it, the triangle form pruned no further pair on sizes A or D.

    D: p × n_α; Z2T = (Z∘Z)ᵀ: n × p; cT: n × p (rows = c* of each target); norm2: n_α × n.
    Returns ``(lower, upper)``: (n_α, n), 0 where void, and (n,); with ``own``,
    ``(lower, upper, err)``, err (n,).
    """
    p, n_alpha = D.shape
    n = len(ref)
    tol = 4.0 * (p + 4) * np.finfo(np.float64).eps
    c_tol = _column_tol(p)
    w_bar, u_bar = _weight_split(w, tol)
    WU_basis = np.hstack([w, (w - w_bar) ** 2])  # p × 2n_α
    DT = np.ascontiguousarray(D.T)
    lower = np.empty((n, n_alpha))
    upper = np.empty(n)
    own_err = np.empty(n) if own else None
    step = max(64, chunk_bytes // (8 * p))  # targets per pass: its n × p temporaries stay in cache
    for c0 in range(0, n, step):
        sl = slice(c0, min(n, c0 + step))
        r = ref[sl]
        WU = (cT[sl] * cT[sl]) @ WU_basis  # Σ_i w_i c*_i², Σ_i u_i² c*_i²
        Wc = WU[:, :n_alpha]
        if own:
            own_err[sl] = Wc[np.arange(Wc.shape[0]), r]
        uc = np.sqrt(np.maximum(WU[:, n_alpha:], 0.0)) * (1.0 + tol)
        B = (Z2T[sl] * DT[r]) @ D  # ⟨D(α)∘z, D(α_r)∘z⟩
        A = B[np.arange(B.shape[0]), r][:, None]  # ‖c*‖²
        n2 = norm2[:, sl].T
        with np.errstate(divide="ignore", invalid="ignore"):
            mu = np.where(A > 0, B / A, 0.0)
        mu_B = mu * B
        d2 = np.maximum(n2 - mu_B, 0.0) + tol * (n2 + np.abs(mu_B))
        d2[np.arange(B.shape[0]), r] = 0.0  # at α_r itself μ = 1 and e = 0 exactly
        eta = np.abs(mu) * (c_tol * np.sqrt(A))  # the computed c*'s own error, times μ
        delta = np.sqrt(d2) + eta
        mu2 = mu * mu
        est = mu2 * Wc + w_bar * (n2 - mu2 * A)
        rho = 2.0 * np.abs(mu) * uc * delta + u_bar * delta * delta
        rho += tol * (mu2 * np.abs(Wc) + w_bar * (n2 + mu2 * A))
        rho += w_bar * eta * (2.0 * np.abs(mu) * np.sqrt(A) + eta)  # ‖μc*‖² of the computed c*
        lower[sl] = np.maximum(est - rho, 0.0)
        upper[sl] = (est + rho).min(axis=1)
    return (lower.T, upper, own_err) if own else (lower.T, upper)


def _pair_columns(
    Q: np.ndarray,
    D: np.ndarray,
    ZT: np.ndarray,
    js: np.ndarray,
    ns: np.ndarray,
    chunk_bytes: int = 64 << 20,
) -> np.ndarray:
    """The residual columns c = Q(D[:, j]∘z_n) of the (alpha j, target n) pairs
    (js[i], ns[i]), as rows: an n_pairs × p C-ordered array, in the order of the pairs.

    Targets are rows of ``ZT`` = Zᵀ (C order), so gathering them moves contiguous rows. An alpha
    with at least p pairs gets its own GEMM with the diagonal applied to Q (the smaller factor),
    in chunks of at most ``chunk_bytes`` of rows; all other pairs, whatever their alpha, are
    scaled row by row (Zᵀ rows times D[:, j]ᵀ) and packed into shared GEMMs (chunks of
    ``chunk_bytes``/4), so that the few pairs per alpha of the bounded search do not run as many
    thin GEMMs (one thread, p = 1600: a 64-row GEMM runs at ~0.6 of the rate of a 1000-row one).
    When ``js`` is sorted, the GEMMs write their rows in place (no copy)."""
    p = Q.shape[0]
    js = np.asarray(js)
    ns = np.asarray(ns)
    out = np.empty((len(js), p))
    if len(js) == 0:
        return out
    in_order = bool(np.all(js[1:] >= js[:-1]))
    order = np.arange(len(js)) if in_order else np.argsort(js, kind="stable")
    chunk = max(1, chunk_bytes // (8 * p))
    packed = []
    for pos in np.split(order, np.flatnonzero(np.diff(js[order])) + 1):
        if pos.size < p:
            packed.append(pos)
            continue
        QjT = (Q * D[:, int(js[pos[0]])]).T  # scale the smaller factor
        for c0 in range(0, pos.size, chunk):
            at = pos[c0 : c0 + chunk]
            if in_order:
                np.matmul(ZT[ns[at]], QjT, out=out[at[0] : at[-1] + 1])
            else:
                out[at] = ZT[ns[at]] @ QjT
    if packed:
        pos = np.concatenate(packed)
        DT = np.ascontiguousarray(D.T)
        step = max(1, chunk // 4)  # the gathered rows of D add one more |at| × p array
        for c0 in range(0, pos.size, step):
            at = pos[c0 : c0 + step]
            RT = ZT[ns[at]]
            RT *= DT[js[at]]
            out[at] = RT @ Q.T  # |at| × p
    return out


def _column_errors(CT: np.ndarray, inv: np.ndarray, js: np.ndarray) -> np.ndarray:
    """err_i = Σ_k CT[i, k]² / g_k(α_{js[i]})² of residual columns given as rows (``inv`` = 1/g,
    p × n_α): one matrix-vector product per alpha when ``js`` is sorted, else row by row."""
    js = np.asarray(js)
    C2 = CT * CT
    if len(js) and np.all(js[1:] >= js[:-1]):
        out = np.empty(len(js))
        for pos in np.split(np.arange(len(js)), np.flatnonzero(np.diff(js)) + 1):
            j = int(js[pos[0]])
            out[pos[0] : pos[-1] + 1] = C2[pos[0] : pos[-1] + 1] @ (inv[:, j] * inv[:, j])
        return out
    wT = inv.T * inv.T
    return np.einsum("ij,ij->i", C2, wT[js])


def _pair_loo_errors(
    Q: np.ndarray,
    D: np.ndarray,
    inv: np.ndarray,
    Z: np.ndarray,
    js: np.ndarray,
    ns: np.ndarray,
    chunk_bytes: int = 64 << 20,
    return_c: bool = False,
    ZT: np.ndarray | None = None,
):
    """LOO errors of the (alpha j, target n) pairs (js[i], ns[i]), kernel form: the columns of
    :func:`_pair_columns`, err = (c∘c)ᵀw_j per pair, computed in chunks of pairs of at most
    ``chunk_bytes`` unless ``return_c``. Returns the errors and, with ``return_c``, c (a
    transposed view of the n_pairs × p rows; else None)."""
    js = np.asarray(js)
    ns = np.asarray(ns)
    if ZT is None:
        ZT = np.ascontiguousarray(Z.T)
    if return_c:
        CT = _pair_columns(Q, D, ZT, js, ns, chunk_bytes)
        return _column_errors(CT, inv, js), CT.T
    out = np.empty(len(js))
    order = np.argsort(js, kind="stable")
    step = max(1, chunk_bytes // (8 * Q.shape[0]))
    for c0 in range(0, len(js), step):
        at = order[c0 : c0 + step]  # sorted by alpha within
        out[at] = _column_errors(_pair_columns(Q, D, ZT, js[at], ns[at], chunk_bytes), inv, js[at])
    return out, None


def _covariance_loo_select(
    s: np.ndarray,
    A: np.ndarray,
    Z: np.ndarray,
    Yc_tr: np.ndarray,
    alphas_abs: np.ndarray,
    n_train: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-target argmin of the exact LOO error, covariance form: returns ``(idx, err)``, the
    chosen grid indices (N,) and err_n at the chosen alpha (N,).

    With C_tr = V diag(s) Vᵀ, A = X̃_tr V (p × M), Z = AᵀỸ_tr and, per alpha, c = 1/(s+α):
    R(α) = Ỹ_tr − A diag(c) Z, h = 1/p + (A∘A) c, err_n(α) = Σ_i (R_in/(1 − h_i))² —
    2pMN flops per alpha (M ≤ p here). Leverages for all alphas come from one GEMM.
    """
    N = Z.shape[1]
    c = 1.0 / (s[:, None] + alphas_abs[None, :])  # M × n_α
    h = 1.0 / n_train + (A * A) @ c  # p × n_α
    inv = 1.0 / (1.0 - h)
    best_err = np.full(N, np.inf)
    best_idx = np.zeros(N, dtype=int)
    for j in range(len(alphas_abs)):
        err = _loo_errors(A, c[:, j], Z, inv[:, j], Yc_cols=Yc_tr)
        better = err < best_err
        best_err[better] = err[better]
        best_idx[better] = j
    return best_idx, best_err


ALPHA_CVS = ("groups", "loo")


def _group_rows(groups_tr: np.ndarray) -> list[np.ndarray]:
    """Row indices (into the training fold) of each group, in sorted label order."""
    _, inverse = np.unique(groups_tr, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    return np.split(order, bounds)


def _size_classes(rows: list[np.ndarray]) -> list[np.ndarray]:
    """The groups stacked by size: one (n_groups, size) index array per distinct group size, so
    that the per-group solves of one alpha run as a few batched LAPACK calls instead of one
    Python-level call per group (the cost of leave-one-group-out with many small groups)."""
    sizes = np.array([len(g) for g in rows])
    return [np.stack([rows[i] for i in np.flatnonzero(sizes == n)]) for n in np.unique(sizes)]


def _solve_spd_batch(S: np.ndarray, B: np.ndarray) -> np.ndarray:
    """S_k⁻¹B_k for a stack of symmetric positive definite S (k × n × n) and B (k × n × m): the
    batched inverses (LU with partial pivoting; n is a group's size, small) times B, one batched
    product — several times faster than ``numpy.linalg.solve`` on a stack with many right-hand
    sides; where a matrix of the stack is singular, each is solved on its own by
    :func:`_solve_spd` (Cholesky, least squares if that fails)."""
    try:
        return np.linalg.inv(S) @ B
    except np.linalg.LinAlgError:
        return np.stack([_solve_spd(Sk, Bk) for Sk, Bk in zip(S, B)])


def _solve_spd(S: np.ndarray, B: np.ndarray) -> np.ndarray:
    """S⁻¹B for a symmetric positive definite S (Cholesky; least squares if that fails)."""
    try:
        c = scipy.linalg.cho_factor(S, lower=True, check_finite=False)
        return scipy.linalg.cho_solve(c, B, check_finite=False)
    except np.linalg.LinAlgError:
        return scipy.linalg.lstsq(S, B, check_finite=False)[0]


def _kernel_group_select(
    s: np.ndarray,
    Q: np.ndarray,
    Z: np.ndarray,
    alphas_abs: np.ndarray,
    n_train: int,
    rows: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Per-target argmin over the grid of the exact leave-one-group-out error, kernel form.
    Returns ``(idx, err)``: the chosen grid indices (N,) and err_n = Σ_g ‖e_gn‖² at the chosen
    alpha (N,), in the units of Ỹ² (e_g are the held-out residuals themselves, not divided by α).

    With K_tr = Q diag(s) Qᵀ, D = 1/(s+α), t = Qᵀ1 and v = Q(t∘D) = (K+αI)⁻¹1, let

        S(α) = Q diag(D) Qᵀ − (v1ᵀ + 1vᵀ)/(2p)   (= (I − H(α))/α, H the hat matrix of ridge
                                                   with an unpenalised intercept)

    and c = Q diag(D) Z = (K+αI)⁻¹Ỹ_tr (so the training residuals are αc). For ridge, leaving
    out a whole group g gives the held-out residuals exactly (the block form of the LOO identity,
    by Sherman–Morrison–Woodbury):

        e_g = (I − H_gg)⁻¹ r_g = S_gg⁻¹ c_g,        err_n(α) = Σ_g ‖e_gn‖²,

    the sum of squared errors of ``Ridge(α).fit`` on the training fold without g, predicting g,
    over every group g of the fold. Dividing through by α avoids the cancellation in I − H at
    small α; for groups of one stimulus S_gg is the g_i of :func:`_kernel_loo_select`, so
    singleton groups give plain LOO. Per alpha: F = blockdiag(S_gg⁻¹) Q (Σ_g |g|²p flops to form
    and solve), then err = column sums of (F diag(D) Z)² — one p × p × N GEMM, what the
    exhaustive LOO search costs. No M × N coefficients are formed. Ties → lowest grid index.
    """
    p, N = Z.shape
    # in units where no intermediate over- or underflows (their errors multiplied back by m²)
    kappa = _spectrum_scale(s, alphas_abs)
    s, alphas_abs = s / kappa, np.asarray(alphas_abs, dtype=np.float64) / kappa
    m = _target_scale(Z)
    Z = Z / m
    t = Q.sum(axis=0)
    best_err = np.full(N, np.inf)
    best_idx = np.zeros(N, dtype=int)
    F = np.empty_like(Q)
    ones = np.ones(p)
    classes = [(idx, Q[idx]) for idx in _size_classes(rows)]  # (k, n) and Q_g: (k, n, p)
    for j, alpha in enumerate(alphas_abs):
        D = 1.0 / (s + alpha)
        v = Q @ (t * D)
        for idx, Qg in classes:
            S = (Qg * D) @ Qg.transpose(0, 2, 1)  # (k, n, n)
            vg = v[idx]
            S -= (vg[:, :, None] + vg[:, None, :]) / (2.0 * n_train)
            F[idx] = _solve_spd_batch((S + S.transpose(0, 2, 1)) / 2.0, Qg)
        err = _loo_errors(F, D, Z, ones)
        better = err < best_err
        best_err[better] = err[better]
        best_idx[better] = j
    return best_idx, best_err * m**2


def _covariance_group_select(
    s: np.ndarray,
    A: np.ndarray,
    Z: np.ndarray,
    Yc_tr: np.ndarray,
    alphas_abs: np.ndarray,
    n_train: int,
    rows: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Per-target argmin of the exact leave-one-group-out error, covariance form: returns
    ``(idx, err)``, the chosen grid indices (N,) and err_n = Σ_g ‖e_gn‖² at the chosen alpha.

    With A = X̃_tr V, c = 1/(s+α): H = 11ᵀ/p + A diag(c) Aᵀ, R(α) = Ỹ_tr − A diag(c) Z and, per
    group g, e_g = (I − H_gg)⁻¹ R_g (exact for ridge with an unpenalised intercept);
    err_n(α) = Σ_g ‖e_gn‖². Per alpha: 2pMN flops for R plus Σ_g |g|²(M + N).
    """
    N = Z.shape[1]
    best_err = np.full(N, np.inf)
    best_idx = np.zeros(N, dtype=int)
    classes = [(idx, A[idx]) for idx in _size_classes(rows)]  # (k, n) and A_g: (k, n, M)
    for j, alpha in enumerate(alphas_abs):
        c = 1.0 / (s + alpha)
        R = Yc_tr - A @ (c[:, None] * Z)
        err = np.zeros(N)
        for idx, Ag in classes:
            n = idx.shape[1]
            S = np.eye(n) - 1.0 / n_train - (Ag * c) @ Ag.transpose(0, 2, 1)
            E = _solve_spd_batch((S + S.transpose(0, 2, 1)) / 2.0, R[idx])  # (k, n, N)
            err += np.einsum("gij,gij->j", E, E)
        better = err < best_err
        best_err[better] = err[better]
        best_idx[better] = j
    return best_idx, best_err


def _predict(
    s: np.ndarray,
    Z: np.ndarray,
    alphas_abs: np.ndarray,
    best_idx: np.ndarray,
    predict_basis: np.ndarray,
) -> np.ndarray:
    """Centred test predictions predict_basis @ diag(1/(s+α_n)) z_n: the coefficients of every
    target formed as a row (its alpha's row of the n_α × p table κ/(s+α), times zᵀ), then one
    product (no gathers of Z's columns per chosen alpha). Both factors are divided by κ = the largest eigenvalue, so that the coefficients neither
    overflow nor underflow whatever the units of X and Y (z/(s+α) of a Y of 1e150 and a Gram of
    1e-200 would overflow; the product itself is of the order of Y)."""
    kappa = _spectrum_scale(s, alphas_abs)
    scale = kappa / (s[None, :] + np.asarray(alphas_abs)[:, None])  # n_α × p, small
    coefT = scale[best_idx]  # targets as rows: N × p, C order
    coefT *= Z.T
    return (predict_basis / kappa) @ coefT.T


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
        den = np.sqrt(sst) * np.sqrt(np.einsum("ij,ij->j", pc, pc))  # no overflow of the product
        r = np.where(den > 0, num / den, np.nan)
    return r2, r, sse, sst


def ridge_cv_fold(
    X: np.ndarray | None,
    Y: np.ndarray,
    tr: np.ndarray,
    te: np.ndarray,
    alphas: np.ndarray,
    *,
    G: np.ndarray | None = None,
    C_all: np.ndarray | None = None,
    alpha_scaling: str = "none",
    form: str | None = None,
    loo_search: str = "bounded",
    dtype=None,
    groups: np.ndarray | None = None,
    alpha_cv: str = "groups",
    eig: FoldEigen | None = None,
) -> FoldResult:
    """Ridge with per-target alpha chosen inside the training fold, on one outer fold.

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
    loo_search : "bounded" (default) or "exhaustive": how the per-target argmin of the LOO error
        is found in kernel form (same result; see :func:`_kernel_loo_select`).
    dtype : working precision of the Gram products when G has to be formed here.
    groups : optional (P,) stimulus group labels. With ``alpha_cv="groups"``, alpha is chosen by
        exact leave-one-group-out over the groups of the training fold
        (:func:`_kernel_group_select`, :func:`_covariance_group_select`); without groups, when
        every group is a single stimulus, or when the training fold holds a single group (a
        warning), by plain LOO.
    alpha_cv : "groups" (default) or "loo" (plain LOO even when groups exist).
    eig : this fold's eigendecomposition from the layer's shared basis
        (:class:`predictivity.core.basis.FoldEigen`, computed from the same G); when given, the
        fold's ``eigh`` is not run again.
    """
    if loo_search not in LOO_SEARCHES:
        raise ValueError(f"unknown loo_search {loo_search!r}; use one of {LOO_SEARCHES}")
    if alpha_cv not in ALPHA_CVS:
        raise ValueError(f"unknown alpha_cv {alpha_cv!r}; use one of {ALPHA_CVS}")
    p = len(tr)
    rows = None
    if groups is not None and alpha_cv == "groups":
        rows = _group_rows(np.asarray(groups)[tr])
        if len(rows) < 2:
            log.warning(
                "the training fold holds a single stimulus group: alpha chosen by plain "
                "leave-one-out instead of leave-one-group-out"
            )
            rows = None
        elif max(len(g) for g in rows) == 1:
            rows = None  # singleton groups: leave-one-group-out is plain LOO
    Yc_tr = np.take(Y, tr, axis=0).astype(np.float64, copy=False)  # a copy, centred in place
    ybar = Yc_tr.mean(axis=0)
    Yc_tr -= ybar
    if form is None:
        form = "kernel" if (X is None or X.shape[1] > p) else "covariance"
    if form == "kernel":
        if G is None:
            G = centred_gram(X, dtype=dtype)
        if eig is None:
            Ktr, Kte = _double_centre_block(G, tr, te)
            trace = float(np.trace(Ktr))
            s, Q = kernel_eigh(Ktr)
        else:
            Kte = fold_cross_gram(G, tr, te)
            trace, s, Q = eig.trace, eig.s, eig.Q
        s = np.maximum(s, 0.0)  # eig_floor: clip rounding-level negative eigenvalues
        Z = (Yc_tr.T @ Q).T  # Qᵀ Ỹ_tr formed as its transpose: the search reads targets as rows
        pb = Kte @ Q
        scale = trace / p if alpha_scaling == "trace" else 1.0
        alphas_abs = np.asarray(alphas, dtype=np.float64) * scale
        _check_alpha_range(alphas_abs, trace, G.dtype if G.dtype == np.float32 else np.float64)
        if rows is None:
            idx, cv_err = _kernel_loo_select(s, Q, Z, alphas_abs, p, search=loo_search, Yc=Yc_tr)
        else:
            idx, cv_err = _kernel_group_select(s, Q, Z, alphas_abs, p, rows)
    elif form == "covariance":
        Xtr = np.asarray(X[tr], dtype=np.float64)
        mu = Xtr.mean(axis=0)
        Xtr_c = Xtr - mu
        if eig is not None and eig.V is not None:
            s, V = eig.s_cov, eig.V
        elif C_all is not None:
            s, V = covariance_fold_eigh(X, C_all, tr, te)
        else:
            Ctr = Xtr_c.T @ Xtr_c
            s, V = np.linalg.eigh((Ctr + Ctr.T) / 2.0)
        s = np.maximum(s, 0.0)
        trace = float(s.sum())
        A = Xtr_c @ V
        Z = A.T @ Yc_tr
        Xte_c = np.asarray(X[te], dtype=np.float64) - mu
        pb = Xte_c @ V
        scale = trace / p if alpha_scaling == "trace" else 1.0
        alphas_abs = np.asarray(alphas, dtype=np.float64) * scale
        _check_alpha_range(alphas_abs, trace, np.float64)
        if rows is None:
            idx, cv_err = _covariance_loo_select(s, A, Z, Yc_tr, alphas_abs, p)
        else:
            idx, cv_err = _covariance_group_select(s, A, Z, Yc_tr, alphas_abs, p, rows)
    else:
        raise ValueError(f"unknown form {form!r}")
    pred = _predict(s, Z, alphas_abs, idx, pb)
    pred += ybar
    r2, r, sse, sst = _scores(Y[te], pred)
    return FoldResult(
        alpha=alphas_abs[idx],
        alpha_index=idx,
        r2=r2,
        pearson_r=r,
        sse=sse,
        sst=sst,
        grouped=rows is not None,
        cv_sse=cv_err,
        cv_sst=np.einsum("ij,ij->j", Yc_tr, Yc_tr),
    )


def _cross_validated_ridge(
    X,
    Y,
    folds,
    alphas=None,
    alpha_scaling="none",
    form=None,
    loo_search="bounded",
    dtype=None,
    groups=None,
    alpha_cv="groups",
    basis: LayerBasis | None = None,
    return_folds: bool = False,
):
    """:func:`cross_validated_ridge` plus the chosen alpha of every fold and target (K × N), and
    with ``return_folds`` the list of every fold's :class:`FoldResult` as a third item."""
    alphas = default_alphas() if alphas is None else np.asarray(alphas, dtype=np.float64)
    if np.any(~np.isfinite(alphas)) or np.any(alphas <= 0):
        raise ValueError("alphas must be finite and positive")
    if loo_search not in LOO_SEARCHES:
        raise ValueError(f"unknown loo_search {loo_search!r}; use one of {LOO_SEARCHES}")
    if alpha_cv not in ALPHA_CVS:
        raise ValueError(f"unknown alpha_cv {alpha_cv!r}; use one of {ALPHA_CVS}")
    X = np.asarray(X) if not isinstance(X, np.memmap) else X
    P, M = X.shape
    Y = np.asarray(Y, dtype=np.float64)
    N = Y.shape[1]
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (P,):
            raise ValueError(f"groups must have one label per stimulus ({P}), got {groups.shape}")
    p_max = max(P - len(f) for f in folds)
    if form is None:
        form = "kernel" if M > p_max else "covariance"
    if basis is not None and (basis.n_stimuli, basis.n_units) != (P, M):
        raise ValueError(
            f"the basis is of a {basis.n_stimuli} × {basis.n_units} layer, X is {P} × {M}"
        )
    if form == "kernel":
        # one pass over X; no float64 copy of a float32 X
        G = centred_gram(X, dtype=dtype) if basis is None else basis.G
        Xc = None
        C_all = None
    else:
        # covariance form: M ≤ p, so a float64 copy of X (P × M) is no bigger than the Gram
        Xc = np.asarray(X, dtype=np.float64) - column_means(X)
        has_eig = basis is not None and basis.form == "covariance"
        C_all = None if has_eig else Xc.T @ Xc
        G = None
    K = len(folds)
    r2, r, alpha = np.empty((K, N)), np.empty((K, N)), np.empty((K, N))
    low, high = np.zeros((K, N), dtype=bool), np.zeros((K, N), dtype=bool)
    sse, sst = np.zeros(N), np.zeros(N)
    grouped = np.zeros(K, dtype=bool)
    all_idx = np.arange(P)
    results = []
    for k, te in enumerate(folds):
        tr = np.setdiff1d(all_idx, te)
        eig = None
        if basis is not None and (form == "kernel" or basis.form == "covariance"):
            eig = basis.fold(tr, te)
        res = ridge_cv_fold(
            Xc,
            Y,
            tr,
            np.sort(te),
            alphas,
            G=G,
            C_all=C_all,
            alpha_scaling=alpha_scaling,
            form=form,
            loo_search=loo_search,
            groups=groups,
            alpha_cv=alpha_cv,
            eig=eig,
        )
        results.append(res)
        r2[k], r[k], alpha[k] = res.r2, res.pearson_r, res.alpha
        grouped[k] = res.grouped
        low[k] = res.alpha_index == 0
        high[k] = res.alpha_index == len(alphas) - 1
        sse += res.sse
        sst += res.sst
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = pd.DataFrame(
                {
                    "target": np.arange(N),
                    "r2": np.nanmean(r2, axis=0),
                    "pearson_r": np.nanmean(r, axis=0),
                    "alpha": np.median(alpha, axis=0),
                    "alpha_at_edge": (low | high).mean(axis=0) > 0.5,
                    "alpha_at_low_edge": low.mean(axis=0) > 0.5,
                    "alpha_at_high_edge": high.mean(axis=0) > 0.5,
                    "sse": sse,
                    "sst": sst,
                    "alpha_cv": "leave_one_group_out" if grouped.all() else "loo",
                }
            )
    if grouped.any() and not grouped.all():
        out["alpha_cv"] = "mixed"
    if return_folds:
        return out, alpha, results
    return out, alpha


def cross_validated_ridge(
    X: np.ndarray,
    Y: np.ndarray,
    folds: list[np.ndarray],
    alphas: np.ndarray | None = None,
    alpha_scaling: str = "none",
    form: str | None = None,
    loo_search: str = "bounded",
    dtype=None,
    groups: np.ndarray | None = None,
    alpha_cv: str = "groups",
    basis: LayerBasis | None = None,
) -> pd.DataFrame:
    """K-fold cross-validated ridge scores for every target of one layer
    (``docs/design.md#regression``).

    Parameters
    ----------
    X : (P, M) activations (float32 or float64; a memory map is fine — in kernel form it is read
        once, block by block, and never copied whole).
    Y : (P, N) responses averaged over repetitions (constant targets must be removed beforehand).
    folds : list of K test-index arrays (see :func:`make_folds`); training = the complement.
    alphas : grid (default :func:`default_alphas`).
    alpha_scaling : "none" or "trace" (each fold's grid × tr(K_tr)/p).
    form : force "kernel" or "covariance" (default: kernel when M > p_train).
    loo_search : "bounded" (default) or "exhaustive": how the per-target argmin of the LOO error
        is found in kernel form. Both return the same alphas; "bounded" skips the (alpha, target)
        pairs that provably cannot be the minimum (:func:`_kernel_loo_select`).
    dtype : working precision of the Gram block products, "float32" or "float64" (default: the
        dtype of X). Everything after the Gram (eigendecomposition, LOO, scores) is float64.
    groups : optional (P,) stimulus group labels (the labels that grouped ``folds``). With
        ``alpha_cv="groups"`` each target's alpha is chosen by exact leave-one-group-out inside
        each training fold, so near-duplicates of one group never sit on both sides of the inner
        split; without groups, by exact LOO (scikit-learn's ``RidgeCV``).
    alpha_cv : "groups" (default) or "loo" (plain LOO even when groups exist).
    basis : the layer's shared eigen basis for these folds (:func:`predictivity.core.basis.layer_basis`);
        when given, no Gram is formed and no fold ``eigh`` is run here.

    Returns
    -------
    DataFrame, one row per target: ``target`` (0-based column of Y), ``r2`` and ``pearson_r``
    (mean over folds, NaN folds ignored), ``alpha`` (median over folds of the chosen alpha, in
    absolute units), ``alpha_at_edge`` (the chosen alpha was the lowest or highest grid value in
    the majority of folds), ``sse`` and ``sst`` (summed over folds, for the pooled R²),
    ``alpha_cv`` (how alpha was chosen: ``loo``, ``leave_one_group_out``, or ``mixed`` when some
    training folds held a single group).
    """
    out, _ = _cross_validated_ridge(
        X, Y, folds, alphas, alpha_scaling, form, loo_search, dtype, groups, alpha_cv, basis
    )
    return out


FOLD_COLUMNS = [
    "layer",
    "layer_index",
    "fold",
    "target",
    "r2",
    "pearson_r",
    "sse",
    "sst",
    "alpha",
    "cv_sse",
    "cv_sst",
]


def fold_frame(results: list[FoldResult], target: np.ndarray) -> pd.DataFrame:
    """One row per fold × target of a layer's :class:`FoldResult` list (``layer`` left empty):
    the test-fold scores and, for choosing among layers without the test stimuli, the inner-CV
    error at the chosen alpha (``cv_sse``) and Σ ỹ² on the training fold (``cv_sst``)."""
    parts = []
    for k, res in enumerate(results):
        n = res.r2.shape[0]
        nan = np.full(n, np.nan)
        cv_sse = getattr(res, "cv_sse", None)
        cv_sst = getattr(res, "cv_sst", None)
        parts.append(
            pd.DataFrame(
                {
                    "layer": "",
                    "layer_index": 0,
                    "fold": k,
                    "target": np.asarray(target),
                    "r2": res.r2,
                    "pearson_r": res.pearson_r,
                    "sse": res.sse,
                    "sst": res.sst,
                    "alpha": res.alpha,
                    "cv_sse": nan if cv_sse is None else cv_sse,
                    "cv_sst": nan if cv_sst is None else cv_sst,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)[FOLD_COLUMNS]


_RESULT_COLUMNS = ("r2", "pearson_r", "sse", "sst", "alpha", "cv_sse", "cv_sst")


def fold_results(frame: pd.DataFrame, layer: str, target: np.ndarray) -> list[FoldResult]:
    """The inverse of :func:`fold_frame`: the :class:`FoldResult` list of one layer from a folds
    table (:data:`FOLD_COLUMNS`), its targets in the order of ``target``. ``alpha_index`` is not
    stored and comes back as -1. ValueError (naming what is missing) when the table does not hold
    exactly those targets in every fold of the layer."""
    missing = [c for c in ("layer", "fold", "target", *_RESULT_COLUMNS) if c not in frame.columns]
    if missing:
        raise ValueError(f"the table has no column(s) {missing}")
    rows = frame[frame["layer"] == layer]
    if rows.empty:
        raise ValueError(f"no rows for layer {layer!r}")
    target = np.asarray(target)
    out = []
    for k in range(int(rows["fold"].max()) + 1):
        f = rows[rows["fold"] == k]
        if len(f) != target.size or not np.array_equal(
            np.sort(f["target"].to_numpy()), np.sort(target)
        ):
            raise ValueError(
                f"layer {layer!r}, fold {k}: the table's targets are not the recordings' "
                f"({len(f)} rows for {target.size} targets)"
            )
        f = f.set_index("target").loc[target]
        col = {c: f[c].to_numpy(dtype=np.float64) for c in _RESULT_COLUMNS}
        out.append(
            FoldResult(
                alpha=col["alpha"],
                alpha_index=np.full(target.size, -1),
                r2=col["r2"],
                pearson_r=col["pearson_r"],
                sse=col["sse"],
                sst=col["sst"],
                cv_sse=col["cv_sse"],
                cv_sst=col["cv_sst"],
            )
        )
    return out


def score_layers(
    layers: dict[str, np.ndarray],
    Y: np.ndarray,
    folds: list[np.ndarray],
    alphas: np.ndarray | None = None,
    alpha_scaling: str = "none",
    target: np.ndarray | None = None,
    ceiling: np.ndarray | None = None,
    alpha_edge_warning: float = 0.05,
    groups: np.ndarray | None = None,
    alpha_cv: str = "groups",
    bases: dict | None = None,
    return_folds: bool = False,
):
    """:func:`cross_validated_ridge` for every layer of a model; one row per layer × target.

    ``target`` gives the original column index of each column of Y (constant targets having been
    removed); ``ceiling`` the split-half noise ceiling per column (NaN where unavailable). Adds the
    columns ``layer``, ``layer_index``, ``ceiling``, ``r2_ceiled`` = r2/ceiling and
    ``pearson_r_ceiled`` = r/√ceiling (beside the raw scores, never instead; targets without a
    ceiling get NaN, see ``docs/design.md#noise-ceiling``). ``groups`` and ``alpha_cv`` as in
    :func:`cross_validated_ridge`.
    Logs a warning for a layer where more than ``alpha_edge_warning`` of the targets chose an
    alpha at either end of the grid. ``bases`` maps layer names to their shared eigen bases
    (:func:`predictivity.core.basis.model_bases`; a missing name is computed here). With
    ``return_folds`` returns ``(table, folds)``, ``folds`` one row per layer × fold × target
    (:data:`FOLD_COLUMNS`, :func:`fold_frame`).
    """
    N = Y.shape[1]
    target = np.arange(N) if target is None else np.asarray(target)
    ceiling = np.full(N, np.nan) if ceiling is None else np.asarray(ceiling, dtype=np.float64)
    frames, fold_frames = [], []
    for index, (name, X) in enumerate(layers.items()):
        df, _, results = _cross_validated_ridge(
            X,
            Y,
            folds,
            alphas,
            alpha_scaling,
            groups=groups,
            alpha_cv=alpha_cv,
            basis=None if bases is None else bases.get(name),
            return_folds=True,
        )
        ff = fold_frame(results, target)
        ff["layer"] = name
        ff["layer_index"] = index
        fold_frames.append(ff)
        if df["r2"].isna().all():
            raise InputError(
                f"layer {name!r}",
                "every target's R² is NaN (no test fold has varying responses, or the numbers "
                "over- or underflowed).",
                "Check the recordings' scale and that targets vary within test folds.",
            )
        df["target"] = target
        df.insert(0, "layer", name)
        df.insert(1, "layer_index", index)
        df["ceiling"] = ceiling
        with np.errstate(invalid="ignore", divide="ignore"):
            df["r2_ceiled"] = df["r2"] / ceiling
            df["pearson_r_ceiled"] = df["pearson_r"] / np.sqrt(ceiling)
        edge = float(df["alpha_at_edge"].mean())
        low, high = float(df["alpha_at_low_edge"].mean()), float(df["alpha_at_high_edge"].mean())
        log.info(
            "layer %s (%d units): median R² %.4f, median r %.4f, median alpha %.3g, %.0f%% of targets at the "
            "grid edge (%.0f%% lowest, %.0f%% highest)",
            name,
            X.shape[1],
            df["r2"].median(),
            df["pearson_r"].median(),
            df["alpha"].median(),
            100 * edge,
            100 * low,
            100 * high,
        )
        if edge > alpha_edge_warning:
            advice = []
            if low > 0:
                advice.append(
                    f"{100 * low:.0f}% chose the lowest alpha: the grid may not reach small enough "
                    "(extend `regression.alphas` downward, or use `regression.alpha_scaling: trace` "
                    "if the layer's activations are small)"
                )
            if high > 0:
                advice.append(
                    f"{100 * high:.0f}% chose the highest alpha: this layer does not predict those "
                    "targets (their prediction is close to the training mean)"
                )
            log.warning(
                "layer %s: %.0f%% of targets chose an alpha at an edge of the grid (> %.0f%%): %s",
                name,
                100 * edge,
                100 * alpha_edge_warning,
                "; ".join(advice),
            )
        frames.append(df)
    table = pd.concat(frames, ignore_index=True)
    if return_folds:
        return table, pd.concat(fold_frames, ignore_index=True)
    return table
