"""Tests of predictivity.core.theory against independent references: brentq for κ, explicit loops and
closed forms for E_g, primal ridge for the empirical curve, and theory vs simulation."""

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from predictivity.core.gram import centred_gram
from predictivity.core.ridge import make_folds
from predictivity.core.spectra import eigenspectrum, target_weights
from predictivity.core.theory import (
    degenerate_blocks,
    empirical_learning_curve,
    layer_theory,
    p_grid,
    solve_kappa,
    target_factor,
    theory_learning_curve,
)
from predictivity.errors import InputError


def _kappa_brentq(lam, p, lambda_reg):
    f = lambda k: k - p * lambda_reg - k * np.sum(lam / (p * lam + k))  # noqa: E731
    return brentq(f, 1e-300, p * lambda_reg + lam.sum(), xtol=1e-300, rtol=1e-15, maxiter=5000)


FLAT = np.full(200, 1.0 / 200)
POWER = np.arange(1, 401, dtype=float) ** -1.2
POWER_NULL = np.r_[np.arange(1, 301, dtype=float) ** -2.0, np.zeros(100)]


# ---------------------------------------------------------------- κ


@pytest.mark.parametrize("lam", [FLAT, POWER, POWER_NULL], ids=["flat", "power", "power+null"])
@pytest.mark.parametrize("lambda_reg", [1e-1, 1e-3, 1e-6, 1e-10, 1e-14])
def test_solve_kappa_matches_brentq(lam, lambda_reg):
    ps = np.array([1, 5, 50, 199, 200, 201, 300, 301, 1000, 1e5])
    kappa = solve_kappa(lam, ps, lambda_reg)
    assert kappa.shape == ps.shape
    ref = np.array([_kappa_brentq(lam, p, lambda_reg) for p in ps])
    np.testing.assert_allclose(kappa, ref, rtol=1e-8)


def test_solve_kappa_where_fixed_point_is_slow():
    # flat spectrum, p equal to its rank, tiny ridge: the fixed-point map contracts by γ ≈ 1
    lam, p, lr = FLAT, 200.0, 1e-6
    ref = _kappa_brentq(lam, p, lr)
    k = p * lr + lam.sum()
    for _ in range(100):
        k = p * lr + k * np.sum(lam / (p * lam + k))
    assert abs(k / ref - 1) > 1e-2  # the plain iteration is still far off after 100 steps
    kappa = solve_kappa(lam, p, lr, max_iter=100)
    assert kappa.shape == ()
    assert float(kappa) == pytest.approx(ref, rel=1e-8)


def test_solve_kappa_raises_when_not_converged():
    with pytest.raises(ValueError, match="converge"):
        solve_kappa(POWER, [10, 100], 1e-6, max_iter=1)
    with pytest.raises(ValueError):
        solve_kappa(POWER, [0, 10], 1e-3)
    with pytest.raises(ValueError):
        solve_kappa(POWER, 10, -1.0)


def test_solve_kappa_ridgeless_closed_form():
    # λ_reg = 0, K equal eigenvalues c: κ² + κ c(p − K) = 0 ⇒ κ = c(K − p) for p < K, else 0
    K, c = 10, 0.3
    lam = np.r_[np.full(K, c), np.zeros(5)]
    ps = np.array([1, 4, 9, 10, 11, 100])
    np.testing.assert_allclose(
        solve_kappa(lam, ps, 0.0), np.maximum(c * (K - ps), 0.0), rtol=1e-10, atol=1e-12
    )


# ---------------------------------------------------------------- theory curve


def _eg_bruteforce(lam, W, p, lambda_reg):
    """E_g and E_tr written as explicit loops over modes and targets (docs/design.md#theory)."""
    kappa = _kappa_brentq(lam, p, lambda_reg)
    gamma = 0.0
    for li in lam:
        gamma += p * li * li / (p * li + kappa) ** 2
    num = 0.0
    den = 0.0
    for i, li in enumerate(lam):
        for n in range(W.shape[1]):
            num += W[i, n] ** 2 / (p * li + kappa) ** 2
            den += W[i, n] ** 2
    eg = kappa**2 / (1 - gamma) * num / den
    etr = (p * lambda_reg / kappa) ** 2 * eg
    return kappa, gamma, eg, etr


