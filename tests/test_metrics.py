"""The metrics stage: PLS, RSA, CKA, Procrustes and SVCCA against independent references."""

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import scipy.stats
from conftest import run_snakemake
from scipy.stats import ortho_group

from predictivity.core.gram import centred_gram
from predictivity.core.metrics.agreement import AGREEMENT_COLUMNS, rank_agreement, weighted_tau_b
from predictivity.core.metrics.measures import (
    COLUMNS,
    MEASURES,
    correlation_rdm,
    fold_centred_grams,
    kernel_pls_predict,
    linear_cka,
    pls_score,
    procrustes_score,
    procrustes_similarity,
    rdm_split_half_reliability,
    rsa_score,
    score_metrics,
    svcca,
)
from predictivity.core.reliability import single_repetition_reliability, spearman_brown
from predictivity.core.ridge import make_folds


def _data(P=60, M=30, N=12, seed=0, latent=5, noise=1.0):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((P, latent))
    X = Z @ rng.standard_normal((latent, M)) + 0.3 * rng.standard_normal((P, M))
    Y = Z @ rng.standard_normal((latent, N)) + noise * rng.standard_normal((P, N))
    return X, Y


# ------------------------------------------------------------------------------------ CKA


def _hsic(K, L):
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    return np.trace(K @ H @ L @ H) / (n - 1) ** 2


def test_linear_cka_equals_the_hsic_closed_form_and_the_feature_form():
    X, Y = _data(P=40, M=70, N=9)  # a wide layer: M > P
    cka = linear_cka(centred_gram(X), centred_gram(Y))
    K, L = X @ X.T, Y @ Y.T  # uncentred linear kernels
    ref = _hsic(K, L) / np.sqrt(_hsic(K, K) * _hsic(L, L))
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    feature = np.linalg.norm(Yc.T @ Xc) ** 2 / (
        np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc)
    )
    assert cka == pytest.approx(ref, abs=1e-12)
    assert cka == pytest.approx(feature, abs=1e-12)
    # float32 activations (the pipeline's storage) through the blocked Gram
    cka32 = linear_cka(centred_gram(X.astype(np.float32)), centred_gram(Y))
    assert cka32 == pytest.approx(ref, abs=1e-6)


def test_linear_cka_is_invariant_to_rotations_and_isotropic_scaling_of_either_side():
    X, Y = _data(P=50, M=20, N=8, seed=1)
    base = linear_cka(centred_gram(X), centred_gram(Y))
    Qx = ortho_group.rvs(20, random_state=2)
    Qy = ortho_group.rvs(8, random_state=3)
    assert linear_cka(centred_gram(3.7 * X @ Qx), centred_gram(Y)) == pytest.approx(base, abs=1e-12)
    assert linear_cka(centred_gram(X), centred_gram(0.01 * Y @ Qy + 5)) == pytest.approx(
        base, abs=1e-12
    )
    assert linear_cka(centred_gram(X), centred_gram(X @ Qx)) == pytest.approx(1.0, abs=1e-12)


# ------------------------------------------------------------------------------------ Procrustes


def test_procrustes_is_zero_distance_for_a_rotated_rescaled_shifted_copy():
    X, _ = _data(P=50, M=10, seed=4)
    Q = ortho_group.rvs(10, random_state=5)
    sim, theta = procrustes_similarity(X, 2.5 * X @ Q + 3.0)
    assert theta == pytest.approx(0.0, abs=1e-6)
    assert sim == pytest.approx(1.0, abs=1e-6)
    # through the PCA to a common dimension (all components kept)
    assert procrustes_score(X, 2.5 * X @ Q, dim=10).score == pytest.approx(1.0, abs=1e-6)
    # and with a truncated PCA: the top PCs of a rotated copy are the same subspace
    assert procrustes_score(X, X @ Q, dim=4).score == pytest.approx(1.0, abs=1e-6)


def test_procrustes_matches_scipy_orthogonal_procrustes():
    rng = np.random.default_rng(6)
    A, B = rng.standard_normal((30, 6)), rng.standard_normal((30, 6))
    sim, theta = procrustes_similarity(A, B)
    Ac, Bc = A - A.mean(0), B - B.mean(0)
    Ac, Bc = Ac / np.linalg.norm(Ac), Bc / np.linalg.norm(Bc)
    R, scale = scipy.linalg.orthogonal_procrustes(Ac, Bc)
    assert np.cos(theta) == pytest.approx(scale, abs=1e-12)  # scale = nuclear norm of AᵀB
    # the optimal rotation's residual: ‖A R − B‖² = 2 − 2 cos θ
    assert np.linalg.norm(Ac @ R - Bc) ** 2 == pytest.approx(2 - 2 * np.cos(theta), abs=1e-12)
    assert sim == pytest.approx(1 - 2 * theta / np.pi)
    assert 0 <= sim <= 1


