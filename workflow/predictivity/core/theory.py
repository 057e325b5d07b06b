"""Spectral theory of kernel ridge regression and its empirical counterpart
(``docs/design.md#theory``).

Conventions (the contract; those of Canatar et al. 2024, code "SNAP"), for a population of n
stimuli:

- G = X_c X_cᵀ ∈ R^{n×n}, the Gram of the activations centred over the n stimuli.
- λ_i, i = 1 … n: eigenvalues of **G/n**; u_i unit-norm eigenvectors, v_i = √n·u_i;
  target weights w_in = v_iᵀ Y_c[:, n] / n (:func:`predictivity.core.spectra.target_weights`).
- Ridge with p training stimuli uses the **unnormalised** G and ridge p·λ_reg:
  ŷ = G[:, tr] (G[tr, tr] + p·λ_reg·I)⁻¹ Y_c[tr], so the regression α
  (``docs/design.md#regression``) is p·λ_reg.

All errors are normalised by the target variance over the n stimuli, Σ_i Σ_n w_in² =
‖Y_c‖²_F / n, so an error of 1 is "predicts the mean" and 1 − E is an R².

Which stimuli are the population (:func:`layer_theory`): the **training stimuli of each outer
fold** of the regression, never its test stimuli, so no reported theory number has seen a test
response. Every theory and empirical quantity is computed per fold on its training fold and
averaged over the folds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg

from predictivity.core.spectra import eigenvalue_tolerance
from predictivity.errors import InputError

__all__ = [
    "solve_kappa",
    "theory_learning_curve",
    "empirical_learning_curve",
    "p_grid",
    "degenerate_blocks",
    "layer_theory",
    "model_theory",
]


def _eigenvalues(eigenvalues: np.ndarray) -> np.ndarray:
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    if lam.size == 0:
        raise ValueError("eigenvalues is empty")
    if not np.all(np.isfinite(lam)):
        raise ValueError("eigenvalues must be finite")
    # Rounding leaves eigenvalues of order -ε·P·λ_1 in the null space of a PSD Gram: clip them.
    return np.clip(lam, 0.0, None)


def _lambda_reg(lambda_reg) -> float:
    lr = float(lambda_reg)
    if not np.isfinite(lr) or lr < 0:
        raise ValueError(f"lambda_reg must be finite and ≥ 0, got {lambda_reg}")
    return lr


def _p_values(p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise ValueError(f"p values must be finite and > 0, got {p}")
    return p


def solve_kappa(
    eigenvalues: np.ndarray, p, lambda_reg: float, tol: float = 1e-12, max_iter: int = 100
) -> np.ndarray:
    """Self-consistent κ of the theory, for each training size p.

    κ solves  f(κ) = κ − p·λ_reg − κ Σ_i λ_i/(pλ_i + κ) = 0,  κ ≥ 0.

    f'(κ) = 1 − Σ_i pλ_i²/(pλ_i + κ)² = 1 − γ(κ) and f''(κ) = Σ_i 2pλ_i²/(pλ_i + κ)³ ≥ 0, so f
    is convex; f(0) = −p·λ_reg ≤ 0 and f(κ₀) ≥ 0 at κ₀ = p·λ_reg + Σ_i λ_i (because
    κ₀ Σ λ_i/(pλ_i+κ₀) ≤ Σ λ_i). Newton from κ₀ therefore decreases monotonically onto the root
    (quadratically when λ_reg > 0, since then 1 − γ(κ*) ≥ pλ_reg/κ* > 0). The plain fixed-point
    iteration κ ← p·λ_reg + κ Σ λ_i/(pλ_i+κ) contracts only by the factor γ(κ*), which is close
    to 1 on flat spectra with small λ_reg, hence Newton.

    The Newton step is evaluated as κ − f/f' = (p·λ_reg + Σ_i λ_i r_i²)/(1 − γ(κ)) with
    r_i = κ/(pλ_i + κ) (from f(κ) = κ(1 − γ) − Σ_i λ_i r_i² − p·λ_reg): a ratio of positive,
    bounded terms, where the textbook κ − f/f' cancels catastrophically once κ is far below Σλ
    (tiny λ_reg with p above the rank of the spectrum) and λ_i/(pλ_i + κ)² can overflow.

    Stops when |Δκ| ≤ tol·κ for every p, or when an iterate fails to decrease (exact Newton from
    the right is monotone, so that only happens at the rounding level of an ill-conditioned root,
    e.g. a flat spectrum at p = its rank with tiny λ_reg, where 1 − γ ≈ 1e-6). With λ_reg = 0
    and p ≥ the number of non-zero eigenvalues the root is κ = 0 (ridgeless interpolation);
    iterates below 1e-15·κ₀ are then taken as converged and returned as 0. A step made invalid
    by rounding (1 − γ ≤ 0, or a non-finite or non-positive iterate) is replaced by halving.

    Parameters
    ----------
    eigenvalues : (K,) eigenvalues λ_i of G/P (≥ 0; tiny negatives from rounding are clipped).
    p : scalar or array of training sizes (> 0; need not be integers).
    lambda_reg : λ_reg ≥ 0 (regression α = p·λ_reg).
    tol : relative tolerance on κ.
    max_iter : maximum Newton iterations.

    Returns
    -------
    κ : float64 array of the shape of p.

    Raises
    ------
    ValueError if any p has not converged after ``max_iter`` iterations.
    """
    lam = _eigenvalues(eigenvalues)
    lr = _lambda_reg(lambda_reg)
    p_arr = _p_values(p)
    shape = p_arr.shape
    pv = p_arr.ravel()
    kappa = pv * lr + lam.sum()
    kappa0 = kappa.copy()
    done = kappa == 0.0  # zero spectrum and λ_reg = 0: κ = 0
    lam_c = lam[:, None]
    for _ in range(max_iter):
        if np.all(done):
            break
        act = ~done
        k = kappa[act]
        pa = pv[act]
        denom = pa * lam_c + k  # (K, n_active), ≥ k > 0
        r = k / denom  # κ/(pλ_i+κ) ∈ (0, 1]
        q = lam_c / denom  # λ_i/(pλ_i+κ) ∈ [0, 1/p]
        fp = 1.0 - pa * np.sum(q * q, axis=0)  # f'(κ) = 1 − γ(κ)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # κ − f/f' = (pλ_reg + Σ λ_i r_i²)/(1 − γ): positive terms, no cancellation
            k_new = (pa * lr + np.sum(lam_c * r * r, axis=0)) / fp
        tiny = (k_new <= 1e-15 * kappa0[act]) if lr == 0.0 else np.zeros(k.shape, bool)
        bad = (~np.isfinite(k_new) | (k_new <= 0.0) | (fp <= 0.0)) & ~tiny
        k_new = np.where(bad, 0.5 * k, np.where(tiny, 0.0, k_new))
        # converged: relative step ≤ tol, or no further decrease (Newton from the right is
        # monotone, so an increase means the iterate sits at rounding level of the root)
        stalled = (k_new >= k) & ~bad
        conv = ((np.abs(k_new - k) <= tol * k_new) & ~bad) | stalled | tiny
        k_new = np.where(stalled, k, k_new)
        kappa[act] = k_new
        idx = np.flatnonzero(act)
        done[idx[conv]] = True
    if not np.all(done):
        raise ValueError(
            f"solve_kappa did not converge in {max_iter} iterations for p = {pv[~done]}"
            f" (lambda_reg = {lr})"
        )
    return kappa.reshape(shape)


def degenerate_blocks(eigenvalues: np.ndarray, dtype=None) -> np.ndarray:
    """Block label (0, 1, …) of each eigenvalue; (numerically) equal eigenvalues share a label.

    With tol = λ_max·K·ε (:func:`predictivity.core.spectra.eigenvalue_tolerance`, ε of the
    working precision ``dtype``): every λ ≤ tol belongs to the null block, and after sorting,
    consecutive eigenvalues at most tol apart share a block (single linkage). Labels follow the
    descending order of the eigenvalues; the input order is kept in the output.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    tol = eigenvalue_tolerance(lam, dtype)
    lam = np.where(lam <= tol, 0.0, lam)
    order = np.argsort(-lam, kind="stable")
    new_block = np.r_[False, (lam[order][:-1] - lam[order][1:]) > tol]
    labels = np.empty(lam.size, dtype=np.int64)
    labels[order] = np.cumsum(new_block)
    return labels