def test_theory_matches_bruteforce_loops():
    rng = np.random.default_rng(0)
    lam = np.sort(rng.exponential(size=60) * np.arange(1, 61) ** -1.5)[::-1]
    W = rng.standard_normal((60, 3)) * np.arange(1, 61)[:, None] ** -0.5
    ps = [2, 10, 45]
    lr = 1e-2
    t = theory_learning_curve(lam, W, ps, lr)
    assert list(t.columns) == [
        "p",
        "lambda_reg",
        "kappa",
        "gamma",
        "eg_theory",
        "etr_theory",
        "r_em",
        "d_em",
    ]
    assert len(t) == 3
    for row, p in zip(t.itertuples(), ps):
        kappa, gamma, eg, etr = _eg_bruteforce(lam, W, p, lr)
        assert row.p == p and row.lambda_reg == lr
        assert row.kappa == pytest.approx(kappa, rel=1e-9)
        assert row.gamma == pytest.approx(gamma, rel=1e-9)
        assert row.eg_theory == pytest.approx(eg, rel=1e-9)
        assert row.etr_theory == pytest.approx(etr, rel=1e-9)
        # error modes from their definition, as loops
        E = [kappa**2 / ((1 - gamma) * (p * li + kappa) ** 2) for li in lam]
        w2 = (W**2).sum(axis=1) / (W**2).sum()
        Wt = np.array([E[i] * w2[i] for i in range(len(lam))])
        assert row.r_em == pytest.approx(np.sqrt(np.sum(Wt**2)), rel=1e-9)
        assert row.d_em == pytest.approx(Wt.sum() ** 2 / np.sum(Wt**2), rel=1e-9)


@pytest.mark.parametrize("lambda_reg", [1e-3, 0.5])
def test_theory_white_spectrum_closed_form(lambda_reg):
    # K equal eigenvalues c plus null modes; target variance a on the white modes, b on null ones
    K, n_null, c = 50, 30, 0.02
    lam = np.r_[np.full(K, c), np.zeros(n_null)]
    W = np.zeros((K + n_null, 1))
    W[:K, 0] = 1.0 / np.sqrt(K) * np.sqrt(0.7)
    W[K:, 0] = 1.0 / np.sqrt(n_null) * np.sqrt(0.3)
    for p in [5, 20, 49, 50, 70]:
        # κ(pc + κ) = pλ(pc + κ) + κKc  ⇒  κ² + bκ − p²cλ = 0, b = c(p − K) − pλ
        b = c * (p - K) - p * lambda_reg
        kappa = (-b + np.sqrt(b * b + 4 * p * p * c * lambda_reg)) / 2
        gamma = K * p * c * c / (p * c + kappa) ** 2
        eg = (0.7 * kappa**2 / (p * c + kappa) ** 2 + 0.3) / (1 - gamma)
        t = theory_learning_curve(lam, W, [p], lambda_reg).iloc[0]
        assert t.kappa == pytest.approx(kappa, rel=1e-10)
        assert t.gamma == pytest.approx(gamma, rel=1e-10)
        assert t.eg_theory == pytest.approx(eg, rel=1e-10)
        assert t.etr_theory == pytest.approx((p * lambda_reg / kappa) ** 2 * eg, rel=1e-10)


def test_theory_single_eigenvalue_closed_form():
    # one non-zero eigenvalue μ and all target variance on it:
    # κ² + κ(pμ − μ − pλ) − p²μλ = 0; E_g = κ²/((1 − γ)(pμ + κ)²), γ = pμ²/(pμ + κ)²
    mu, lr = 2.0, 0.1
    lam = np.r_[mu, np.zeros(9)]
    W = np.zeros((10, 2))
    W[0] = [1.0, -3.0]
    for p in [1, 3, 8]:
        b = p * mu - mu - p * lr
        kappa = (-b + np.sqrt(b * b + 4 * p * p * mu * lr)) / 2
        gamma = p * mu**2 / (p * mu + kappa) ** 2
        t = theory_learning_curve(lam, W, [p], lr).iloc[0]
        assert t.eg_theory == pytest.approx(
            kappa**2 / ((1 - gamma) * (p * mu + kappa) ** 2), rel=1e-10
        )
        assert t.d_em == pytest.approx(1.0, rel=1e-12)  # a single error mode
        assert t.r_em == pytest.approx(t.eg_theory, rel=1e-12)