# ------------------------------------------------------------------------------------ RSA


def test_rsa_equals_a_direct_numpy_scipy_computation():
    X, Y = _data(P=25, M=40, N=10, seed=7)
    iu = np.triu_indices(25, k=1)
    ref = scipy.stats.spearmanr((1 - np.corrcoef(X))[iu], (1 - np.corrcoef(Y))[iu]).statistic
    np.testing.assert_allclose(correlation_rdm(X), 1 - np.corrcoef(X), atol=1e-12)
    res = rsa_score(X, Y)
    assert res.score == pytest.approx(ref, abs=1e-12)
    assert np.isnan(res.ceiling) and "no ceiling" in res.note
    # float32 wide layer (block path)
    res32 = rsa_score(X.astype(np.float32), Y)
    assert res32.score == pytest.approx(ref, abs=1e-4)


def test_rsa_equals_rsatoolbox():
    rsatoolbox = pytest.importorskip("rsatoolbox")
    X, Y = _data(P=20, M=15, N=6, seed=8)
    rx = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(X), method="correlation")
    ry = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(Y), method="correlation")
    np.testing.assert_allclose(rx.get_vectors()[0], correlation_rdm(X)[np.triu_indices(20, 1)])
    ref = float(rsatoolbox.rdm.compare(rx, ry, method="spearman")[0, 0])
    assert rsa_score(X, Y).score == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("R", [2, 3, 4])
def test_rdm_split_half_reliability_and_ceiling(R):
    rng = np.random.default_rng(9)
    signal = rng.standard_normal((30, 1)) @ rng.standard_normal((1, 12)) + rng.standard_normal(
        (30, 12)
    )
    responses = signal[:, :, None] + 0.8 * rng.standard_normal((30, 12, R))
    rho, r_half = rdm_split_half_reliability(responses)
    iu = np.triu_indices(30, k=1)
    even = 1 - np.corrcoef(responses[:, :, 0::2].mean(2))
    odd = 1 - np.corrcoef(responses[:, :, 1::2].mean(2))
    assert r_half == pytest.approx(scipy.stats.spearmanr(even[iu], odd[iu]).statistic, abs=1e-12)
    # the regression ceiling's Spearman–Brown step (exact unequal halves for odd R)
    if R % 2 == 0:
        assert rho == pytest.approx(2 * r_half / (1 + r_half), abs=1e-12)
    a, b = (R + 1) // 2, R // 2
    expected = spearman_brown(single_repetition_reliability(np.array(r_half), a, b), R)
    assert rho == pytest.approx(float(expected), abs=1e-12)
    res = rsa_score(responses.mean(2), responses.mean(2), responses=responses)
    assert res.ceiling == pytest.approx(np.sqrt(rho))
    assert res.score == pytest.approx(1.0)
    assert res.score_ceiled == pytest.approx(1.0 / np.sqrt(rho))


# ------------------------------------------------------------------------------------ PLS


def test_kernel_pls_equals_scikit_learn_on_each_fold():
    from sklearn.cross_decomposition import PLSRegression

    for P, M, N, c in [(60, 40, 8, 5), (60, 200, 30, 10), (80, 30, 120, 15)]:
        X, Y = _data(P=P, M=M, N=N, seed=M)
        G = centred_gram(X)
        for te in make_folds(P, 5, 0):
            tr = np.setdiff1d(np.arange(P), te)
            K, K_te = fold_centred_grams(G, tr, te)
            pred, used = kernel_pls_predict(K, K_te, Y[tr], c)
            ref = (
                PLSRegression(c, scale=False, tol=1e-14, max_iter=100000)
                .fit(X[tr], Y[tr])
                .predict(X[te])
            )
            assert used == c
            np.testing.assert_allclose(pred, ref, atol=1e-6 * np.abs(ref).max())


