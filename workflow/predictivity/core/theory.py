"""Spectral theory of kernel ridge regression and its empirical counterpart (DESIGN §3.3).

Conventions (the contract; those of Canatar et al. 2024, code "SNAP"):

- G = X_c X_cᵀ ∈ R^{P×P}, the Gram of the activations centred over all P stimuli.
- λ_i, i = 1 … P: eigenvalues of **G/P**; u_i unit-norm eigenvectors, v_i = √P·u_i;
  target weights w_in = v_iᵀ Y_c[:, n] / P (:func:`predictivity.core.spectra.target_weights`).
- Ridge with p training stimuli uses the **unnormalised** G and ridge p·λ_reg:
  ŷ = G[:, tr] (G[tr, tr] + p·λ_reg·I)⁻¹ Y_c[tr], so the regression α of DESIGN §3.1 is p·λ_reg.

All errors are normalised by the target variance over the P stimuli, Σ_i Σ_n w_in² =
‖Y_c‖²_F / P, so an error of 1 is "predicts the mean" and 1 − E is an R².
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg

from predictivity.errors import InputError

__all__ = [
    "solve_kappa",
    "theory_learning_curve",
    "empirical_learning_curve",
    "p_grid",
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
    n_stimuli: int | None = None,
) -> pd.DataFrame:
    """Theoretical learning curve and error-mode geometry (DESIGN §3.3), one row per p.

    With κ = κ(p) from :func:`solve_kappa` and r_i = κ/(pλ_i + κ):

    - γ = Σ_i pλ_i²/(pλ_i + κ)² = (1/p) Σ_i (1 − r_i)²
    - w̃_i² = Σ_n w_in² / Σ_j Σ_n w_jn²   (target weights normalised to unit sum)
    - mode errors E_i = κ²/((1 − γ)(pλ_i + κ)²) = r_i²/(1 − γ)
    - E_g = κ²/(1 − γ) · Σ_i Σ_n w_in²/(pλ_i + κ)² / Σ_i Σ_n w_in² = Σ_i E_i w̃_i²
    - E_tr = (p·λ_reg/κ)² · E_g (training error, Canatar et al. 2021); at κ = 0 (λ_reg = 0,
      ridgeless) the ratio p·λ_reg/κ is replaced by its limit 1 − Σ_i λ_i/(pλ_i + κ)
      = 1 − (1/p) Σ_i (1 − r_i), which equals it at the root for κ > 0.
    - E_test = (E_g − (p/P)·E_tr)/(1 − p/P), P = number of stimuli; NaN when p ≥ P.
    - error modes W̃_i = E_i·w̃_i² (so Σ_i W̃_i = E_g); R_em = ‖W̃‖₂; D_em = (Σ_i W̃_i / ‖W̃‖₂)².

    DESIGN says "normalise λ to unit trace" for the error-mode geometry. No separate step is
    needed: κ is homogeneous of degree 1 in (λ, λ_reg) jointly (scaling both by c scales κ by c),
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
    n_stimuli : P for E_test; default K = len(eigenvalues).

    Returns
    -------
    DataFrame, n_p rows, columns ``p, lambda_reg, kappa, gamma, eg_theory, etr_theory,
    eg_test_theory, r_em, d_em``.
    """
    lam = _eigenvalues(eigenvalues)
    lr = _lambda_reg(lambda_reg)
    W = np.asarray(W, dtype=np.float64)
    if W.ndim == 1:
        W = W[:, None]
    if W.ndim != 2 or W.shape[0] != lam.shape[0]:
        raise ValueError(f"W must have one row per eigenvalue ({lam.shape[0]}), got {W.shape}")
    P = lam.shape[0] if n_stimuli is None else int(n_stimuli)
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
    r_em = np.sqrt(np.sum(Wt**2, axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        d_em = (eg / r_em) ** 2
        ratio = np.where(
            kappa > 0, pv * lr / np.where(kappa > 0, kappa, 1.0), 1.0 - np.sum(1.0 - r, axis=0) / pv
        )
    etr = ratio**2 * eg
    frac = pv / P
    with np.errstate(divide="ignore", invalid="ignore"):
        eg_test = np.where(frac < 1.0, (eg - frac * etr) / (1.0 - frac), np.nan)
    return pd.DataFrame(
        {
            "p": pv,
            "lambda_reg": np.full(pv.shape, lr),
            "kappa": kappa,
            "gamma": gamma,
            "eg_theory": eg,
            "etr_theory": etr,
            "eg_test_theory": eg_test,
            "r_em": r_em,
            "d_em": d_em,
        }
    )


def _kernel_ridge_fit(G: np.ndarray, Yc: np.ndarray, tr: np.ndarray, ridge: float) -> np.ndarray:
    """Ŷ = G[:, tr] (G[tr, tr] + ridge·I)⁻¹ Y_c[tr], shape (P, N).

    Cholesky of the p×p system (positive definite for ridge > 0). If it fails (ridge = 0 and a
    singular G[tr, tr]), the minimum-norm least-squares solution is used — the ridgeless limit."""
    A = G[np.ix_(tr, tr)].copy()
    A[np.diag_indices_from(A)] += ridge
    try:
        c = scipy.linalg.cho_factor(A, lower=True, check_finite=False)
        coef = scipy.linalg.cho_solve(c, Yc[tr], check_finite=False)
    except np.linalg.LinAlgError:
        coef = scipy.linalg.lstsq(A, Yc[tr], check_finite=False)[0]
    return G[:, tr] @ coef


def empirical_learning_curve(
    G: np.ndarray, Yc: np.ndarray, p_values, lambda_reg: float, n_subsets: int = 5, seed: int = 0
) -> pd.DataFrame:
    """Empirical learning curve of kernel ridge on random training subsets (DESIGN §3.3).

    For each p and each subset s = 0 … n_subsets−1, with tr ⊂ {0 … P−1}, |tr| = p, and
    te its complement:

    - Ŷ = G[:, tr] (G[tr, tr] + p·λ_reg·I)⁻¹ Y_c[tr]               (P × N)
    - e_all = ‖Ŷ − Y_c‖²_F / ‖Y_c‖²_F                               (all P stimuli, the
      theory's population; compare with E_g)
    - e_tr  = (1/p)‖Ŷ[tr] − Y_c[tr]‖²_F / ((1/P)‖Y_c‖²_F)          (training rows; compare
      with E_tr)
    - e_te  = (1/(P−p))‖Ŷ[te] − Y_c[te]‖²_F / ((1/P)‖Y_c‖²_F)      (held-out rows; compare
      with E_test; NaN when p = P)

    e_tr and e_te are mean squared errors per stimulus normalised, like the theory, by the
    target variance per stimulus over all P stimuli, so e_all = (p/P)·e_tr + (1 − p/P)·e_te
    holds exactly, the same identity that defines E_test from E_g and E_tr.

    Subsets (deterministic): for each p, ``rng = numpy.random.default_rng([seed, p])`` and subset
    s is ``rng.permutation(P)[:p]`` for s = 0, 1, … in turn. Keying the generator on p means a
    p's subsets do not depend on which other p are on the grid.

    Parameters
    ----------
    G : (P, P) centred Gram over all P stimuli (:func:`predictivity.core.gram.centred_gram`).
    Yc : (P, N) (or (P,)) column-centred targets.
    p_values : (n_p,) integer training sizes, 1 ≤ p ≤ P.
    lambda_reg : λ_reg ≥ 0; the ridge is p·λ_reg.
    n_subsets : random training subsets per p (≥ 1).
    seed : integer seed.

    Returns
    -------
    DataFrame, n_p rows, columns ``p`` (int), ``eg_empirical`` (mean of e_all over subsets),
    ``eg_empirical_sd`` (s.d., ddof = 1 when n_subsets > 1 else 0), ``etr_empirical`` (mean of
    e_tr), ``eg_test_empirical`` (mean of e_te).
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
    lr = _lambda_reg(lambda_reg)
    n_subsets = int(n_subsets)
    if n_subsets < 1:
        raise ValueError(f"n_subsets must be ≥ 1, got {n_subsets}")
    p_arr = np.asarray(p_values).ravel()
    p_int = p_arr.astype(np.int64)
    if np.any(p_int != p_arr) or np.any(p_int < 1) or np.any(p_int > P):
        raise ValueError(f"p values must be integers in [1, {P}], got {p_arr}")
    var = float(np.einsum("in,in->", Yc, Yc)) / P  # target variance per stimulus
    ddof = 1 if n_subsets > 1 else 0
    rows = []
    for p in p_int:
        p = int(p)
        rng = np.random.default_rng([int(seed), p])
        e_all = np.empty(n_subsets)
        e_tr = np.empty(n_subsets)
        e_te = np.empty(n_subsets)
        for s in range(n_subsets):
            perm = rng.permutation(P)
            tr, te = perm[:p], perm[p:]
            R = _kernel_ridge_fit(G, Yc, tr, p * lr) - Yc
            sq = np.einsum("in,in->i", R, R)  # squared residual per stimulus
            with np.errstate(divide="ignore", invalid="ignore"):
                e_all[s] = sq.sum() / P / var
                e_tr[s] = sq[tr].sum() / p / var
                e_te[s] = sq[te].sum() / (P - p) / var if p < P else np.nan
        rows.append(
            {
                "p": p,
                "eg_empirical": float(e_all.mean()),
                "eg_empirical_sd": float(e_all.std(ddof=ddof)),
                "etr_empirical": float(e_tr.mean()),
                "eg_test_empirical": float(e_te.mean()),
            }
        )
    return pd.DataFrame(
        rows, columns=["p", "eg_empirical", "eg_empirical_sd", "etr_empirical", "eg_test_empirical"]
    )


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


def layer_theory(
    X: np.ndarray,
    Yc: np.ndarray,
    lambda_reg: float,
    p_values,
    p_train: int,
    n_subsets: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """Stage 6 for one layer: theory beside the empirical learning curve on the same p grid.

    X : (P, M) activations; Yc : (P, N) centred targets; lambda_reg = (median chosen α)/p_train.
    The spectrum is that of G/P with G = X_c X_cᵀ over all P stimuli (all P modes, so target
    variance outside the span of X counts as unlearnable). Adds ``at_p_train`` (the row whose p is
    the K-fold training size, from which the layers table takes theory_r2 and empirical_r2_all).
    """
    from predictivity.core.gram import centred_gram
    from predictivity.core.spectra import eigenspectrum, target_weights

    G = centred_gram(X)
    lam, U = eigenspectrum(G)
    W = target_weights(U, Yc)
    th = theory_learning_curve(lam, W, p_values, lambda_reg, n_stimuli=X.shape[0])
    emp = empirical_learning_curve(G, Yc, p_values, lambda_reg, n_subsets=n_subsets, seed=seed)
    df = th.merge(emp, on="p", how="left", validate="one_to_one")
    df["n_subsets"] = n_subsets
    df["at_p_train"] = df["p"] == p_train
    return df


def model_theory(
    layers: dict[str, np.ndarray],
    Y: np.ndarray,
    alpha_median: dict[str, float],
    p_train: int,
    n_p: int = 12,
    p_min: int = 5,
    p_max_fraction: float = 0.8,
    n_subsets: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """Stage 6 for every layer of a model; λ_reg of a layer = alpha_median[layer] / p_train
    (DESIGN §3.3: one λ_reg per layer, from the median over targets of the chosen alpha)."""
    Yc = np.asarray(Y, dtype=np.float64)
    Yc = Yc - Yc.mean(axis=0)
    P = Yc.shape[0]
    p_values = p_grid(
        P, n=n_p, p_min=min(p_min, p_train), p_max_fraction=p_max_fraction, include=(p_train,)
    )
    frames = []
    for index, (name, X) in enumerate(layers.items()):
        df = layer_theory(
            X, Yc, float(alpha_median[name]) / p_train, p_values, p_train, n_subsets, seed
        )
        df.insert(0, "layer", name)
        df.insert(1, "layer_index", index)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