def test_theory_invariant_to_joint_rescaling():
    rng = np.random.default_rng(1)
    lam = np.arange(1, 101, dtype=float) ** -1.1
    W = rng.standard_normal((100, 4))
    a = theory_learning_curve(lam, W, [5, 20, 80], 1e-3)
    b = theory_learning_curve(37.0 * lam, 2.5 * W, [5, 20, 80], 37.0 * 1e-3)
    for col in ["gamma", "eg_theory", "etr_theory", "r_em", "d_em"]:
        np.testing.assert_allclose(b[col], a[col], rtol=1e-10)
    np.testing.assert_allclose(b["kappa"], 37.0 * a["kappa"], rtol=1e-10)
    # but not to rescaling λ alone: λ_reg must be in the same units
    c = theory_learning_curve(37.0 * lam, W, [5, 20, 80], 1e-3)
    assert np.max(np.abs(c["eg_theory"] / a["eg_theory"] - 1)) > 1e-2


@pytest.mark.parametrize("lambda_reg", [1e-3, 1e-250, 0.0])
def test_null_modes_are_unlearnable(lambda_reg):
    # target variance only on λ = 0 modes: every such mode keeps its full weight, inflated by
    # 1/(1 − γ), whatever κ is (even when κ underflows or is exactly 0)
    lam = np.r_[np.arange(1, 21, dtype=float) ** -1.0, np.zeros(20)]
    W = np.zeros((40, 1))
    W[20:, 0] = np.linspace(1, 2, 20)
    t = theory_learning_curve(lam, W, [5, 15, 30, 39], lambda_reg)
    assert np.all(np.isfinite(t["eg_theory"]))
    np.testing.assert_allclose(t["eg_theory"] * (1 - t["gamma"]), 1.0, rtol=1e-12)
    assert np.all(t["eg_theory"] >= 1.0)


def test_ridgeless_above_rank_is_finite():
    # λ_reg = 0, p > rank: κ = 0, γ = rank/p, E_tr = (1 − rank/p)² E_g
    lam = np.r_[np.full(10, 0.1), np.zeros(40)]
    W = np.ones((50, 1))
    t = theory_learning_curve(lam, W, [20, 40], 0.0)
    np.testing.assert_array_equal(t["kappa"], [0.0, 0.0])
    np.testing.assert_allclose(t["gamma"], [0.5, 0.25], rtol=1e-12)
    # learned modes: error 0; null modes: 40/50 of the variance over (1 − γ)
    np.testing.assert_allclose(t["eg_theory"], 0.8 / (1 - t["gamma"]), rtol=1e-12)
    np.testing.assert_allclose(t["etr_theory"], (1 - t["gamma"]) ** 2 * t["eg_theory"], rtol=1e-12)


def test_no_held_out_theory_column_and_bad_w():
    lam = np.arange(1, 51, dtype=float) ** -1.0
    W = np.random.default_rng(2).standard_normal((50, 2))
    t = theory_learning_curve(lam, W, [10, 49, 50, 60], 1e-2)
    assert "eg_test_theory" not in t.columns
    assert np.all(np.isfinite(t["eg_theory"]))
    with pytest.raises(ValueError):
        theory_learning_curve(lam, W[:-1], [10], 1e-2)


# ---------------------------------------------------------------- empirical curve