def test_pls_score_equals_scikit_learn_on_the_same_folds():
    from sklearn.cross_decomposition import PLSRegression

    X, Y = _data(P=70, M=50, N=10, seed=11)
    groups = np.repeat(np.arange(14), 5)
    folds = make_folds(70, 5, 3, groups)
    rho = np.linspace(0.3, 0.9, 10)
    res = pls_score(X, Y, folds, n_components=6, target_ceiling=rho)
    r = np.empty((5, 10))
    for f, te in enumerate(folds):
        tr = np.setdiff1d(np.arange(70), te)
        pred = PLSRegression(6, scale=False, tol=1e-14, max_iter=100000).fit(X[tr], Y[tr])
        pred = pred.predict(X[te])
        r[f] = [scipy.stats.pearsonr(Y[te, n], pred[:, n]).statistic for n in range(10)]
    assert res.score == pytest.approx(np.median(r.mean(0)), abs=1e-6)
    assert res.score_ceiled == pytest.approx(np.median(r.mean(0) / np.sqrt(rho)), abs=1e-6)
    assert res.ceiling == pytest.approx(np.median(np.sqrt(rho)))
    assert res.n_components == 6 and res.note == ""
    # scikit-learn's own solver (power iteration, tol 1e-6) through the same code path
    assert pls_score(X, Y, folds, 6, solver="sklearn").score == pytest.approx(res.score, abs=1e-4)


def test_pls_components_are_capped_not_crashed():
    X, Y = _data(P=30, M=4, N=2, seed=12)
    folds = make_folds(30, 5, 0)
    res = pls_score(X, Y, folds, n_components=25)  # more components than units and targets
    assert res.n_components == 4 and "capped" in res.note and np.isfinite(res.score)
    ref = pls_score(X, Y, folds, n_components=25, solver="sklearn")
    assert ref.score == pytest.approx(res.score, abs=1e-4)


# ------------------------------------------------------------------------------------ SVCCA


def _svcca_reference(X, Y, folds, k):
    """sklearn PCA on the training fold + textbook CCA (whitening by inverse square roots)."""
    from sklearn.decomposition import PCA

    out = []
    for te in folds:
        tr = np.setdiff1d(np.arange(X.shape[0]), te)
        px, py = PCA(k).fit(X[tr]), PCA(k).fit(Y[tr])
        A, B = px.transform(X[tr]), py.transform(Y[tr])
        At, Bt = px.transform(X[te]), py.transform(Y[te])
        Wa = scipy.linalg.inv(scipy.linalg.sqrtm(A.T @ A))
        Wb = scipy.linalg.inv(scipy.linalg.sqrtm(B.T @ B))
        U, s, Vt = np.linalg.svd(Wa @ A.T @ B @ Wb)
        u, v = At @ Wa @ U, Bt @ Wb @ Vt.T
        out.append(np.mean([np.corrcoef(u[:, i], v[:, i])[0, 1] for i in range(k)]))
    return float(np.mean(out))


def test_svcca_matches_pca_plus_textbook_cca():
    X, Y = _data(P=80, M=40, N=15, seed=13)
    folds = make_folds(80, 4, 1)
    res = svcca(X, Y, folds, dim=6)
    assert res.n_components == 6 and res.note == ""
    assert res.score == pytest.approx(_svcca_reference(X, Y, folds, 6), abs=1e-8)


def test_svcca_of_a_linear_copy_is_one():
    rng = np.random.default_rng(14)
    X = rng.standard_normal((60, 8))
    Y = X @ rng.standard_normal((8, 8)) + 2.0  # invertible linear map: same 8-dim subspace
    assert svcca(X, Y, make_folds(60, 5, 0), dim=8).score == pytest.approx(1.0, abs=1e-8)
    # a wide layer that is a rotated, rescaled copy: top-k PCs coincide for any k
    Q = ortho_group.rvs(8, random_state=15)
    assert svcca(X, 3 * X @ Q, make_folds(60, 5, 0), dim=3).score == pytest.approx(1.0, abs=1e-8)


# ------------------------------------------------------------------------------------ degenerate


def test_too_few_targets_and_constant_layers_give_nan_or_fallback_without_crash():
    X, Y = _data(P=40, M=30, N=1, seed=16)
    folds = make_folds(40, 5, 0)
    layers = {"ok": X, "constant": np.ones((40, 30), np.float32), "one_unit": X[:, :1]}
    df = score_metrics(layers, Y, folds, pls_components=25, procrustes_dim=50, cca_dim=20)
    assert list(df.columns) == COLUMNS
    assert len(df) == 3 * len(MEASURES)
    row = df.set_index(["layer", "metric"])
    # one target: no correlation across targets (RSA), SVCCA k capped at 1
    assert (
        np.isnan(row.loc[("ok", "rsa"), "score"])
        and "≥ 2 targets" in row.loc[("ok", "rsa"), "note"]
    )
    assert (
        row.loc[("ok", "cca"), "n_components"] == 1 and "capped" in row.loc[("ok", "cca"), "note"]
    )
    assert np.isfinite(row.loc[("ok", "pls"), "score"])  # PLS components are not bounded by targets
    assert "zero-padded" in row.loc[("ok", "procrustes"), "note"]
    for m in ("pls", "cka", "procrustes", "cca"):
        assert np.isnan(row.loc[("constant", m), "score"]), m
        assert row.loc[("constant", m), "note"], m
    assert np.isnan(row.loc[("one_unit", "rsa"), "score"])
    assert (df["seconds"] >= 0).all()


