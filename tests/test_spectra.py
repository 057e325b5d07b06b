"""Tests of predictivity.core.spectra against dense, independently formed references."""

import numpy as np
import pandas as pd
import pytest

from predictivity.core.gram import centred_gram
from predictivity.core.spectra import (
    alignment,
    eigenspectrum,
    eigenvalue_tolerance,
    layer_spectrum,
    participation_ratio,
    participation_ratios,
    powerlaw_alpha,
    spectrum_table,
    target_weights,
)


def _pr_dense(C):
    """PR from the eigenvalues of an explicitly formed symmetric matrix."""
    ev = np.linalg.eigvalsh(C)
    return ev.sum() ** 2 / np.sum(ev**2)


def _activations(P, M, seed, offset=0.0, decay=1.0):
    rng = np.random.default_rng(seed)
    scales = np.arange(1, M + 1, dtype=float) ** (-decay / 2)
    X = rng.standard_normal((P, M)) * scales
    # unit means of different sizes so that the uncentred Gram differs from the centred one
    return X + offset * rng.uniform(0.5, 1.5, size=M)


# ---------------------------------------------------------------- participation_ratio


def test_participation_ratio_matches_eigenvalues():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((50, 20)) * np.arange(1, 21) ** -0.7
    C = A @ A.T
    assert participation_ratio(C) == pytest.approx(_pr_dense(C), rel=1e-12)
    # scale invariance
    assert participation_ratio(7.5 * C) == pytest.approx(_pr_dense(C), rel=1e-12)


@pytest.mark.parametrize("scale", [1e100, 1e150, 1e-100, 1e-140])
def test_participation_ratios_at_extreme_units(scale):
    """‖G‖_F² overflows (1e100: G ~ 1e200) or underflows (1e-100) unless G is scaled first;
    the three PRs at X·scale equal those at X's own scale, against eigenvalues too."""
    X = _activations(30, 50, seed=1, offset=3.0)
    want = participation_ratios(X)
    got = participation_ratios(X * scale)
    for key, value in want.items():
        assert np.isfinite(got[key]) and got[key] == pytest.approx(value, rel=1e-12), key
    G = centred_gram(X)
    assert participation_ratio(G * scale**2) == pytest.approx(_pr_dense(G), rel=1e-12)


def test_participation_ratio_extremes():
    assert participation_ratio(np.eye(13)) == pytest.approx(13.0, rel=1e-14)
    v = np.arange(1.0, 6.0)
    assert participation_ratio(np.outer(v, v)) == pytest.approx(1.0, rel=1e-14)
    assert np.isnan(participation_ratio(np.zeros((4, 4))))
    with pytest.raises(ValueError):
        participation_ratio(np.zeros((3, 4)))


# ---------------------------------------------------------------- participation_ratios


@pytest.mark.parametrize("P,M", [(60, 150), (150, 40)], ids=["M>P", "M<P"])
@pytest.mark.parametrize("offset", [0.0, 3.0])
def test_participation_ratios_match_dense_references(P, M, offset):
    X = _activations(P, M, seed=P + M, offset=offset)
    Xc = X - X.mean(axis=0)
    ref_centred = _pr_dense(Xc @ Xc.T)
    ref_unit_cov = _pr_dense(np.cov(Xc, rowvar=False))  # M×M covariance: same non-zero spectrum
    ref_uncentred = _pr_dense(X @ X.T)
    ref_double = _pr_dense(np.cov(Xc))  # np.cov with rows = stimuli

    out = participation_ratios(X)
    assert set(out) == {"pr", "pr_uncentred", "pr_double_centred"}
    assert out["pr"] == pytest.approx(ref_centred, rel=1e-10)
    assert out["pr"] == pytest.approx(ref_unit_cov, rel=1e-10)
    assert out["pr_uncentred"] == pytest.approx(ref_uncentred, rel=1e-10)
    assert out["pr_double_centred"] == pytest.approx(ref_double, rel=1e-10)
    if offset:
        # the three conventions really differ on data with means
        assert abs(out["pr_uncentred"] / out["pr"] - 1) > 0.05


def test_participation_ratios_reuse_G_and_float32():
    X = _activations(80, 120, seed=3, offset=50.0)
    G = centred_gram(X)
    X_before = X.copy()
    full = participation_ratios(X)
    np.testing.assert_array_equal(X, X_before)  # the caller's activations are not modified
    assert participation_ratios(X, G=G) == pytest.approx(full, rel=1e-12)
    # a G that is not X's is used as given for `pr` (proves it is reused, not recomputed)
    other = centred_gram(_activations(80, 120, seed=4))
    assert participation_ratios(X, G=other)["pr"] == pytest.approx(participation_ratio(other))

    # float32 input with large means: float64 accumulation keeps all three accurate
    X32 = X.astype(np.float32)
    X64 = X32.astype(np.float64)
    Xc = X64 - X64.mean(axis=0)
    got = participation_ratios(X32)
    assert got["pr"] == pytest.approx(_pr_dense(Xc @ Xc.T), rel=1e-5)
    assert got["pr_uncentred"] == pytest.approx(_pr_dense(X64 @ X64.T), rel=1e-6)
    assert got["pr_double_centred"] == pytest.approx(_pr_dense(np.cov(Xc)), rel=1e-5)