@pytest.fixture(scope="module")
def power_law_data():
    """P = 400 stimuli, M = 600 units with population spectrum i^-1.2 in a random orthogonal
    basis; 8 targets = random linear readouts of X plus 50 % noise (in s.d.)."""
    P, M, N = 400, 600, 8
    rng = np.random.default_rng(1)
    pop = np.arange(1, M + 1, dtype=float) ** -1.2
    O, _ = np.linalg.qr(rng.standard_normal((M, M)))
    X = (rng.standard_normal((P, M)) * np.sqrt(pop)) @ O.T
    Y = X @ rng.standard_normal((M, N))
    Y = Y + 0.5 * Y.std(axis=0) * rng.standard_normal((P, N))
    G = centred_gram(X)
    Yc = Y - Y.mean(axis=0)
    lam, U = eigenspectrum(G)
    W = target_weights(U, Yc)
    return dict(X=X, G=G, Yc=Yc, lam=lam, W=W, P=P, lambda_reg=1e-3 * lam.sum())


def test_theory_matches_empirical_for_small_p(power_law_data):
    d = power_law_data
    P = d["P"]
    ps = p_grid(P, n=10, p_min=5, p_max_fraction=0.25)
    th = theory_learning_curve(d["lam"], d["W"], ps, d["lambda_reg"])
    em = empirical_learning_curve(d["G"], d["Yc"], ps, d["lambda_reg"], n_subsets=30, seed=0)
    rel = em["eg_empirical"].to_numpy() / th["eg_theory"].to_numpy() - 1
    assert np.all(np.abs(rel) < 0.05), rel
    # the curve is really learning something (the comparison is not trivially 1 vs 1)
    assert th["eg_theory"].iloc[-1] < 0.6 * th["eg_theory"].iloc[0]
    rel_tr = em["etr_empirical"].to_numpy() / th["etr_theory"].to_numpy() - 1
    assert np.all(np.abs(rel_tr) < 0.10), rel_tr


def test_theory_and_empirical_disagree_with_wrong_ridge_convention(power_law_data):
    # mixing G/P into the regression breaks the theory by a factor P — the comparison
    # above must be able to detect that
    d = power_law_data
    P = d["P"]
    ps = np.array([20, 50])
    th = theory_learning_curve(d["lam"], d["W"], ps, d["lambda_reg"])
    em = empirical_learning_curve(d["G"] / P, d["Yc"], ps, d["lambda_reg"], n_subsets=10)
    rel = em["eg_empirical"].to_numpy() / th["eg_theory"].to_numpy() - 1
    assert np.all(np.abs(rel) > 0.05)


def test_empirical_matches_primal_ridge(power_law_data):
    # one subset, rebuilt by hand from the documented draw, fitted in primal (weight) form:
    # Ŷ = X_c (X_c[tr]ᵀ X_c[tr] + αI)⁻¹ X_c[tr]ᵀ Y_c[tr], α = p·λ_reg
    d = power_law_data
    X, Yc, P, lr = d["X"], d["Yc"], d["P"], d["lambda_reg"]
    Xc = X - X.mean(axis=0)
    seed = 3
    out = empirical_learning_curve(d["G"], Yc, [40, 100], lr, n_subsets=1, seed=seed)
    assert list(out.columns) == [
        "p",
        "eg_empirical",
        "eg_empirical_sd",
        "etr_empirical",
        "eg_test_empirical",
    ]
    for row in out.itertuples():
        p = row.p
        tr = np.random.default_rng([seed, p]).permutation(P)[:p]
        te = np.setdiff1d(np.arange(P), tr)
        A = Xc[tr].T @ Xc[tr] + p * lr * np.eye(Xc.shape[1])
        Yhat = Xc @ np.linalg.solve(A, Xc[tr].T @ Yc[tr])
        sst = np.sum(Yc**2)
        assert row.eg_empirical == pytest.approx(np.sum((Yhat - Yc) ** 2) / sst, rel=1e-8)
        assert row.etr_empirical == pytest.approx(
            np.sum((Yhat[tr] - Yc[tr]) ** 2) / p / (sst / P), rel=1e-8
        )
        assert row.eg_test_empirical == pytest.approx(
            np.sum((Yhat[te] - Yc[te]) ** 2) / (P - p) / (sst / P), rel=1e-8
        )
        assert row.eg_empirical_sd == 0.0  # ddof = 0 with a single subset