def test_score_metrics_table_and_enabled_subset():
    X, Y = _data(P=50, M=20, N=6, seed=17)
    folds = make_folds(50, 5, 0)
    df = score_metrics({"a": X, "b": X[:, :5]}, Y, folds, enabled=["cka", "pls"], pls_components=3)
    assert df["metric"].tolist() == ["pls", "cka", "pls", "cka"]  # canonical order
    assert df["layer_index"].tolist() == [0, 0, 1, 1]
    assert df["n_components"].isna().tolist() == [False, True, False, True]
    # with per-repetition responses the RSA row gets its split-half ceiling
    rng = np.random.default_rng(20)
    responses = Y[:, :, None] + rng.standard_normal((50, 6, 2))
    df = score_metrics(
        {"a": X}, responses.mean(2), folds, enabled=["rsa"], responses=responses
    ).iloc[0]
    rho, _ = rdm_split_half_reliability(responses)
    assert df["ceiling"] == pytest.approx(np.sqrt(rho)) and df["note"] == ""
    assert df["score_ceiled"] == pytest.approx(df["score"] / np.sqrt(rho))
    with pytest.raises(ValueError, match="unknown measure"):
        score_metrics({"a": X}, Y, folds, enabled=["svm"])


# ------------------------------------------------------------------------------------ agreement


def test_rank_agreement_is_kendall_tau_with_a_model_bootstrap():
    rng = np.random.default_rng(18)
    rows = []
    for model in ("m1", "m2", "m3"):
        for layer in range(5):
            base = rng.standard_normal()
            for metric, score in (("r2", base), ("cka", base + 0.3 * rng.standard_normal())):
                rows.append(("s", model, f"l{layer}", metric, score))
    rows.append(("t", "only", "l0", "r2", 0.1))
    rows.append(("t", "only", "l0", "cka", 0.2))
    table = pd.DataFrame(rows, columns=["study", "model", "layer", "metric", "score"])
    out = rank_agreement(table, n_boot=200, seed=0)
    assert list(out.columns) == AGREEMENT_COLUMNS
    s = out[out["study"] == "s"].iloc[0]
    w = table[table["study"] == "s"].pivot(
        index=["model", "layer"], columns="metric", values="score"
    )
    assert s["tau"] == pytest.approx(scipy.stats.kendalltau(w["r2"], w["cka"]).statistic)
    assert s["n_layers"] == 15 and s["n_models"] == 3 and s["n_boot"] > 150
    assert s["tau_boot_low"] <= s["tau"] <= s["tau_boot_high"]
    t = out[out["study"] == "t"].iloc[0]  # one model, one layer: nothing to rank or resample
    assert np.isnan(t["tau"]) and np.isnan(t["tau_boot_low"])
    again = rank_agreement(table, n_boot=200, seed=0)
    pd.testing.assert_frame_equal(out, again)


def test_weighted_tau_b_equals_scipy_on_the_replicated_sample():
    rng = np.random.default_rng(19)
    a = np.round(rng.standard_normal(12), 1)  # ties
    b = a + rng.standard_normal(12)
    b[3] = np.nan
    counts = rng.integers(0, 3, size=(20, 12))
    got = weighted_tau_b(a, b, counts)
    for r, c in enumerate(counts):
        idx = np.repeat(np.arange(12), c)
        idx = idx[np.isfinite(b[idx])]
        ref = scipy.stats.kendalltau(a[idx], b[idx]).statistic
        assert got[r] == pytest.approx(ref, abs=1e-12, nan_ok=True)


# ------------------------------------------------------------------------------------ workflow


@pytest.mark.workflow
def test_metrics_stage_end_to_end(study):
    work, cfg = study
    cfg["metrics"] = {"pls_components": 5, "procrustes_dim": 10, "cca_dim": 4}
    run_snakemake(work, cfg, "results/metrics/toy/m1.parquet")
    df = pd.read_parquet(work / "results/metrics/toy/m1.parquet")
    assert list(df.columns) == COLUMNS
    assert set(df["metric"]) == set(MEASURES)
    assert df["layer"].unique().tolist() == ["L0", "L1", "L2"]
    assert np.isfinite(df["score"]).all()
    assert (work / "logs/metrics/toy/m1.log").is_file()
    assert (work / "benchmarks/metrics/toy/m1.tsv").is_file()