def test_participation_ratios_shape_mismatch():
    X = _activations(20, 10, seed=1)
    with pytest.raises(ValueError):
        participation_ratios(X, G=np.eye(19))


# ---------------------------------------------------------------- eigenspectrum


def test_eigenspectrum_rank_deficient_is_clipped_sorted_and_orthonormal():
    P, M = 120, 30
    X = _activations(P, M, seed=5)
    G = centred_gram(X)
    raw = np.linalg.eigvalsh(G / P)
    assert raw.min() < 0  # rounding really produces negatives in the null space
    lam, U = eigenspectrum(G)
    assert lam.shape == (P,) and U.shape == (P, P)
    assert np.all(lam >= 0) and lam.min() == 0.0
    assert np.all(np.diff(lam) <= 0)
    np.testing.assert_allclose(lam[:M], np.sort(raw)[::-1][:M], rtol=1e-10)
    np.testing.assert_allclose(U.T @ U, np.eye(P), atol=1e-10)
    # G/P = U diag(λ) Uᵀ on the leading (non-null) part
    np.testing.assert_allclose((U[:, :M] * lam[:M]) @ U[:, :M].T, G / P, atol=1e-10 * lam[0])
    # deterministic sign: largest-magnitude entry of each eigenvector is positive
    idx = np.argmax(np.abs(U), axis=0)
    assert np.all(U[idx, np.arange(P)] > 0)


def test_eigenspectrum_n_keep_matches_full():
    X = _activations(90, 200, seed=6)
    G = centred_gram(X)
    lam, U = eigenspectrum(G)
    lam5, U5 = eigenspectrum(G, n_keep=5)
    assert lam5.shape == (5,) and U5.shape == (90, 5)
    np.testing.assert_allclose(lam5, lam[:5], rtol=1e-10)
    np.testing.assert_allclose(np.abs(U5.T @ U[:, :5]), np.eye(5), atol=1e-8)
    with pytest.raises(ValueError):
        eigenspectrum(G, n_keep=0)
    with pytest.raises(ValueError):
        eigenspectrum(G, n_keep=91)


# ---------------------------------------------------------------- weights and alignment


def test_target_weights_follow_design_normalisation():
    P, M, N = 70, 50, 4
    rng = np.random.default_rng(7)
    X = _activations(P, M, seed=7)
    Y = rng.standard_normal((P, N)) + 10.0
    Yc = Y - Y.mean(axis=0)
    lam, U = eigenspectrum(centred_gram(X))
    W = target_weights(U, Yc)
    assert W.shape == (P, N)
    # docs/design.md#theory: v_i = √P u_i (vᵢᵀvᵢ = P), w_i = vᵢᵀ Y_c / P, written as a loop
    for i in (0, 3, P - 1):
        v = np.sqrt(P) * U[:, i]
        assert v @ v == pytest.approx(P)
        np.testing.assert_allclose(W[i], v @ Yc / P, rtol=1e-12, atol=1e-14)
    # Parseval: Σ_i w_in² = ‖Y_c[:, n]‖² / P (the target's variance)
    np.testing.assert_allclose((W**2).sum(axis=0), (Yc**2).sum(axis=0) / P, rtol=1e-10)
    # a 1-D target gives one column
    assert target_weights(U, Yc[:, 0]).shape == (P, 1)
    with pytest.raises(ValueError):
        target_weights(U, Yc[:-1])


def test_alignment():
    rng = np.random.default_rng(8)
    W = rng.standard_normal((30, 5))
    a = alignment(W)
    assert a.shape == (30,)
    assert a.sum() == pytest.approx(1.0, abs=1e-14)
    i = 11
    assert a[i] == pytest.approx(np.sum(W[i] ** 2) / np.sum(W**2), rel=1e-13)
    # a target that is one eigenvector is fully aligned with that mode
    P = 40
    lam, U = eigenspectrum(centred_gram(_activations(P, 60, seed=9)))
    a1 = alignment(target_weights(U, U[:, 2]))
    assert a1[2] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.delete(a1, 2) < 1e-20)
    assert np.all(np.isnan(alignment(np.zeros((3, 2)))))


# ---------------------------------------------------------------- power law