@pytest.mark.parametrize("lambda_reg", [1e-2, 1e-4])
def test_empirical_with_more_targets_than_stimuli_matches_primal_ridge(lambda_reg):
    # N = 150 targets on P = 60 stimuli: the fits run on target_factor(Y_c) (60 columns);
    # every number must equal the primal (weight-form) fit of all 150 targets (M = 40 < p = 45:
    # the fit nearly interpolates at the small ridge)
    rng = np.random.default_rng(11)
    P, M, N = 60, 40, 150
    X = rng.standard_normal((P, M)) * np.linspace(1.0, 0.05, M)
    Y = X @ rng.standard_normal((M, N)) + rng.standard_normal((P, N))
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    F = target_factor(Yc)
    assert F.shape == (P, P)
    np.testing.assert_allclose(F @ F.T, Yc @ Yc.T, rtol=0, atol=1e-12 * np.abs(Yc @ Yc.T).max())
    assert target_factor(Yc[:, :P]) is Yc[:, :P] or np.shares_memory(target_factor(Yc[:, :P]), Yc)
    out = empirical_learning_curve(centred_gram(X), Yc, [20, 45], lambda_reg, n_subsets=1, seed=2)
    sst = np.sum(Yc**2)
    for row in out.itertuples():
        p = row.p
        tr = np.random.default_rng([2, p]).permutation(P)[:p]
        te = np.setdiff1d(np.arange(P), tr)
        coef = np.linalg.solve(Xc[tr].T @ Xc[tr] + p * lambda_reg * np.eye(M), Xc[tr].T @ Yc[tr])
        Yhat = Xc @ coef
        assert row.eg_empirical == pytest.approx(np.sum((Yhat - Yc) ** 2) / sst, rel=1e-8)
        assert row.etr_empirical == pytest.approx(
            np.sum((Yhat[tr] - Yc[tr]) ** 2) / p / (sst / P), rel=1e-8, abs=1e-12
        )
        assert row.eg_test_empirical == pytest.approx(
            np.sum((Yhat[te] - Yc[te]) ** 2) / (P - p) / (sst / P), rel=1e-8
        )


def test_empirical_is_deterministic_and_grid_independent(power_law_data):
    d = power_law_data
    a = empirical_learning_curve(d["G"], d["Yc"], [10, 30], d["lambda_reg"], n_subsets=3, seed=5)
    b = empirical_learning_curve(
        d["G"], d["Yc"], [30, 60, 10], d["lambda_reg"], n_subsets=3, seed=5
    )
    pd.testing.assert_frame_equal(a.set_index("p"), b.set_index("p").loc[[10, 30]])
    c = empirical_learning_curve(d["G"], d["Yc"], [10, 30], d["lambda_reg"], n_subsets=3, seed=6)
    assert not np.allclose(a["eg_empirical"], c["eg_empirical"])
    # s.d. uses ddof = 1 across subsets
    assert np.all(a["eg_empirical_sd"] > 0)
    # e_all = (p/P) e_tr + (1 − p/P) e_te holds subset by subset, hence for the means
    frac = a["p"] / d["P"]
    np.testing.assert_allclose(
        frac * a["etr_empirical"] + (1 - frac) * a["eg_test_empirical"],
        a["eg_empirical"],
        rtol=1e-12,
    )


def test_empirical_ridgeless_singular_falls_back_to_min_norm():
    # rank-3 Gram, p = 10 > rank, λ_reg = 0: G[tr, tr] is singular; min-norm solution
    rng = np.random.default_rng(4)
    P = 30
    X = rng.standard_normal((P, 3))
    G = centred_gram(X)
    Yc = rng.standard_normal((P, 2))
    Yc -= Yc.mean(axis=0)
    out = empirical_learning_curve(G, Yc, [10], 0.0, n_subsets=1, seed=0).iloc[0]
    tr = np.random.default_rng([0, 10]).permutation(P)[:10]
    Yhat = G[:, tr] @ np.linalg.pinv(G[np.ix_(tr, tr)]) @ Yc[tr]
    assert np.isfinite(out.eg_empirical)
    assert out.eg_empirical == pytest.approx(np.sum((Yhat - Yc) ** 2) / np.sum(Yc**2), rel=1e-6)


