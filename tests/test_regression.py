"""Ridge CV against scikit-learn RidgeCV(alpha_per_target=True) on the same folds (docs/design.md#regression)."""

import numpy as np
import pytest
from sklearn.linear_model import RidgeCV

from predictivity.core.reliability import split_half_ceiling
from predictivity.core.ridge import (
    cross_validated_ridge,
    default_alphas,
    make_folds,
    score_layers,
    training_size,
)


def _data(P, M, N, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((P, M)) * np.linspace(3, 0.1, M) + 5.0  # large means: centring matters
    W = rng.standard_normal((M, N))
    Y = X @ W * 0.1 + rng.standard_normal((P, N)) * 3 + 2.0
    return X, Y


def _sklearn_reference(X, Y, folds, alphas):
    P = X.shape[0]
    r2, r, chosen = [], [], []
    for te in folds:
        tr = np.setdiff1d(np.arange(P), te)
        model = RidgeCV(alphas=alphas, alpha_per_target=True, fit_intercept=True).fit(X[tr], Y[tr])
        pred = model.predict(X[te])
        y = Y[te]
        r2.append(1 - ((y - pred) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0))
        r.append([np.corrcoef(y[:, n], pred[:, n])[0, 1] for n in range(Y.shape[1])])
        chosen.append(model.alpha_)
    return np.mean(r2, 0), np.mean(r, 0), np.median(chosen, 0), np.array(chosen)


@pytest.mark.parametrize(
    "P,M,N", [(120, 400, 12), (150, 30, 12)], ids=["kernel_M>P", "covariance_M<P"]
)
def test_matches_sklearn_ridgecv_float64(P, M, N):
    X, Y = _data(P, M, N)
    folds = make_folds(P, 5, seed=0)
    alphas = default_alphas()
    ours = cross_validated_ridge(X, Y, folds, alphas)
    r2, r, alpha, _ = _sklearn_reference(X, Y, folds, alphas)
    assert np.max(np.abs(ours["r2"] - r2)) <= 1e-6
    assert np.max(np.abs(ours["pearson_r"] - r)) <= 1e-6
    np.testing.assert_array_equal(ours["alpha"].to_numpy(), alpha)


def test_both_forms_agree_and_alphas_per_fold_equal_sklearn():
    X, Y = _data(100, 60, 8, seed=3)
    folds = make_folds(100, 4, seed=2)
    kern = cross_validated_ridge(X, Y, folds, form="kernel")
    cov = cross_validated_ridge(X, Y, folds, form="covariance")
    np.testing.assert_allclose(kern["r2"], cov["r2"], atol=1e-9)
    np.testing.assert_array_equal(kern["alpha"], cov["alpha"])


def test_float32_input_within_1e4_of_sklearn_float64():
    X, Y = _data(120, 500, 10, seed=5)
    folds = make_folds(120, 5, seed=0)
    ours = cross_validated_ridge(X.astype(np.float32), Y, folds)
    r2, _, _, _ = _sklearn_reference(X, Y, folds, default_alphas())
    assert np.max(np.abs(ours["r2"] - r2)) <= 1e-4


def test_folds_are_exactly_the_documented_split():
    folds = make_folds(23, 5, seed=7)
    expected = np.array_split(np.random.default_rng(7).permutation(23), 5)
    for a, b in zip(folds, expected):
        np.testing.assert_array_equal(a, b)


def test_grouped_folds_keep_groups_together_and_cover_everything():
    groups = np.repeat(np.arange(12), 5)
    folds = make_folds(60, 4, seed=1, groups=groups)
    allidx = np.sort(np.concatenate(folds))
    np.testing.assert_array_equal(allidx, np.arange(60))
    for f in folds:
        for g in np.unique(groups[f]):
            assert set(np.flatnonzero(groups == g)) <= set(f)
    assert [len(f) for f in folds] == [15, 15, 15, 15]


def test_training_size():
    assert training_size(400, 5) == 320
    assert training_size(165, 5) == 132


def test_trace_scaling_multiplies_the_grid_by_the_training_trace():
    X, Y = _data(80, 200, 5, seed=9)
    Xs = X * 1e-3  # activations that shrink: a fixed grid over-penalises them
    folds = make_folds(80, 5, seed=0)
    fixed = cross_validated_ridge(Xs, Y, folds, alpha_scaling="none")
    scaled = cross_validated_ridge(Xs, Y, folds, alpha_scaling="trace")
    ref = cross_validated_ridge(X, Y, folds, alpha_scaling="trace")
    # trace scaling makes the scores invariant to the activations' scale
    np.testing.assert_allclose(scaled["r2"], ref["r2"], atol=1e-8)
    assert fixed["alpha_at_edge"].mean() > 0.5
    assert scaled["r2"].median() > fixed["r2"].median()


def test_alpha_at_edge_flags_the_grid_ends():
    X, Y = _data(80, 200, 5, seed=9)
    folds = make_folds(80, 5, seed=0)
    out = cross_validated_ridge(
        X, Y, folds, alphas=[1e6, 1e7]
    )  # far too strong: highest-alpha edge or lowest
    assert out["alpha_at_edge"].all()
    assert (out["alpha_at_edge"] == out["alpha_at_low_edge"] | out["alpha_at_high_edge"]).all()
    # pure-noise targets want the strongest penalty; a grid far too strong is left at its low end
    rng = np.random.default_rng(0)
    noise = cross_validated_ridge(
        X, rng.standard_normal((80, 6)), folds, alphas=np.logspace(-2, 3, 6)
    )
    assert noise["alpha_at_high_edge"].mean() > 0.5 and not noise["alpha_at_low_edge"].any()
    signal = cross_validated_ridge(
        X, X[:, :3] @ np.ones((3, 2)), folds, alphas=np.logspace(6, 8, 3)
    )
    assert signal["alpha_at_low_edge"].all()


def test_r2_pooled_parts_sum_over_folds():
    X, Y = _data(90, 50, 4, seed=2)
    folds = make_folds(90, 3, seed=0)
    out = cross_validated_ridge(X, Y, folds)
    sst = sum(((Y[te] - Y[te].mean(0)) ** 2).sum(0) for te in folds)
    np.testing.assert_allclose(out["sst"], sst)


def test_split_half_ceiling_against_a_direct_spearman_brown_loop():
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((50, 6))
    resp = (
        signal[:, :, None]
        + rng.standard_normal((50, 6, 4)) * np.array([0.1, 0.5, 1, 2, 4, 8])[None, :, None]
    )
    ceil = split_half_ceiling(resp)
    for n in range(6):
        a = resp[:, n, [0, 2]].mean(1)
        b = resp[:, n, [1, 3]].mean(1)
        rh = np.corrcoef(a, b)[0, 1]
        expected = 2 * rh / (1 + rh) if rh > 0 else np.nan
        np.testing.assert_allclose(ceil[n], expected, equal_nan=True)
    assert ceil[0] > 0.95


def test_score_layers_labels_and_ceiled_scores():
    X, Y = _data(60, 30, 4, seed=4)
    folds = make_folds(60, 5, seed=0)
    ceiling = np.array([0.5, np.nan, 1.0, 0.25])
    df = score_layers(
        {"a": X, "b": X[:, :10]}, Y, folds, target=np.array([0, 2, 3, 5]), ceiling=ceiling
    )
    assert list(df["layer"].unique()) == ["a", "b"]
    assert list(df["target"][:4]) == [0, 2, 3, 5]
    np.testing.assert_allclose(df["r2_ceiled"][:4], df["r2"][:4] / ceiling)
    np.testing.assert_allclose(df["pearson_r_ceiled"][:4], df["pearson_r"][:4] / np.sqrt(ceiling))


def test_non_positive_alpha_rejected():
    X, Y = _data(40, 10, 2)
    with pytest.raises(ValueError, match="positive"):
        cross_validated_ridge(X, Y, make_folds(40, 5), alphas=[0.0, 1.0])


# --- the LOO search and the Gram -----------------------------------------------------------------


def _flat_layer(P, M, N, seed=0, rank=8):
    """A wide layer whose noise floor sits far above the small alphas of the grid: their LOO
    errors differ only at the 1e-7 level (the regime where 1 − h cancels)."""
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((P, rank))
    X = rng.standard_normal((P, M)) * 0.5 + F @ rng.standard_normal((rank, M))
    Y = F @ rng.standard_normal((rank, N)) * rng.uniform(0, 1, N) + rng.standard_normal((P, N))
    return X, Y


def test_alphas_equal_sklearn_where_small_alphas_nearly_tie():
    X, Y = _flat_layer(60, 5000, 40)
    folds = make_folds(60, 5, seed=0)
    alphas = default_alphas()
    ours = cross_validated_ridge(X, Y, folds, alphas)
    _, _, alpha, _ = _sklearn_reference(X, Y, folds, alphas)
    np.testing.assert_array_equal(ours["alpha"].to_numpy(), alpha)


def _kernel_fold(X, Y, te, alphas):
    import scipy.linalg

    from predictivity.core.gram import centred_gram
    from predictivity.core.ridge import _double_centre_block

    P = X.shape[0]
    tr = np.setdiff1d(np.arange(P), te)
    Ktr, _ = _double_centre_block(centred_gram(X), tr, np.sort(te))
    s, Q = scipy.linalg.eigh(Ktr)
    Yc = Y[tr] - Y[tr].mean(0)
    return np.maximum(s, 0.0), Q, Q.T @ Yc, len(tr), Yc


@pytest.mark.parametrize("chunk", [2048, 7])  # 7: the targets searched in chunks
@pytest.mark.parametrize("case", ["gaussian", "powerlaw", "flat", "noise_only", "rank_deficient"])
def test_bounded_loo_search_returns_the_exhaustive_argmin(case, chunk, monkeypatch):
    from predictivity.core import ridge
    from predictivity.core.ridge import _kernel_loo_select

    monkeypatch.setattr(ridge, "_SEARCH_CHUNK", chunk)

    rng = np.random.default_rng(11)
    if case == "gaussian":
        X, Y = _data(150, 600, 60, seed=2)
    elif case == "powerlaw":
        X = rng.standard_normal((150, 800)) * np.arange(1, 801) ** -0.6
        Y = (
            X
            @ (rng.standard_normal((800, 60)) * (np.arange(1, 801) ** -0.6)[:, None])
            * rng.uniform(0, 3, 60)
        )
        Y += rng.standard_normal(Y.shape) * 0.1
    elif case == "flat":
        X, Y = _flat_layer(80, 4000, 60, seed=3)
    elif case == "noise_only":  # LOO curves nearly flat at the top of the grid
        X = rng.standard_normal((120, 500))
        Y = rng.standard_normal((120, 60))
    else:  # forced kernel form with M < p: a null space of dimension > 1
        X = rng.standard_normal((120, 30))
        Y = X @ rng.standard_normal((30, 40)) + rng.standard_normal((120, 40))
    alphas = np.logspace(-3, 7, 20)
    for te in make_folds(X.shape[0], 4, seed=1):
        s, Q, Z, p, Yc = _kernel_fold(X, Y, te, alphas)
        ref, ref_err = _kernel_loo_select(s, Q, Z, alphas, p, search="exhaustive")
        for rounds, yc in ((1, None), (4, None), (1, Yc), (4, Yc)):  # Yc: the free anchors
            got, err = _kernel_loo_select(
                s, Q, Z, alphas, p, search="bounded", max_rounds=rounds, Yc=yc
            )
            np.testing.assert_array_equal(got, ref)
            np.testing.assert_allclose(err, ref_err, rtol=1e-10, atol=0)


def test_pair_columns_and_errors_equal_a_loop_over_pairs():
    """The residual columns c = Q(D[:, j]∘z_n) of any (alpha, target) pairs, their LOO errors
    Σ_i (c_i/g_i)², and the reference bound's own error at its reference alpha, against one
    matrix-vector product per pair: pairs sorted and not, alphas with ≥ p pairs (their own
    GEMM) and fewer (packed), chunks smaller than the pairs."""
    from predictivity.core.ridge import (
        _pair_columns,
        _pair_loo_errors,
        _reference_bounds,
    )

    rng = np.random.default_rng(5)
    p, N, n_alpha = 12, 40, 6
    Q, _ = np.linalg.qr(rng.standard_normal((p, p)))
    s = np.sort(rng.uniform(0.1, 10.0, p))
    Z = rng.standard_normal((p, N))
    D = 1.0 / (s[:, None] + np.logspace(-1, 2, n_alpha)[None, :])
    inv = 1.0 / ((Q * Q) @ D + rng.uniform(0.0, 0.1, (p, n_alpha)))  # any positive 1/g
    js = np.concatenate([np.full(30, 2), rng.integers(0, n_alpha, 25)])  # alpha 2: ≥ p pairs
    ns = rng.integers(0, N, js.size)
    brute = np.array([Q @ (D[:, j] * Z[:, n]) for j, n in zip(js, ns)])
    brute_err = np.array([np.sum((c * inv[:, j]) ** 2) for c, j in zip(brute, js)])
    ZT = np.ascontiguousarray(Z.T)
    for order in (np.arange(js.size), np.argsort(js, kind="stable")):
        for chunk_bytes in (64 << 20, 8 * p * 5):
            got = _pair_columns(Q, D, ZT, js[order], ns[order], chunk_bytes)
            np.testing.assert_allclose(got, brute[order], rtol=0, atol=1e-13)
            err, _ = _pair_loo_errors(Q, D, inv, Z, js[order], ns[order], chunk_bytes)
            np.testing.assert_allclose(err, brute_err[order], rtol=1e-13)
            err, c = _pair_loo_errors(Q, D, inv, Z, js[order], ns[order], return_c=True)
            np.testing.assert_allclose(c.T, brute[order], rtol=0, atol=1e-13)
            np.testing.assert_allclose(err, brute_err[order], rtol=1e-13)
    # the reference bound's own error at α_r: the exact error of its reference column
    ref = rng.integers(0, n_alpha, N)
    cT = np.array([Q @ (D[:, j] * Z[:, n]) for n, j in enumerate(ref)])
    w = inv * inv
    norm2 = ((Z * Z).T @ (D * D)).T
    lo, up, own = _reference_bounds(D, np.ascontiguousarray((Z * Z).T), w, ref, cT, norm2, own=True)
    exact = np.array([np.sum((c * inv[:, j]) ** 2) for c, j in zip(cT, ref)])
    np.testing.assert_allclose(own, exact, rtol=1e-13)
    every = np.array(
        [
            [np.sum((Q @ (D[:, j] * Z[:, n]) * inv[:, j]) ** 2) for n in range(N)]
            for j in range(n_alpha)
        ]
    )
    assert np.all(lo <= every * (1 + 1e-12))  # lower bounds at every alpha
    assert np.all(up >= every.min(axis=0) * (1 - 1e-12))  # an upper bound on the minimum


def test_loo_search_option_gives_identical_results():
    X, Y = _data(120, 400, 30, seed=6)
    folds = make_folds(120, 5, seed=0)
    a = cross_validated_ridge(X, Y, folds, loo_search="bounded")
    b = cross_validated_ridge(X, Y, folds, loo_search="exhaustive")
    np.testing.assert_array_equal(a["alpha"], b["alpha"])
    np.testing.assert_allclose(a["r2"], b["r2"], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="loo_search"):
        cross_validated_ridge(X, Y, folds, loo_search="fast")


def test_centred_gram_float32_blocks_match_float64_centring():
    from predictivity.core.gram import centred_gram

    rng = np.random.default_rng(0)
    X = (rng.standard_normal((70, 3000)) * 0.1 + 50.0).astype(np.float32)  # large means
    exact = centred_gram(X.astype(np.float64))
    for block in (8192, 700):
        G32 = centred_gram(X, block_units=block)
        assert G32.dtype == np.float64
        np.testing.assert_allclose(G32, G32.T, rtol=0, atol=0)
        assert np.max(np.abs(G32 - exact)) <= 1e-5 * np.max(np.abs(exact))
        G64 = centred_gram(X, block_units=block, dtype="float64")
        assert np.max(np.abs(G64 - exact)) <= 1e-12 * np.max(np.abs(exact))
    with pytest.raises(ValueError, match="float32 or float64"):
        centred_gram(X, dtype="int32")


def test_memmapped_float32_layer_with_float64_gram_matches_in_memory(tmp_path):
    X, Y = _data(90, 300, 6, seed=8)
    X32 = X.astype(np.float32)
    path = tmp_path / "X.npy"
    np.save(path, X32)
    folds = make_folds(90, 5, seed=0)
    mm = np.load(path, mmap_mode="r")
    a = cross_validated_ridge(mm, Y, folds, dtype="float64")
    b = cross_validated_ridge(X32.astype(np.float64), Y, folds)
    np.testing.assert_array_equal(a["alpha"], b["alpha"])
    np.testing.assert_allclose(a["r2"], b["r2"], rtol=0, atol=1e-10)


def _exact_loo(s, Q, Z, p, alphas):
    """D = 1/(s + α), the LOO weights' 1/g and w = 1/g², and every (alpha, target) LOO error
    computed exactly (the exhaustive search's numbers)."""
    from predictivity.core.ridge import _pair_loo_errors

    N = Z.shape[1]
    D = 1.0 / (s[:, None] + alphas[None, :])
    t = Q.sum(axis=0)
    inv = 1.0 / ((Q * Q) @ D - (Q @ (t[:, None] * D)) / p)
    every = np.arange(N)
    exact = np.array(
        [_pair_loo_errors(Q, D, inv, Z, np.full(N, j), every)[0] for j in range(len(alphas))]
    )
    return D, inv, inv * inv, exact


@pytest.mark.parametrize("case", ["flat_noise_floor", "gaussian"])
def test_projection_bounds_bracket_the_exact_loo_errors(case):
    """Bound 3 of the bounded search: for every alpha, lower ≤ exact LOO error ≤ upper, and on
    a noise floor far above the small alphas it is tight where the norm bound is not."""
    from predictivity.core.ridge import _pair_loo_errors, _projection_bounds

    rng = np.random.default_rng(4)
    if case == "flat_noise_floor":  # 8 strong factors + isotropic noise units (size D in small)
        F = rng.standard_normal((100, 8)) * np.arange(1, 9) ** -0.5
        X = F @ rng.standard_normal((8, 3000)) * 3 + 0.5 * rng.standard_normal((100, 3000))
        Y = F @ rng.standard_normal((8, 40)) + rng.standard_normal((100, 40))
    else:
        X, Y = _data(100, 300, 40, seed=9)
    alphas = np.logspace(-2, 8, 20)
    te = make_folds(100, 5, seed=0)[0]
    s, Q, Z, p, _ = _kernel_fold(X, Y, te, alphas)
    N = Z.shape[1]
    D, inv, w, exact = _exact_loo(s, Q, Z, p, alphas)
    every = np.arange(N)
    anchors = [np.argmin(exact, axis=0), np.zeros(N, dtype=int)]
    cT = [_pair_loo_errors(Q, D, inv, Z, a, every, return_c=True)[1].T for a in anchors]
    Z2T = (Z * Z).T.copy()
    norm2 = (Z2T @ (D * D)).T
    lo, hi, _ = _projection_bounds(D, w, np.sqrt(w.max(axis=0)), Z2T, norm2, every, anchors, cT)
    assert np.all(lo <= exact * (1 + 1e-12))
    assert np.all(hi >= exact * (1 - 1e-12))
    # exact at the anchors (up to the rounding slack), and tighter than the norm bound elsewhere
    np.testing.assert_allclose(lo[anchors[0], every], exact[anchors[0], every], rtol=1e-5)
    norm_lo = w.min(axis=0)[:, None] * norm2
    if case == "flat_noise_floor":
        small = slice(0, 4)  # alphas far below the noise floor (s ≈ 550): within 1e-4 typically
        assert np.median(1 - lo[small] / exact[small]) < 1e-4
        assert np.median(norm_lo[small] / exact[small]) < 0.8


@pytest.mark.parametrize("case", ["noise_only", "gaussian"])
def test_free_anchor_bounds_the_top_of_the_grid_to_rounding(case):
    """The free anchor Ỹ = Q(1∘z) (extra column 1 of D) with the far anchor: the bounds still
    bracket every alpha's exact LOO error, and far above the spectrum (the top of a trace-scaled
    grid, where a target the layer does not predict has near-ties of 1e-9 to 1e-7) they are
    < 1e-7 wide: there w is flat to O(s/α), and the split form (w = w̄ + u) scales the
    remainder by the spread of w, not by w (the triangle form alone is ~1e-5 wide there)."""
    from predictivity.core.ridge import _pair_loo_errors, _projection_bounds

    rng = np.random.default_rng(5)
    if case == "noise_only":
        X, Y = rng.standard_normal((100, 400)), rng.standard_normal((100, 40))
    else:
        X, Y = _data(100, 300, 40, seed=9)
    te = make_folds(100, 5, seed=0)[0]
    s, Q, Z, p, Yc = _kernel_fold(X, Y, te, None)
    alphas = np.logspace(-2, 8, 21) * s.sum() / p  # the trace-scaled default grid
    N = Z.shape[1]
    D, inv, w, exact = _exact_loo(s, Q, Z, p, alphas)
    every = np.arange(N)
    Z2T = (Z * Z).T.copy()
    far_c = _pair_loo_errors(Q, D, inv, Z, np.zeros(N, dtype=int), every, return_c=True)[1].T
    Dx = np.hstack([D, np.ones((p, 1))])
    wx = np.hstack([w, w[:, -1:]])
    n2x = (Z2T @ (Dx * Dx)).T
    y_err = 8 * p * np.finfo(float).eps * np.linalg.norm(Yc, axis=0)
    far_above = alphas > 1e5 * s.max()  # (s/α)² < 1e-10
    assert far_above.sum() >= 3
    lo, hi, _ = _projection_bounds(
        Dx, wx, np.sqrt(wx.max(axis=0)), Z2T, n2x, every, [np.full(N, 21), np.zeros(N, dtype=int)],
        [Yc.T.copy(), far_c], anchor_err=[y_err, np.zeros(N)],
    )  # fmt: skip
    lo, hi = lo[:21], hi[:21]
    assert np.all(lo <= exact * (1 + 1e-12)) and np.all(hi >= exact * (1 - 1e-12))
    width = np.max((hi - lo)[far_above] / exact[far_above])
    assert width < 1e-7, width


@pytest.mark.parametrize("case", ["gaussian", "leverage", "flat_noise_floor"])
def test_reference_bounds_bracket_the_exact_loo_errors(case):
    """Bound 2 of the bounded search, from one exact column per target at any reference alpha:
    lower ≤ exact LOO error at every alpha, the upper bound ≥ the minimum over alphas, tight
    at the reference; from the argmin it rules out all but a few alphas per target (the
    neighbours whose errors differ by less than the spread of w allows), where the triangle
    inequality's bound leaves several. 150 targets: more than one pass of 64."""
    from predictivity.core.ridge import _pair_loo_errors, _reference_bounds

    rng = np.random.default_rng(7)
    N = 150
    if case == "gaussian":
        X, Y = _data(120, 400, N, seed=3)
    elif case == "leverage":  # a few stimuli far out: w spread over orders of magnitude
        X = rng.standard_normal((120, 400))
        X[:4] *= 20
        Y = X @ rng.standard_normal((400, N)) / 20 + rng.standard_normal((120, N))
    else:
        X, Y = _flat_layer(120, 3000, N, seed=2)
    te = make_folds(120, 5, seed=0)[0]
    s, Q, Z, p, _ = _kernel_fold(X, Y, te, None)
    alphas = np.logspace(-2, 8, 20) * s.sum() / p
    D, inv, w, exact = _exact_loo(s, Q, Z, p, alphas)
    every = np.arange(N)
    Z2T = (Z * Z).T.copy()
    norm2 = (Z2T @ (D * D)).T
    best = np.argmin(exact, axis=0)
    for ref in (rng.integers(0, 20, N), best):
        cT = _pair_loo_errors(Q, D, inv, Z, ref, every, return_c=True)[1].T
        lo, up = _reference_bounds(D, Z2T, w, ref, cT, norm2, chunk_bytes=1)
        assert lo.shape == exact.shape and up.shape == (N,)
        assert np.all(lo <= exact * (1 + 1e-12))
        assert np.all(up >= exact.min(axis=0) * (1 - 1e-12))
        np.testing.assert_allclose(lo[ref, every], exact[ref, every], rtol=1e-6)
    # from the argmin: the alphas its bounds cannot rule out, against the triangle inequality's
    # √err(α) ≥ (√(Σ w c*²) − √max w · ‖(λD(α) − D(α_r))∘z‖)/λ, λ = 1 and λ = α/α_r
    left = (lo <= exact.min(axis=0)).sum(axis=0) - 1
    Wc = w.T @ (cT * cT).T
    tri = np.zeros_like(exact)
    for lam in (np.ones((20, N)), alphas[:, None] / alphas[best][None, :]):
        E = D[:, :, None] * lam[None] - D[:, best][:, None, :]  # p × n_α × N
        delta = np.sqrt(np.einsum("kn,kan->an", Z * Z, E * E))
        root = np.sqrt(Wc) - np.sqrt(w.max(axis=0))[:, None] * delta
        tri = np.maximum(tri, (np.maximum(root, 0) / lam) ** 2)
    left_tri = (tri <= exact.min(axis=0)).sum(axis=0) - 1
    assert left.mean() < 0.5 * left_tri.mean(), (left.mean(), left_tri.mean())


@pytest.mark.parametrize("x_scale, y_scale", [(1e100, 1e-150), (1e-100, 1e150), (1e-150, 1.0)])
@pytest.mark.parametrize("path", ["kernel_loo", "kernel_groups", "covariance"])
def test_units_of_x_and_y_change_nothing(x_scale, y_scale, path):
    """Ridge with a trace-scaled grid is equivariant: X·a, Y·b give alphas·a², the same R² and r.
    At these extremes D = 1/(s+α) squared would underflow (or Y² overflow) in the kernel
    searches, and z/(s+α) in the predictions: before the searches and the predictions were
    scaled (κ = the largest eigenvalue, m = each target's largest |z|), ~30 of 40 targets got
    another alpha than the exhaustive search and R² was off by up to 4.7 (plain LOO), and the
    leave-one-group-out search chose other alphas with R² off by 0.67."""
    import warnings

    rng = np.random.default_rng(0)
    groups = None
    if path == "covariance":  # M < p: the covariance form
        X = rng.standard_normal((120, 30))
        X[:2] *= 20
    else:
        X = rng.standard_normal((60, 300))
        X[:2] *= 50  # two high-leverage stimuli
        if path == "kernel_groups":
            groups = np.repeat(np.arange(20), 3)
    Y = X @ rng.standard_normal((X.shape[1], 40)) / 20 + rng.standard_normal((X.shape[0], 40))
    folds = make_folds(X.shape[0], 5, seed=0, groups=groups)
    kw = dict(alpha_scaling="trace", groups=groups)
    ref = cross_validated_ridge(X, Y, folds, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow, underflow to nan
        got = cross_validated_ridge(X * x_scale, Y * y_scale, folds, **kw)
    exhaustive = cross_validated_ridge(
        X * x_scale, Y * y_scale, folds, loo_search="exhaustive", **kw
    )
    np.testing.assert_array_equal(got["alpha"], exhaustive["alpha"])
    np.testing.assert_allclose(got["alpha"], ref["alpha"] * x_scale**2, rtol=1e-12)
    np.testing.assert_allclose(got["r2"], ref["r2"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(got["pearson_r"], ref["pearson_r"], rtol=0, atol=1e-8)