def _mode_ratios(lam: np.ndarray, pv: np.ndarray, kappa: np.ndarray) -> np.ndarray:
    """r_i(p) = κ/(pλ_i + κ) ∈ [0, 1], shape (K, n_p). A mode with λ_i = 0 has r_i = 1 exactly
    (also in the limit κ → 0), i.e. it is not learned at all."""
    denom = pv[None, :] * lam[:, None] + kappa[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = kappa[None, :] / denom
    return np.where(denom > 0.0, r, 1.0)


def theory_learning_curve(
    eigenvalues: np.ndarray,
    W: np.ndarray,
    p_values,
    lambda_reg: float,
    dtype=None,
) -> pd.DataFrame:
    """Theoretical learning curve and error-mode geometry (``docs/design.md#theory``), one row
    per p.

    With κ = κ(p) from :func:`solve_kappa` and r_i = κ/(pλ_i + κ):

    - γ = Σ_i pλ_i²/(pλ_i + κ)² = (1/p) Σ_i (1 − r_i)²
    - w̃_i² = Σ_n w_in² / Σ_j Σ_n w_jn²   (target weights normalised to unit sum)
    - mode errors E_i = κ²/((1 − γ)(pλ_i + κ)²) = r_i²/(1 − γ)
    - E_g = κ²/(1 − γ) · Σ_i Σ_n w_in²/(pλ_i + κ)² / Σ_i Σ_n w_in² = Σ_i E_i w̃_i²
    - E_tr = (p·λ_reg/κ)² · E_g (training error, Canatar et al. 2021); at κ = 0 (λ_reg = 0,
      ridgeless) the ratio p·λ_reg/κ is replaced by its limit 1 − Σ_i λ_i/(pλ_i + κ)
      = 1 − (1/p) Σ_i (1 − r_i), which equals it at the root for κ > 0.
    - error modes, one per block b of (numerically) equal eigenvalues
      (:func:`degenerate_blocks`): W̃_b = Σ_{i∈b} E_i·w̃_i² (so Σ_b W̃_b = E_g);
      R_em = ‖W̃‖₂ = (Σ_b W̃_b²)^½; D_em = (Σ_b W̃_b / ‖W̃‖₂)².

    Why blocks: inside a degenerate eigenspace (the null space of a rank-deficient layer above
    all) the eigenvectors are an arbitrary basis, and so is the split of the target variance
    between them; Σ_i W̃_i² would depend on that basis (3.5 % on a rank-40 layer over 200
    stimuli perturbed by 1e-9). The block sums Σ_{i∈b} w̃_i² are projections onto the whole
    eigenspace and do not. Eigenvalues ≤ tol are set to 0 (one null block), and consecutive sorted
    eigenvalues less than tol apart share a block, tol = λ_max·K·ε with ε the machine epsilon of
    ``dtype``, the precision the Gram was formed in
    (:func:`predictivity.core.spectra.eigenvalue_tolerance`).

    The previous held-out conversion E_test = (E_g − (p/P)·E_tr)/(1 − p/P) is not reported: at
    p = 0.8·P it divides the theory's finite-P error by 0.2 and was 0.41 below the CV score on
    average over real layers.

    Normalising λ to unit trace for the error-mode geometry needs no separate step: κ is homogeneous of degree 1 in (λ, λ_reg) jointly (scaling both by c scales κ by c),
    so r_i, γ and E_i are invariant to a joint rescaling, provided λ_reg is expressed in the same
    units as λ — which it is, λ_reg = α/p with α in the units of G.

    Modes with λ_i = 0 are unlearnable: r_i = 1 exactly (also when κ underflows), so their
    contribution to E_g is w̃_i²/(1 − γ) — the full target variance of the mode, inflated by the
    same overfitting factor 1/(1 − γ) as every other mode's residual.

    Parameters
    ----------
    eigenvalues : (K,) eigenvalues of G/P. Pass the **full** spectrum (K = P, zero modes
        included): target variance on omitted modes would be missing from E_g.
    W : (K, N) (or (K,)) target weights from :func:`predictivity.core.spectra.target_weights`.
    p_values : (n_p,) training sizes.
    lambda_reg : λ_reg ≥ 0 (one per layer: median chosen α / p_train).
    dtype : precision the Gram was formed in (float32 or float64, default float64): sets the
        degeneracy tolerance.

    Returns
    -------
    DataFrame, n_p rows, columns ``p, lambda_reg, kappa, gamma, eg_theory, etr_theory, r_em,
    d_em``.
    """
    lam = _eigenvalues(eigenvalues)
    lr = _lambda_reg(lambda_reg)
    W = np.asarray(W, dtype=np.float64)
    if W.ndim == 1:
        W = W[:, None]
    if W.ndim != 2 or W.shape[0] != lam.shape[0]:
        raise ValueError(f"W must have one row per eigenvalue ({lam.shape[0]}), got {W.shape}")
    lam = np.where(lam <= eigenvalue_tolerance(lam, dtype), 0.0, lam)  # the null block
    block = degenerate_blocks(lam, dtype)
    pv = _p_values(p_values).ravel()
    kappa = solve_kappa(lam, pv, lr)

    w2 = np.einsum("in,in->i", W, W)
    total = w2.sum()
    w2n = w2 / total if total > 0 else np.full_like(w2, np.nan)

    r = _mode_ratios(lam, pv, kappa)  # (K, n_p)
    gamma = np.sum((1.0 - r) ** 2, axis=0) / pv  # (n_p,)
    E_modes = r**2 / (1.0 - gamma)[None, :]  # (K, n_p)
    Wt = E_modes * w2n[:, None]  # (K, n_p)
    eg = Wt.sum(axis=0)
    Wb = np.zeros((int(block.max()) + 1, Wt.shape[1]))
    np.add.at(Wb, block, Wt)  # error modes summed over each degenerate block
    r_em = np.sqrt(np.sum(Wb**2, axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        d_em = (eg / r_em) ** 2
        ratio = np.where(
            kappa > 0, pv * lr / np.where(kappa > 0, kappa, 1.0), 1.0 - np.sum(1.0 - r, axis=0) / pv
        )
    etr = ratio**2 * eg
    return pd.DataFrame(
        {
            "p": pv,
            "lambda_reg": np.full(pv.shape, lr),
            "kappa": kappa,
            "gamma": gamma,
            "eg_theory": eg,
            "etr_theory": etr,
            "r_em": r_em,
            "d_em": d_em,
        }
    )


def _kernel_ridge_residuals(
    G: np.ndarray, Yc: np.ndarray, tr: np.ndarray, ridge: float, rest: np.ndarray
) -> np.ndarray:
    """Squared residual per stimulus, Σ_n (Ŷ − Y_c)²_in (shape (P,)), of
    Ŷ = G[:, tr] (G[tr, tr] + ridge·I)⁻¹ Y_c[tr]; ``rest`` = the stimuli not in ``tr``.

    Cholesky of the p×p system (positive definite for ridge > 0). On the training rows the fit
    satisfies G[tr, tr]·coef = Y_c[tr] − ridge·coef, so their residuals are −ridge·coef exactly
    and cost no product with G (half the work at the largest p, where the held-out set is small;
    and without the cancellation Ŷ − Y_c when the fit nearly interpolates); only the other rows
    take G[rest, tr]·coef. If the Cholesky fails (ridge = 0 and a singular G[tr, tr]), the
    minimum-norm least-squares solution is used — the ridgeless limit — with both sets of rows
    from the product (the identity above does not hold for it)."""
    P = G.shape[0]
    A = G[np.ix_(tr, tr)].copy()
    A[np.diag_indices_from(A)] += ridge
    sq = np.empty(P)
    try:
        c = scipy.linalg.cho_factor(A, lower=True, check_finite=False)
        coef = scipy.linalg.cho_solve(c, Yc[tr], check_finite=False)
        sq[tr] = ridge * ridge * np.einsum("in,in->i", coef, coef)
        rows = rest
    except np.linalg.LinAlgError:
        coef = scipy.linalg.lstsq(A, Yc[tr], check_finite=False)[0]
        rows = np.concatenate([tr, rest])
    if rows.size:
        R = G[np.ix_(rows, tr)] @ coef
        R -= Yc[rows]
        sq[rows] = np.einsum("in,in->i", R, R)
    return sq


def target_factor(Yc: np.ndarray) -> np.ndarray:
    """A P × min(N, P) matrix F with F Fᵀ = Y_c Y_cᵀ (Y_c: P × N): Y_c itself when N ≤ P, else
    Rᵀ from the QR decomposition Y_cᵀ = QR (Householder, backward stable; 2NP² flops).

    Every quantity of the empirical learning curve is, per stimulus, a sum over targets of
    squared residuals of a fit that is linear in Y (R = M Y for an M fixed by the subset, the
    ridge and G), so Σ_n R_in² = (M Y Yᵀ Mᵀ)_ii: Y enters only through Y Yᵀ, and the fits may run
    on F instead, P columns instead of N. Equal up to rounding (tested against the fits on Y)."""
    P, N = Yc.shape
    if N <= P:
        return Yc
    return np.ascontiguousarray(np.linalg.qr(Yc.T, mode="r").T)


def _subset_order(rng: np.random.Generator, P: int, groups: np.ndarray | None):
    """One random order of the P stimuli for a training subset: ``rng.permutation(P)`` without
    groups; with groups, whole groups in random order (a permutation of the sorted labels), each
    group's stimuli in random order (``rng.random(P)`` keys). Returns (order, group index of
    each stimulus or None)."""
    if groups is None:
        return rng.permutation(P), None
    _, inverse = np.unique(groups, return_inverse=True)
    rank = np.empty(int(inverse.max()) + 1, dtype=np.int64)
    rank[rng.permutation(rank.size)] = np.arange(rank.size)
    within = rng.random(P)
    return np.lexsort((within, rank[inverse])), inverse


def empirical_learning_curve(
    G: np.ndarray,
    Yc: np.ndarray,
    p_values,
    lambda_reg: float,
    n_subsets: int = 5,
    seed=0,
    groups: np.ndarray | None = None,
    return_subsets: bool = False,
) -> pd.DataFrame:
    """Empirical learning curve of kernel ridge on random training subsets
    (``docs/design.md#theory``).

    For each p and each subset s = 0 … n_subsets−1, with tr ⊂ {0 … P−1}, |tr| = p, and
    te the held-out stimuli:

    - Ŷ = G[:, tr] (G[tr, tr] + p·λ_reg·I)⁻¹ Y_c[tr]               (P × N)
    - e_all = ‖Ŷ − Y_c‖²_F / ‖Y_c‖²_F                               (all P stimuli, the
      theory's population; compare with E_g)
    - e_tr  = (1/p)‖Ŷ[tr] − Y_c[tr]‖²_F / ((1/P)‖Y_c‖²_F)          (training rows; compare
      with E_tr)
    - e_te  = (1/|te|)‖Ŷ[te] − Y_c[te]‖²_F / ((1/P)‖Y_c‖²_F)       (held-out rows; NaN when
      none is left)

    e_tr and e_te are mean squared errors per stimulus normalised, like the theory, by the
    target variance per stimulus over all P stimuli; without groups
    e_all = (p/P)·e_tr + (1 − p/P)·e_te holds exactly.

    With more targets than stimuli (N > P) the fits run on :func:`target_factor` of Y_c, P
    columns with the same Y_c Y_cᵀ, which is all these sums depend on: the same numbers up to
    rounding, at P/N of the work.

    Subsets (deterministic): for each p, ``rng = numpy.random.default_rng([*seed, p])`` (seed an
    int or a sequence of ints) and subset s is the first p stimuli of the order drawn for s:

    - without groups, ``rng.permutation(P)`` (te = the other P − p stimuli);
    - with ``groups`` (one label per stimulus), whole groups in a random order, each group's
      stimuli in a random order (:func:`_subset_order`): the training subset holds whole groups
      except at most one, cut to reach exactly p, and te holds only the groups with no stimulus
      in the subset, so no held-out stimulus has a near-duplicate in training.

    Keying the generator on p means a p's subsets do not depend on which other p are on the grid.

    Parameters
    ----------
    G : (P, P) centred Gram over all P stimuli (:func:`predictivity.core.gram.centred_gram`).
    Yc : (P, N) (or (P,)) column-centred targets.
    p_values : (n_p,) integer training sizes, 1 ≤ p ≤ P.
    lambda_reg : λ_reg ≥ 0; the ridge is p·λ_reg.
    n_subsets : random training subsets per p (≥ 1).
    seed : integer seed, or a sequence of integers.
    groups : optional (P,) group labels.
    return_subsets : also return a dict p → (e_all, e_tr, e_te) arrays over the subsets.

    Returns
    -------
    DataFrame, n_p rows, columns ``p`` (int), ``eg_empirical`` (mean of e_all over subsets),
    ``eg_empirical_sd`` (s.d., ddof = 1 when n_subsets > 1 else 0), ``etr_empirical`` (mean of
    e_tr), ``eg_test_empirical`` (mean of e_te over the subsets that leave one out).
    """
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2 or G.shape[0] != G.shape[1]:
        raise ValueError(f"G must be square, got shape {G.shape}")
    P = G.shape[0]
    Yc = np.asarray(Yc, dtype=np.float64)
    if Yc.ndim == 1:
        Yc = Yc[:, None]
    if Yc.ndim != 2 or Yc.shape[0] != P:
        raise ValueError(f"Yc must have P = {P} rows, got shape {Yc.shape}")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (P,):
            raise ValueError(f"groups must have one label per stimulus ({P}), got {groups.shape}")
    lr = _lambda_reg(lambda_reg)
    n_subsets = int(n_subsets)
    if n_subsets < 1:
        raise ValueError(f"n_subsets must be ≥ 1, got {n_subsets}")
    p_arr = np.asarray(p_values).ravel()
    p_int = p_arr.astype(np.int64)
    if np.any(p_int != p_arr) or np.any(p_int < 1) or np.any(p_int > P):
        raise ValueError(f"p values must be integers in [1, {P}], got {p_arr}")
    key = [int(seed)] if np.ndim(seed) == 0 else [int(x) for x in seed]
    var = float(np.einsum("in,in->", Yc, Yc)) / P  # target variance per stimulus
    Yfit = target_factor(Yc)  # N > P targets: P columns with the same Y Yᵀ
    ddof = 1 if n_subsets > 1 else 0
    rows, raw = [], {}
    for p in p_int:
        p = int(p)
        rng = np.random.default_rng([*key, p])
        e_all = np.empty(n_subsets)
        e_tr = np.empty(n_subsets)
        e_te = np.empty(n_subsets)
        for s in range(n_subsets):
            order, inverse = _subset_order(rng, P, groups)
            tr = order[:p]
            if inverse is None:
                te = order[p:]
            else:
                seen = np.zeros(int(inverse.max()) + 1, dtype=bool)
                seen[inverse[tr]] = True
                te = np.flatnonzero(~seen[inverse])
            sq = _kernel_ridge_residuals(G, Yfit, tr, p * lr, order[p:])  # per stimulus
            with np.errstate(divide="ignore", invalid="ignore"):
                e_all[s] = sq.sum() / P / var
                e_tr[s] = sq[tr].sum() / p / var
                e_te[s] = sq[te].sum() / te.size / var if te.size else np.nan
        raw[p] = (e_all, e_tr, e_te)
        rows.append(
            {
                "p": p,
                "eg_empirical": float(e_all.mean()),
                "eg_empirical_sd": float(e_all.std(ddof=ddof)),
                "etr_empirical": float(e_tr.mean()),
                "eg_test_empirical": _nanmean(e_te),
            }
        )
    out = pd.DataFrame(
        rows, columns=["p", "eg_empirical", "eg_empirical_sd", "etr_empirical", "eg_test_empirical"]
    )
    return (out, raw) if return_subsets else out


def _nanmean(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(x[np.isfinite(x)].mean()) if np.isfinite(x).any() else float("nan")


def p_grid(
    P: int, n: int = 12, p_min: int = 5, p_max_fraction: float = 0.8, include=()
) -> np.ndarray:
    """Training sizes for the learning curves.

    p_max = ⌊p_max_fraction·P⌋; the grid is round(geomspace(p_min, p_max, n)) (≈ n log-spaced
    integers; fewer after removing duplicates when the range is short), united with the
    integers in ``include`` (e.g. p_train), sorted and unique.

    Parameters
    ----------
    P : number of stimuli.
    n : number of log-spaced points requested.
    p_min : smallest p (≥ 1).
    p_max_fraction : largest p as a fraction of P, in (0, 1].
    include : extra integer p values, each in [1, P].

    Returns
    -------
    (n_p,) int64 array, strictly increasing.

    Raises
    ------
    InputError when the range is empty (p_max < p_min) or an ``include`` value is out of range.
    """
    P = int(P)
    n = int(n)
    p_min = int(p_min)
    if n < 1:
        raise InputError(
            "theory learning-curve grid",
            f"n must be ≥ 1, got {n}.",
            "Ask for at least one training size.",
        )
    if not 0 < p_max_fraction <= 1:
        raise InputError(
            "theory learning-curve grid",
            f"p_max_fraction must be in (0, 1], got {p_max_fraction}.",
            "Use a fraction such as 0.8.",
        )
    p_max = int(np.floor(p_max_fraction * P))
    if p_min < 1 or p_max < p_min:
        raise InputError(
            "theory learning-curve grid",
            f"no training sizes between p_min = {p_min} and ⌊{p_max_fraction}·{P}⌋ = {p_max}.",
            "Use more stimuli, a smaller p_min or a larger p_max_fraction.",
        )
    grid = np.round(np.geomspace(p_min, p_max, n)).astype(np.int64)
    extra = np.asarray(list(include), dtype=np.float64).ravel()
    if extra.size:
        if np.any(extra != np.round(extra)) or np.any(extra < 1) or np.any(extra > P):
            raise InputError(
                "theory learning-curve grid",
                f"include values must be integers in [1, {P}], got {extra}.",
                "Pass training sizes that fit the number of stimuli.",
            )
        grid = np.concatenate([grid, extra.astype(np.int64)])
    return np.unique(grid)


THEORY_MEAN_COLUMNS = ["kappa", "gamma", "eg_theory", "etr_theory", "r_em", "d_em"]


def fold_population(G: np.ndarray, Yc: np.ndarray, tr: np.ndarray):
    """The training fold as the theory's population: (G_tr, Y_tr), both centred on the fold.

    G_tr = C G[tr, tr] C with C = I − 11ᵀ/n (the Gram of the activations centred over the n
    training stimuli; G may be centred over any superset, centring is translation invariant),
    Y_tr = Y[tr] − its mean over tr.
    """
    from predictivity.core.basis import fold_training_gram

    Yk = Yc[tr] - Yc[tr].mean(axis=0)
    return fold_training_gram(G, tr), Yk


def reference_size(n_population: int, n_folds: int) -> int:
    """p_ref = ⌊n·(K−1)/K⌋: the training size the theory is reported at, with n the smallest
    training fold (the population) — the regression's p_train = ⌊P(K−1)/K⌋ one level down."""
    return (int(n_population) * (int(n_folds) - 1)) // int(n_folds)


def layer_p_grid(
    n_population: int, n_folds: int, n_p: int = 12, p_min: int = 5, p_max_fraction: float = 0.8
) -> tuple[int, np.ndarray]:
    """The training sizes of :func:`layer_theory`: (p_ref, the p grid) for a population of the
    smallest training fold's n stimuli, p_ref = :func:`reference_size` included."""
    p_ref = reference_size(n_population, n_folds)
    grid = p_grid(
        n_population,
        n=n_p,
        p_min=min(p_min, p_ref),
        p_max_fraction=p_max_fraction,
        include=(p_ref,),
    )
    return p_ref, grid


def layer_theory(
    X: np.ndarray,
    Yc: np.ndarray,
    lambda_reg: float,
    folds: list[np.ndarray],
    n_p: int = 12,
    p_min: int = 5,
    p_max_fraction: float = 0.8,
    n_subsets: int = 5,
    seed: int = 0,
    groups: np.ndarray | None = None,
    basis=None,
) -> pd.DataFrame:
    """Stage 6 for one layer: theory beside the empirical learning curve, from training stimuli
    only (``docs/design.md#theory``).

    For each outer fold k of the regression (``folds``: test indices; training tr_k = the rest,
    n_k stimuli) the population is the training fold:

    - G_k, Y_k: Gram and targets centred on tr_k (:func:`fold_population`);
    - λ^(k), u^(k): eigenpairs of G_k/n_k (all n_k modes, so target variance outside the span of
      X counts as unlearnable); target weights W^(k) = U^(k)ᵀ Y_k/√n_k — no test response enters;
    - theory at each p: κ, γ, E_g, E_tr, R_em, D_em of :func:`theory_learning_curve`;
    - empirical at each p: :func:`empirical_learning_curve` on (G_k, Y_k), training subsets of
      whole groups when ``groups`` is given, generator keyed on (seed, k, p).

    Each reported column is the mean over the K folds (``eg_empirical_sd``: s.d. over all
    K·n_subsets subsets). The p grid is :func:`p_grid` of the smallest training fold
    n = min_k n_k, including p_ref = ⌊n(K−1)/K⌋ (:func:`reference_size`), the row flagged
    ``at_p_train``: inside its training fold the theory is evaluated exactly as it would be on a
    stimulus set of n stimuli split K-fold. ``lambda_reg`` = (median chosen α)/p_train is the
    ridge per training stimulus, so the ridge at p is p·λ_reg.

    Adds ``n_population`` (= n), ``n_folds``, ``n_subsets`` and ``at_p_train``.

    ``basis``: the layer's shared :class:`predictivity.core.basis.LayerBasis` for these folds;
    when given, its G and its eigendecomposition of each K_tr (= n_k G_k) are used, so no Gram
    is formed and no ``eigh`` is run here.
    """
    from predictivity.core.gram import centred_gram, working_dtype
    from predictivity.core.spectra import eigenspectrum, ordered_eigenpairs, target_weights

    P = X.shape[0]
    K = len(folds)
    trains = [np.setdiff1d(np.arange(P), te) for te in folds]
    n_pop = min(len(tr) for tr in trains)
    p_ref, p_values = layer_p_grid(n_pop, K, n_p, p_min, p_max_fraction)
    dtype = working_dtype(X) if basis is None else basis.dtype
    G = centred_gram(X) if basis is None else basis.G
    th_parts, raws = [], []
    for k, tr in enumerate(trains):
        Gk, Yk = fold_population(G, Yc, tr)
        if basis is None:
            lam, U = eigenspectrum(Gk)
        else:
            f = basis.fold(tr, folds[k])
            lam, U = ordered_eigenpairs(f.s, f.Q, scale=1.0 / len(tr))
        W = target_weights(U, Yk)
        th_parts.append(theory_learning_curve(lam, W, p_values, lambda_reg, dtype=dtype))
        _, raw = empirical_learning_curve(
            Gk,
            Yk,
            p_values,
            lambda_reg,
            n_subsets=n_subsets,
            seed=(int(seed), k),
            groups=None if groups is None else np.asarray(groups)[tr],
            return_subsets=True,
        )
        raws.append(raw)
    df = pd.DataFrame({"p": p_values, "lambda_reg": float(lambda_reg)})
    for col in THEORY_MEAN_COLUMNS:
        df[col] = np.mean([t[col].to_numpy() for t in th_parts], axis=0)
    ddof = 1 if K * n_subsets > 1 else 0
    e_all = [np.concatenate([r[int(p)][0] for r in raws]) for p in p_values]
    df["eg_empirical"] = [float(e.mean()) for e in e_all]
    df["eg_empirical_sd"] = [float(e.std(ddof=ddof)) for e in e_all]
    df["etr_empirical"] = [
        float(np.concatenate([r[int(p)][1] for r in raws]).mean()) for p in p_values
    ]
    df["eg_test_empirical"] = [
        _nanmean(np.concatenate([r[int(p)][2] for r in raws])) for p in p_values
    ]
    df["n_population"] = n_pop
    df["n_folds"] = K
    df["n_subsets"] = n_subsets
    df["at_p_train"] = df["p"] == p_ref
    return df


def model_theory(
    layers: dict[str, np.ndarray],
    Y: np.ndarray,
    alpha_median: dict[str, float],
    p_train: int,
    folds: list[np.ndarray],
    n_p: int = 12,
    p_min: int = 5,
    p_max_fraction: float = 0.8,
    n_subsets: int = 5,
    seed: int = 0,
    groups: np.ndarray | None = None,
    bases: dict | None = None,
) -> pd.DataFrame:
    """Stage 6 for every layer of a model (:func:`layer_theory`); λ_reg of a layer =
    alpha_median[layer] / p_train (one λ_reg per layer, from the median over targets of the
    chosen alpha; p_train = ⌊P(K−1)/K⌋, the regression's training size)."""
    Yc = np.asarray(Y, dtype=np.float64)
    Yc = Yc - Yc.mean(axis=0)
    frames = []
    for index, (name, X) in enumerate(layers.items()):
        df = layer_theory(
            X,
            Yc,
            float(alpha_median[name]) / p_train,
            folds,
            n_p=n_p,
            p_min=p_min,
            p_max_fraction=p_max_fraction,
            n_subsets=n_subsets,
            seed=seed,
            groups=groups,
            basis=None if bases is None else bases.get(name),
        )
        df.insert(0, "layer", name)
        df.insert(1, "layer_index", index)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