def test_empirical_rejects_bad_p(power_law_data):
    d = power_law_data
    with pytest.raises(ValueError):
        empirical_learning_curve(d["G"], d["Yc"], [0], 1e-3)
    with pytest.raises(ValueError):
        empirical_learning_curve(d["G"], d["Yc"], [401], 1e-3)
    with pytest.raises(ValueError):
        empirical_learning_curve(d["G"], d["Yc"], [10.5], 1e-3)
    with pytest.raises(ValueError):
        empirical_learning_curve(d["G"], d["Yc"][:-1], [10], 1e-3)


# ---------------------------------------------------------------- p grid


def test_p_grid():
    g = p_grid(400)
    assert g.dtype.kind == "i"
    assert g[0] == 5 and g[-1] == 320
    assert np.all(np.diff(g) > 0)
    assert 10 <= len(g) <= 12
    # log-spaced: successive ratios roughly constant
    ratios = g[1:] / g[:-1]
    assert ratios.max() / ratios.min() < 1.5
    g2 = p_grid(400, include=[321, 5, 17])
    assert 321 in g2 and 17 in g2 and np.all(np.diff(g2) > 0)
    assert set(g) <= set(g2)
    assert p_grid(165, n=12, include=(132,))[-1] == 132
    # short range: fewer points after de-duplication, still unique
    g3 = p_grid(10, n=12, p_min=5, p_max_fraction=0.8)
    np.testing.assert_array_equal(g3, [5, 6, 7, 8])


def test_p_grid_bad_input():
    with pytest.raises(InputError):
        p_grid(5, p_min=5)  # ⌊0.8·5⌋ = 4 < 5
    with pytest.raises(InputError):
        p_grid(100, include=[101])
    with pytest.raises(InputError):
        p_grid(100, p_max_fraction=1.5)


# ---------------------------------------------------------------- degenerate blocks


def _rank_deficient(P=200, rank=40, M=300, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((P, rank)) * np.arange(1, rank + 1) ** -0.5) @ rng.standard_normal(
        (rank, M)
    )
    Y = X @ rng.standard_normal((M, 5)) * 0.05 + rng.standard_normal((P, 5))
    return X, Y - Y.mean(axis=0), rng


def _per_mode_geometry(lam, W, p, lr):
    """r_em, d_em with one error mode per eigenvector (the basis-dependent definition)."""
    kappa = _kappa_brentq(lam, p, lr)
    gamma = np.sum(p * lam**2 / (p * lam + kappa) ** 2)
    E = kappa**2 / ((1 - gamma) * (p * lam + kappa) ** 2)
    w2 = (W**2).sum(axis=1) / (W**2).sum()
    Wt = E * w2
    return np.sqrt(np.sum(Wt**2)), Wt.sum() ** 2 / np.sum(Wt**2)


def test_error_mode_geometry_is_invariant_to_the_basis_of_degenerate_eigenvalues():
    X, Yc, rng = _rank_deficient()
    Xp = X + 1e-9 * rng.standard_normal(X.shape)
    ps, lr = [20, 100, 160], 1e-3
    out = []
    for A in (X, Xp):
        lam, U = eigenspectrum(centred_gram(A))
        W = target_weights(U, Yc)
        out.append((theory_learning_curve(lam, W, ps, lr * lam.sum()), lam, W))
    (a, lam_a, W_a), (b, lam_b, W_b) = out
    for col in ("r_em", "d_em", "eg_theory"):
        np.testing.assert_allclose(b[col], a[col], rtol=1e-6, atol=0)
    # the per-eigenvector definition is not invariant: the 160 null modes have an arbitrary basis
    per_a = _per_mode_geometry(lam_a, W_a, 100, lr * lam_a.sum())
    per_b = _per_mode_geometry(lam_b, W_b, 100, lr * lam_b.sum())
    assert abs(per_b[1] / per_a[1] - 1) > 1e-4
    # blocks: all null modes are one block, the 40 distinct eigenvalues one each
    labels = degenerate_blocks(lam_a)
    assert len(np.unique(labels)) == 41
    assert len(np.unique(labels[40:])) == 1
    # a float32 Gram's null space is ~1e-8·λ_max: one block only at the float32 tolerance
    lam32, _ = eigenspectrum(centred_gram(X.astype(np.float32)))
    assert len(np.unique(degenerate_blocks(lam32, np.float32))) == 41
    assert len(np.unique(degenerate_blocks(lam32, np.float64))) > 100