def test_powerlaw_alpha_exact():
    lam = np.arange(1, 501, dtype=float) ** -1.3
    assert powerlaw_alpha(lam) == pytest.approx(1.3, abs=1e-10)
    # order does not matter; trailing zeros / rounding negatives are not spectrum
    shuffled = np.random.default_rng(0).permutation(np.r_[lam, np.zeros(300), -1e-18])
    assert powerlaw_alpha(shuffled) == pytest.approx(1.3, abs=1e-10)
    # rounding noise far below λ_1·n·ε in the tail is ignored too
    noisy_tail = np.r_[lam, 1e-20 * np.ones(2000)]
    assert powerlaw_alpha(noisy_tail) == pytest.approx(1.3, abs=1e-10)


def test_powerlaw_alpha_fits_only_the_top_half():
    # steep tail in the bottom half must not change the fit
    lam = np.arange(1, 401, dtype=float) ** -0.8
    lam[200:] *= np.geomspace(1, 1e-6, 200)
    assert powerlaw_alpha(lam) == pytest.approx(0.8, abs=1e-10)


def test_powerlaw_alpha_noisy():
    rng = np.random.default_rng(1)
    i = np.arange(1, 1001, dtype=float)
    lam = i**-1.3 * np.exp(0.1 * rng.standard_normal(i.size))
    lam = np.sort(lam)[::-1]
    assert powerlaw_alpha(lam) == pytest.approx(1.3, abs=0.05)


def test_powerlaw_alpha_sample_spectrum():
    # eigenvalues of a sample Gram whose population spectrum decays as i^-1.2
    P, M = 400, 600
    rng = np.random.default_rng(2)
    pop = np.arange(1, M + 1, dtype=float) ** -1.2
    O, _ = np.linalg.qr(rng.standard_normal((M, M)))
    X = (rng.standard_normal((P, M)) * np.sqrt(pop)) @ O.T
    lam, _ = eigenspectrum(centred_gram(X))
    assert powerlaw_alpha(lam) == pytest.approx(1.2, abs=0.15)


def test_powerlaw_alpha_agrees_between_float32_and_float64_on_a_rank_deficient_layer():
    # rank 20 over 200 stimuli: a float32 Gram leaves ~1e-8·λ_1 of rounding noise in its
    # 179-dimensional null space, which a float64 tolerance would fit as spectrum (α ≈ 5.5)
    rng = np.random.default_rng(0)
    P, M = 200, 500
    X = (rng.standard_normal((P, 20)) * np.arange(1, 21) ** -0.5) @ rng.standard_normal((20, M))
    Yc = rng.standard_normal((P, 3))
    Yc -= Yc.mean(0)
    a64 = layer_spectrum(X, Yc)[0]["powerlaw_alpha"]
    a32 = layer_spectrum(X.astype(np.float32), Yc)[0]["powerlaw_alpha"]
    assert 0.5 < a64 < 2.0
    assert a32 == pytest.approx(a64, rel=1e-5)
    lam32, _ = eigenspectrum(centred_gram(X.astype(np.float32)))
    assert powerlaw_alpha(lam32, dtype=np.float32) == pytest.approx(a64, rel=1e-5)
    assert abs(powerlaw_alpha(lam32, dtype=np.float64) - a64) > 1.0  # the float64 cutoff fails
    # float32 eigenvalues select the float32 cutoff by themselves
    assert powerlaw_alpha(lam32.astype(np.float32)) == pytest.approx(a64, rel=1e-5)
    assert eigenvalue_tolerance(lam32, np.float32) == pytest.approx(
        lam32.max() * P * np.finfo(np.float32).eps
    )
    with pytest.raises(ValueError, match="float32 or float64"):
        powerlaw_alpha(lam32, dtype=np.int32)


def test_powerlaw_alpha_too_short_is_nan():
    assert np.isnan(powerlaw_alpha(np.array([1.0, 0.5, 0.2, 0.1, 0.05])))  # top half: 2 ranks
    assert np.isnan(powerlaw_alpha(np.zeros(10)))
    assert np.isnan(powerlaw_alpha(np.array([])))
    assert np.isfinite(powerlaw_alpha(np.arange(1, 7, dtype=float) ** -1.0))  # 3 ranks


# ---------------------------------------------------------------- table


def test_spectrum_table():
    rng = np.random.default_rng(3)
    lam = np.sort(rng.uniform(size=20))[::-1]
    W = rng.standard_normal((20, 3))
    t = spectrum_table(lam, W, n_keep=5)
    assert isinstance(t, pd.DataFrame)
    assert list(t.columns) == ["rank", "eigenvalue", "alignment"]
    assert t["rank"].tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(t["eigenvalue"].to_numpy(), lam[:5])
    # alignment is the share of ALL modes' target variance, not renormalised over the kept ones
    np.testing.assert_allclose(
        t["alignment"].to_numpy(), (W[:5] ** 2).sum(1) / (W**2).sum(), rtol=1e-13
    )
    assert t["alignment"].sum() < 1.0
    assert len(spectrum_table(lam, W, n_keep=100)) == 20
    with pytest.raises(ValueError):
        spectrum_table(lam, W[:-1], n_keep=3)