def test_degenerate_blocks_group_exactly_equal_eigenvalues():
    lam = np.array([3.0, 1.0, 1.0 + 1e-17, 2.0, 0.0, 1e-18, 1.0])
    labels = degenerate_blocks(lam)
    assert labels[1] == labels[2] == labels[6]
    assert labels[4] == labels[5]
    assert len(np.unique(labels)) == 4
    # the geometry then sums the block's weights: a rotation inside a block changes nothing
    W = np.array([[1.0], [0.3], [0.4], [0.2], [0.5], [0.1], [0.0]])
    W2 = W.copy()
    W2[[1, 2, 6], 0] = [0.5, 0.0, 0.0]  # same norm inside the λ = 1 block
    W2[[4, 5], 0] = [0.0, np.hypot(0.5, 0.1)]  # and inside the null block
    a = theory_learning_curve(lam, W, [2, 5], 1e-2)
    b = theory_learning_curve(lam, W2, [2, 5], 1e-2)
    for col in ("eg_theory", "r_em", "d_em"):
        np.testing.assert_allclose(a[col], b[col], rtol=1e-12)


# ---------------------------------------------------------------- training stimuli only


def test_layer_theory_uses_only_training_stimuli_of_each_fold():
    X, Yc, _ = _rank_deficient(P=120, rank=60, M=150, seed=3)
    P = X.shape[0]
    folds = make_folds(P, 4, seed=1)
    lr = 1e-3 * np.trace(centred_gram(X)) / P
    df = layer_theory(X, Yc, lr, folds, n_p=5, p_min=5, n_subsets=2, seed=0)
    n = min(P - len(te) for te in folds)
    assert df["n_population"].iloc[0] == n == 90
    assert df.loc[df["at_p_train"], "p"].item() == (n * 3) // 4
    assert df["p"].max() == int(0.8 * n)
    # independent reference: each fold's spectrum and weights from X[tr], Y[tr] alone
    ref = []
    for te in folds:
        tr = np.setdiff1d(np.arange(P), te)
        lam, U = eigenspectrum(centred_gram(X[tr]))
        W = target_weights(U, Yc[tr] - Yc[tr].mean(axis=0))
        ref.append(theory_learning_curve(lam, W, df["p"], lr))
    for col in ("eg_theory", "kappa", "r_em", "d_em"):
        expected = np.mean([r[col].to_numpy() for r in ref], axis=0)
        np.testing.assert_allclose(df[col], expected, rtol=1e-7)
    # the responses of fold 0's test stimuli do not enter a theory built on fold 0's training set
    Y2 = Yc.copy()
    Y2[folds[0]] += 5.0 * np.random.default_rng(0).standard_normal(Y2[folds[0]].shape)
    twice = [folds[0], folds[0]]
    a = layer_theory(X, Yc, lr, twice, n_p=4, n_subsets=1)
    b = layer_theory(X, Y2, lr, twice, n_p=4, n_subsets=1)
    cols = ["eg_theory", "r_em", "d_em", "eg_empirical", "etr_empirical", "eg_test_empirical"]
    np.testing.assert_allclose(a[cols], b[cols], rtol=1e-10)
    c = layer_theory(X, Y2, lr, [folds[1], folds[1]], n_p=4, n_subsets=1)
    assert not np.allclose(a["eg_theory"], c["eg_theory"])  # fold 1's training set has them
    one = [folds[0]]
    with pytest.raises(InputError):
        layer_theory(X, Yc, lr, one)  # one fold: no reference training size


def test_grouped_subsets_hold_whole_groups_but_one():
    from predictivity.core.theory import _subset_order

    rng = np.random.default_rng(0)
    groups = rng.permutation(np.repeat(np.arange(9), 7))
    for p in (5, 14, 30):
        order, inverse = _subset_order(np.random.default_rng([0, p]), groups.size, groups)
        assert sorted(order) == list(range(groups.size))
        g = inverse[order]
        assert np.all(np.diff(np.flatnonzero(np.diff(g) != 0)) == 7)  # groups contiguous
        split = [x for x in np.unique(g[:p]) if np.sum(g[:p] == x) < 7]
        assert len(split) <= 1
    G = centred_gram(rng.standard_normal((63, 20)))
    Yc = rng.standard_normal((63, 2))
    Yc -= Yc.mean(axis=0)
    out = empirical_learning_curve(G, Yc, [14, 30], 1e-2, n_subsets=3, groups=groups)
    assert np.all(np.isfinite(out[["eg_empirical", "eg_test_empirical"]].to_numpy()))
    with pytest.raises(ValueError, match="one label per stimulus"):
        empirical_learning_curve(G, Yc, [14], 1e-2, groups=groups[:-1])


@pytest.mark.parametrize("case", ["groups", "all_stimuli", "ridgeless_singular"])
def test_empirical_curve_equals_fitting_every_stimulus(case):
    """The training rows' residuals come from −ridge·coef, not from a product with G: every
    error equals scikit-learn KernelRidge (precomputed kernel) fitted on the subset and predicting
    all P stimuli — with groups (the cut group's other stimuli count in e_all, not in e_te), at
    p = P (nothing held out) and with ridge 0 on a singular kernel (the least-squares fallback)."""
    from sklearn.kernel_ridge import KernelRidge

    from predictivity.core.theory import _subset_order

    rng = np.random.default_rng(7)
    P = 63
    rank = 12 if case == "ridgeless_singular" else 40
    X = rng.standard_normal((P, rank)) @ rng.standard_normal((rank, 50))
    G = centred_gram(X)
    Yc = rng.standard_normal((P, 3))
    Yc -= Yc.mean(axis=0)
    groups = rng.permutation(np.repeat(np.arange(9), 7)) if case == "groups" else None
    lr = 0.0 if case == "ridgeless_singular" else 1e-2
    ps = {"groups": [10, 30], "all_stimuli": [P], "ridgeless_singular": [30]}[case]
    out = empirical_learning_curve(G, Yc, ps, lr, n_subsets=2, seed=4, groups=groups)
    var = np.sum(Yc**2) / P
    for row in out.itertuples():
        p = row.p
        rng_p = np.random.default_rng([4, p])
        e_all, e_tr, e_te = [], [], []
        for _ in range(2):
            order, inverse = _subset_order(rng_p, P, groups)
            tr = order[:p]
            if inverse is None:
                te = order[p:]
            else:
                te = np.flatnonzero(~np.isin(inverse, inverse[tr]))
            if lr > 0:
                fit = KernelRidge(alpha=p * lr, kernel="precomputed").fit(G[np.ix_(tr, tr)], Yc[tr])
                Yhat = fit.predict(G[:, tr])
            else:  # the ridgeless limit: minimum-norm least squares
                Yhat = G[:, tr] @ np.linalg.lstsq(G[np.ix_(tr, tr)], Yc[tr], rcond=None)[0]
            sq = np.sum((Yhat - Yc) ** 2, axis=1)
            e_all.append(sq.sum() / P / var)
            e_tr.append(sq[tr].sum() / p / var)
            e_te.append(sq[te].sum() / te.size / var if te.size else np.nan)
        assert row.eg_empirical == pytest.approx(np.mean(e_all), rel=1e-7)
        assert row.etr_empirical == pytest.approx(np.mean(e_tr), rel=1e-7, abs=1e-12)
        if np.all(np.isnan(e_te)):
            assert np.isnan(row.eg_test_empirical)
        else:
            assert row.eg_test_empirical == pytest.approx(np.nanmean(e_te), rel=1e-7)
