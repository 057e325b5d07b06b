"""Controls of a layer's score (docs/controls.md) against independent references: the regression
itself (γ = 1), scikit-learn RidgeCV on explicitly reshaped arrays, the closed-form PR, the
null's eigenvalues, the theory stage, synthetic spectrum/alignment decompositions, the config
schema and the rule end to end."""

import runpy
from contextlib import nullcontext
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, run_snakemake
from sklearn.linear_model import Ridge, RidgeCV

from predictivity.config import SCHEMA_PATH, check_config, load_schema
from predictivity.core.controls.profiles import (
    decompose_study,
    fold_profile,
    profile_eg,
)
from predictivity.core.controls.scoring import (
    CONTROL_COLUMNS,
    SpectrumRangeError,
    fold_basis,
    inflate_layer,
    layer_controls,
    model_controls,
    null_basis,
    prepare_layer,
    reshape,
    solve_fold,
    solve_reshaped,
)
from predictivity.core.controls.summary import decomposition_shares, layer_control_columns
from predictivity.core.ridge import (
    fold_results,
    make_folds,
    ridge_cv_fold,
    score_layers,
    training_size,
)
from predictivity.core.theory import layer_theory
from predictivity.errors import InputError

GAMMAS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)
ALPHAS = np.logspace(-2, 6, 9)


def _data(P=60, M=90, N=8, seed=0, dtype=np.float64, rank=None):
    """Activations (P × M, unit offsets) and targets sharing 10 latent factors; with ``rank``
    the activations are a product of rank ``rank``."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((P, 10))
    Y = Z @ rng.standard_normal((10, N)) + rng.standard_normal((P, N))
    scale = np.linspace(2.0, 0.2, M)
    X = (Z @ rng.standard_normal((10, M)) + 0.5 * rng.standard_normal((P, M))) * scale
    if rank is not None:
        X = (np.hstack([Z, rng.standard_normal((P, rank - 10))]) * np.linspace(2, 0.5, rank)) @ (
            rng.standard_normal((rank, M))
        )
    return X.astype(dtype) + rng.uniform(-1, 1, M).astype(dtype), Y


def _summary(df):
    return {
        "r2": df["r2"].median(),
        "pearson_r": df["pearson_r"].median(),
        "r2_pooled": 1.0 - df["sse"].sum() / df["sst"].sum(),
        "alpha_median": df["alpha"].median(),
    }


@pytest.mark.parametrize("M", [30, 90])  # covariance form (M ≤ p) and kernel form
@pytest.mark.parametrize("scaling", ["none", "trace"])
@pytest.mark.parametrize("grouped", [False, True])
def test_gamma_one_reproduces_the_regression_exactly(M, scaling, grouped, tmp_path):
    X, Y = _data(M=M, dtype=np.float32)
    groups = np.repeat(np.arange(20), 3) if grouped else None
    folds = make_folds(60, 5, 0, groups)
    reg, per_fold = score_layers(
        {"a": X}, Y, folds, ALPHAS, scaling, groups=groups, return_folds=True
    )
    opts = dict(alphas=ALPHAS, alpha_scaling=scaling, groups=groups, gammas=GAMMAS, n_null=0)
    rows, _ = layer_controls(X, Y, folds, noise_units=0, **opts)
    for control in ("layer", "reshape"):
        row = rows[(rows["control"] == control) & (rows["gamma"] == 1.0)].iloc[0]
        for key, value in _summary(reg).items():
            assert row[key] == value, (control, key)
    # the pipeline hands the regression's fold table to the controls instead of a second search:
    # read back through parquet, the whole table is the same, bit for bit
    per_fold.sample(frac=1.0, random_state=0).to_parquet(tmp_path / "f.parquet")  # any row order
    per_fold = pd.read_parquet(tmp_path / "f.parquet")
    target = np.arange(Y.shape[1])
    own = fold_results(per_fold, "a", target)
    again, _ = layer_controls(X, Y, folds, noise_units=0, layer_folds=own, **opts)
    pd.testing.assert_frame_equal(again, rows, check_exact=True)


def test_fold_results_reject_a_table_of_other_targets_or_folds():
    X, Y = _data()
    folds = make_folds(60, 5, 0)
    _, per_fold = score_layers({"a": X}, Y, folds, ALPHAS, return_folds=True)
    with pytest.raises(ValueError, match="targets"):
        fold_results(per_fold[per_fold["target"] != 3], "a", np.arange(Y.shape[1]))
    with pytest.raises(ValueError, match="cv_sse"):
        fold_results(per_fold.drop(columns="cv_sse"), "a", np.arange(Y.shape[1]))
    with pytest.raises(ValueError, match="no rows"):
        fold_results(per_fold, "b", np.arange(Y.shape[1]))
    own = fold_results(per_fold, "a", np.arange(Y.shape[1]))
    with pytest.raises(ValueError, match="one result"):
        layer_controls(X, Y, folds[:4] + [folds[4]], alphas=ALPHAS, layer_folds=own[:4])


def _explicit_fold(X, tr, te, gamma, rank):
    """Train/test activations mapped by A = V S^(γ−1) Vᵀ, from numpy's SVD of the training fold."""
    mu = X[tr].mean(axis=0)
    U, S, Vt = np.linalg.svd(X[tr] - mu, full_matrices=False)
    V = Vt[:rank].T
    A = V @ np.diag(S[:rank] ** (gamma - 1.0)) @ V.T
    return (X[tr] - mu) @ A, (X[te] - mu) @ A, S[:rank]


@pytest.mark.parametrize("M", [20, 90])  # covariance and kernel form
@pytest.mark.parametrize("scaling", ["none", "trace"])
def test_each_gamma_equals_sklearn_ridgecv_on_the_reshaped_arrays(M, scaling):
    # the kernel-form layer has rank 30 < p − 1: whitened at full rank the LOO is flat (below)
    X, Y = _data(M=M, rank=30 if M > 48 else None)
    folds = make_folds(60, 5, 0)
    data = prepare_layer(X, folds)
    assert data.form == ("covariance" if M <= 48 else "kernel")
    for te in folds:
        tr = np.setdiff1d(np.arange(60), te)
        te = np.sort(te)
        b = fold_basis(data, Y, tr, te)
        assert b.rank == min(M, 30)
        for gamma in GAMMAS:
            res = solve_fold(reshape(b, gamma), ALPHAS, scaling)
            Xtr, Xte, S = _explicit_fold(X, tr, te, gamma, b.rank)
            scale = np.sum(S ** (2 * gamma)) / len(tr) if scaling == "trace" else 1.0
            ref = RidgeCV(alphas=ALPHAS * scale, alpha_per_target=True, store_cv_results=True)
            ref.fit(Xtr, Y[tr])
            pred = ref.predict(Xte)
            yc = Y[te] - Y[te].mean(axis=0)
            r2 = 1 - ((Y[te] - pred) ** 2).sum(0) / (yc**2).sum(0)
            assert np.max(np.abs(res.r2 - r2)) <= 1e-6, gamma
            np.testing.assert_allclose(res.alpha, ref.alpha_, rtol=1e-12)
            # the inner LOO error at the chosen alpha = scikit-learn's summed squared LOO errors
            loo = ref.cv_results_.sum(axis=0)[np.arange(Y.shape[1]), res.alpha_index]
            np.testing.assert_allclose(res.cv_sse, loo, rtol=1e-7)
            np.testing.assert_allclose(res.cv_sst, ((Y[tr] - Y[tr].mean(0)) ** 2).sum(0))


@pytest.mark.parametrize("M", [20, 90])  # covariance and kernel form
@pytest.mark.parametrize("grouped", [False, True])
def test_stacked_reshaping_equals_one_gamma_at_a_time(M, grouped):
    """solve_reshaped (one stacked prediction GEMM for all γ) = solve_fold(reshape(b, γ)), each
    of which equals scikit-learn on the explicit arrays (test above)."""
    X, Y = _data(M=M, rank=30 if M > 48 else None)
    groups = np.repeat(np.arange(20), 3) if grouped else None
    folds = make_folds(60, 5, 0, groups)
    data = prepare_layer(X, folds)
    for te in folds:
        tr = np.setdiff1d(np.arange(60), te)
        b = fold_basis(data, Y, tr, np.sort(te), groups)
        got = solve_reshaped(b, GAMMAS, ALPHAS, "trace", max_bytes=8 * b.Z.size * 2)
        assert [bg.trace for bg, _ in got] == [reshape(b, g).trace for g in GAMMAS if g != 1]
        for gamma, (_, res) in zip([g for g in GAMMAS if g != 1], got):
            ref = solve_fold(reshape(b, gamma), ALPHAS, "trace")
            np.testing.assert_array_equal(res.alpha_index, ref.alpha_index)
            np.testing.assert_array_equal(res.cv_sse, ref.cv_sse)
            np.testing.assert_allclose(res.r2, ref.r2, rtol=0, atol=1e-10)
            np.testing.assert_allclose(res.pearson_r, ref.pearson_r, rtol=0, atol=1e-10)
            np.testing.assert_allclose(res.sse, ref.sse, rtol=1e-10)


def test_whitened_full_rank_layer_has_a_flat_loo_and_takes_the_lowest_alpha():
    X, Y = _data(M=90)
    folds = make_folds(60, 5, 0)
    data = prepare_layer(X, folds)
    tr = np.setdiff1d(np.arange(60), folds[0])
    te = np.sort(folds[0])
    b = fold_basis(data, Y, tr, te)
    assert b.rank == len(tr) - 1
    res = solve_fold(reshape(b, 0.0), ALPHAS)
    assert (res.alpha_index == 0).all()
    rows, _ = layer_controls(X, Y, folds, alphas=ALPHAS, gammas=[0, 1], n_null=0, noise_units=0)
    assert rows["flat_cv"].tolist() == [False, True, False]  # layer, γ = 0, γ = 1
    cols = layer_control_columns(rows.assign(layer="a")).iloc[0]
    assert cols["gamma_at_max"] == 1.0 and cols["r2_reshape_min"] == rows["r2"].iloc[0]
    Xtr, Xte, _ = _explicit_fold(X, tr, te, 0.0, b.rank)
    cv = RidgeCV(alphas=ALPHAS, alpha_per_target=True, store_cv_results=True).fit(Xtr, Y[tr])
    loo = cv.cv_results_.sum(axis=0)  # targets × alphas
    np.testing.assert_allclose(loo, loo[:, :1] * np.ones_like(loo), rtol=1e-8)
    np.testing.assert_allclose(res.cv_sse, loo[:, 0], rtol=1e-8)
    pred = Ridge(alpha=ALPHAS[0]).fit(Xtr, Y[tr]).predict(Xte)
    yc = Y[te] - Y[te].mean(axis=0)
    np.testing.assert_allclose(res.r2, 1 - ((Y[te] - pred) ** 2).sum(0) / (yc**2).sum(0), atol=1e-8)


@pytest.mark.parametrize("grouped", [False, True])
def test_flat_fold_error_is_the_brute_force_held_out_error(grouped):
    """γ = 0 on a full-rank layer: the closed-form inner-CV error equals refitting scikit-learn
    Ridge without each group (or stimulus) on the explicitly whitened arrays, at any alpha."""
    X, Y = _data(M=90)
    groups = np.repeat(np.arange(20), 3)[np.random.default_rng(1).permutation(60)]
    groups = groups if grouped else None
    folds = make_folds(60, 5, 0, groups)
    data = prepare_layer(X, folds)
    te = np.sort(folds[0])
    tr = np.setdiff1d(np.arange(60), te)
    b = fold_basis(data, Y, tr, te, groups)
    assert (b.rows is not None) == grouped
    res = solve_fold(reshape(b, 0.0), ALPHAS, "trace")
    assert (res.alpha_index == 0).all()
    Xtr, _, _ = _explicit_fold(X, tr, te, 0.0, b.rank)
    labels = groups[tr] if grouped else np.arange(len(tr))
    for alpha in (ALPHAS[0], 1e3):
        err = np.zeros(Y.shape[1])
        for g in np.unique(labels):
            out = labels == g
            fit = Ridge(alpha=alpha).fit(Xtr[~out], Y[tr][~out])
            err += ((Y[tr][out] - fit.predict(Xtr[out])) ** 2).sum(axis=0)
        np.testing.assert_allclose(res.cv_sse, err, rtol=1e-7)


def test_reshaping_with_groups_equals_the_regression_on_the_reshaped_arrays():
    """Leave-one-group-out alpha: each γ equals ridge_cv_fold on explicitly reshaped arrays."""
    X, Y = _data(M=90, rank=30)
    groups = np.repeat(np.arange(20), 3)
    folds = make_folds(60, 5, 0, groups)
    data = prepare_layer(X, folds)
    for te in folds:
        tr = np.setdiff1d(np.arange(60), te)
        b = fold_basis(data, Y, tr, np.sort(te), groups)
        assert b.rows is not None
        for gamma in (0.0, 0.5, 2.0):
            res = solve_fold(reshape(b, gamma), ALPHAS, "trace")
            Xtr, Xte, _ = _explicit_fold(X, tr, te, gamma, b.rank)
            Xr = np.zeros_like(X)
            Xr[tr], Xr[te] = Xtr, Xte
            ref = ridge_cv_fold(
                Xr, Y, tr, np.sort(te), ALPHAS, alpha_scaling="trace", groups=groups
            )
            assert ref.grouped and res.grouped
            np.testing.assert_allclose(res.r2, ref.r2, atol=1e-8)
            np.testing.assert_array_equal(res.alpha_index, ref.alpha_index)
            np.testing.assert_allclose(res.cv_sse, ref.cv_sse, rtol=1e-8)


@pytest.mark.parametrize("M", [20, 90])
def test_reshaped_pr_is_the_closed_form_on_the_training_folds(M):
    X, Y = _data(M=M)
    folds = make_folds(60, 5, 0)
    rows, _ = layer_controls(X, Y, folds, alphas=ALPHAS, gammas=GAMMAS, n_null=0, noise_units=0)
    for gamma in GAMMAS:
        expected = []
        for te in folds:
            tr = np.setdiff1d(np.arange(60), te)
            S = np.linalg.svd(X[tr] - X[tr].mean(0), compute_uv=False)[: min(M, len(tr) - 1)]
            expected.append(np.sum(S ** (2 * gamma)) ** 2 / np.sum(S ** (4 * gamma)))
        got = rows[(rows["control"] == "reshape") & (rows["gamma"] == gamma)]["pr"].iloc[0]
        np.testing.assert_allclose(got, np.mean(expected), rtol=1e-9)
    assert rows.loc[rows["control"] == "reshape", "n_dropped"].eq(0).all()


@pytest.mark.parametrize("M", [20, 90])
def test_null_has_the_layers_eigenvalues_and_random_eigenvectors(M):
    X, Y = _data(M=M)
    folds = make_folds(60, 5, 0)
    data = prepare_layer(X, folds)
    tr = np.setdiff1d(np.arange(60), folds[0])
    b = fold_basis(data, Y, tr, np.sort(folds[0]))
    n0 = null_basis(b, np.random.default_rng(0))
    p = len(tr)
    if b.form == "kernel":
        Q0 = n0.basis
        np.testing.assert_allclose(Q0.T @ Q0, np.eye(p), atol=1e-12)
        K0 = Q0 @ np.diag(b.s) @ Q0.T
        np.testing.assert_allclose(K0 @ np.ones(p), 0, atol=1e-9 * b.s.max())
        lam = np.linalg.eigvalsh(K0)
        # the eigenvectors are not the layer's
        assert np.max(np.abs(b.basis[:, b.order[:3]].T @ Q0[:, b.order[:3]])) < 0.9
    else:
        A0 = n0.basis
        np.testing.assert_allclose(A0.T @ A0, np.diag(b.s), atol=1e-10 * b.s.max())
        np.testing.assert_allclose(A0.sum(axis=0), 0, atol=1e-9 * np.sqrt(b.s.max()))
        lam = np.linalg.eigvalsh(A0.T @ A0)
    np.testing.assert_allclose(np.sort(lam), np.sort(b.s), atol=1e-10 * b.s.max())
    assert n0.s is b.s and n0.pb is b.pb
    # seeded: the same generator gives the same draw, another seed another
    again = null_basis(b, np.random.default_rng(0))
    np.testing.assert_array_equal(again.basis, n0.basis)
    assert not np.allclose(null_basis(b, np.random.default_rng(1)).basis, n0.basis)


def test_null_is_scored_like_sklearn_on_explicit_null_features():
    """The null's fold equals RidgeCV on features with kernel Q⁰ diag(s) Q⁰ᵀ (train) and
    K_te Q Q⁰ᵀ (test)."""
    X, Y = _data(M=90)
    folds = make_folds(60, 5, 0)
    data = prepare_layer(X, folds)
    tr = np.setdiff1d(np.arange(60), folds[1])
    te = np.sort(folds[1])
    b = fold_basis(data, Y, tr, te)
    n0 = null_basis(b, np.random.default_rng(3))
    res = solve_fold(n0, ALPHAS)
    keep = np.zeros(b.s.size, bool)
    keep[b.order[: b.rank]] = True
    Ftr = n0.basis[:, keep] * np.sqrt(b.s[keep])
    Fte = b.pb[:, keep] / np.sqrt(b.s[keep])
    ref = RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(Ftr, Y[tr])
    pred = ref.predict(Fte)
    yc = Y[te] - Y[te].mean(0)
    r2 = 1 - ((Y[te] - pred) ** 2).sum(0) / (yc**2).sum(0)
    assert np.max(np.abs(res.r2 - r2)) <= 1e-6
    np.testing.assert_allclose(res.alpha, ref.alpha_)


def test_noise_units_have_the_layers_total_variance_and_inflate_pr():
    X, Y = _data(M=30)
    folds = make_folds(60, 5, 0)
    data = prepare_layer(X, folds)
    big = inflate_layer(data, folds, 500, np.random.default_rng(0))
    assert big.form == "kernel" and big.n_units == 530
    G = data.Xc @ data.Xc.T
    np.testing.assert_allclose(np.trace(big.G - G), np.trace(G), rtol=1e-12)
    small = inflate_layer(data, folds, 10, np.random.default_rng(0))
    assert small.form == "covariance" and small.Xc.shape == (60, 40)
    np.testing.assert_allclose(np.sum(small.Xc[:, 30:] ** 2), np.trace(G), rtol=1e-12)
    rows, _ = layer_controls(X, Y, folds, alphas=ALPHAS, n_null=0, noise_units=500)
    own = rows[rows["control"] == "layer"].iloc[0]
    inf = rows[rows["control"] == "inflated"].iloc[0]
    assert inf["pr"] > 2 * own["pr"] and inf["n_units"] == 530


def test_theory_r2_at_gamma_one_equals_the_theory_stage():
    X, Y = _data(M=90, dtype=np.float32)
    folds = make_folds(60, 5, 0)
    rows, prof = layer_controls(X, Y, folds, alphas=ALPHAS, n_null=0, noise_units=0)
    own = rows[rows["control"] == "layer"].iloc[0]
    th = layer_theory(
        X, Y - Y.mean(0), own["alpha_median"] / training_size(60, 5), folds, n_p=4, n_subsets=1
    )
    ref = 1.0 - th.loc[th["at_p_train"], "eg_theory"].iloc[0]
    np.testing.assert_allclose(own["theory_r2"], ref, rtol=1e-9)
    # the profile reproduces it too, and is normalised per fold
    sums = prof.groupby("fold")[["eigenvalue", "alignment"]].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, rtol=1e-12)
    dec = decompose_study(prof.assign(model="m", layer="a"))
    np.testing.assert_allclose(dec["theory_r2_profile"].iloc[0], own["theory_r2"], rtol=1e-9)


def _profiles(layers: dict[str, tuple[np.ndarray, np.ndarray]], ridge=1e-3, n_train=50, p_ref=40):
    """A profiles table from per-layer (spectrum, alignment), the same on 2 folds."""
    frames = []
    for i, (name, (lam, a)) in enumerate(layers.items()):
        for k in range(2):
            frames.append(
                pd.DataFrame(
                    {
                        "model": "m",
                        "layer": name,
                        "layer_index": i,
                        "fold": k,
                        "rank": np.arange(1, lam.size + 1),
                        "eigenvalue": lam / lam.sum(),
                        "alignment": a / a.sum(),
                        "ridge": ridge,
                        "n_train": n_train,
                        "p_ref": p_ref,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def _eg(lam, a, ridge=1e-3, p=40):
    return profile_eg(lam / lam.sum(), a / a.sum(), ridge, p)


def test_decomposition_recovers_equal_spectra_with_different_alignment():
    d = 49
    i = np.arange(1, d + 1, dtype=float)
    lam = i**-1.5
    a_top, a_bottom = i**-2.0, i**-0.2  # targets on the leading modes vs spread out
    dec = decompose_study(_profiles({"top": (lam, a_top), "flat": (lam, a_bottom)}))
    dec = dec.set_index("layer")
    # spectrum-only is the same for both (same spectrum, the study's mean alignment) ...
    assert dec.loc["top", "theory_r2_spectrum_only"] == pytest.approx(
        dec.loc["flat", "theory_r2_spectrum_only"], abs=1e-12
    )
    # ... alignment-only is each layer's own theory (the mean spectrum is its spectrum)
    for name, a in (("top", a_top), ("flat", a_bottom)):
        own = 1 - _eg(lam, a)
        assert dec.loc[name, "theory_r2_profile"] == pytest.approx(own, abs=1e-12)
        assert dec.loc[name, "theory_r2_alignment_only"] == pytest.approx(own, abs=1e-12)
    assert dec.loc["top", "theory_r2_profile"] > dec.loc["flat", "theory_r2_profile"] + 0.1
    ref = 1 - _eg(lam, (a_top / a_top.sum() + a_bottom / a_bottom.sum()) / 2)
    assert dec.loc["top", "theory_r2_spectrum_only"] == pytest.approx(ref, abs=1e-12)


def test_decomposition_recovers_different_spectra_with_equal_alignment():
    d = 49
    i = np.arange(1, d + 1, dtype=float)
    a = i**-1.0
    steep, flat = i**-2.0, i**-0.3
    dec = decompose_study(_profiles({"steep": (steep, a), "flat": (flat, a)})).set_index("layer")
    assert dec.loc["steep", "theory_r2_alignment_only"] == pytest.approx(
        dec.loc["flat", "theory_r2_alignment_only"], abs=1e-12
    )
    for name, lam in (("steep", steep), ("flat", flat)):
        own = 1 - _eg(lam, a)
        assert dec.loc[name, "theory_r2_spectrum_only"] == pytest.approx(own, abs=1e-12)
    assert abs(dec.loc["steep", "theory_r2_profile"] - dec.loc["flat", "theory_r2_profile"]) > 0.05
    # shares over a study of such layers: the spectrum explains it all, the alignment nothing
    layers = pd.DataFrame(
        {
            "study": "s",
            "r2": dec["theory_r2_profile"].to_numpy() * 0.5 + 0.1,
            "theory_r2": dec["theory_r2_profile"].to_numpy(),
            "theory_r2_spectrum_only": dec["theory_r2_spectrum_only"].to_numpy(),
            "theory_r2_alignment_only": dec["theory_r2_alignment_only"].to_numpy(),
        }
    )
    third = 1 - _eg(i**-1.0, a)
    more = pd.DataFrame(
        {
            "study": "s",
            "r2": [third * 0.5 + 0.1],
            "theory_r2": [third],
            "theory_r2_spectrum_only": [third],
            "theory_r2_alignment_only": [layers["theory_r2_alignment_only"].iloc[0]],
        }
    )
    shares = decomposition_shares(pd.concat([layers, more], ignore_index=True)).iloc[0]
    assert shares["theory_r2_variance_explained"] == pytest.approx(1.0)
    assert shares["spectrum_only_variance_explained"] == pytest.approx(1.0)
    assert np.isnan(shares["alignment_only_variance_explained"])  # no spread


def test_fold_profile_spreads_the_null_share_evenly():
    e, a = fold_profile(np.array([4.0, 1.0]), np.array([0.5, 0.1]), 1.0, 5)
    np.testing.assert_allclose(e, [0.8, 0.2, 0, 0, 0])
    np.testing.assert_allclose(a, [0.5, 0.1, 0.4 / 3, 0.4 / 3, 0.4 / 3])
    with pytest.raises(ValueError):
        decompose_study(_profiles({"x": (np.ones(3), np.ones(3))}).drop(columns="ridge"))


def test_layer_control_columns():
    rows = pd.DataFrame(
        {
            "layer": "a",
            "control": [
                "layer",
                "reshape",
                "reshape",
                "reshape",
                "null",
                "null",
                "null",
                "inflated",
            ],
            "gamma": [1.0, 0.0, 1.0, 2.0, np.nan, np.nan, np.nan, np.nan],
            "r2": [0.3, 0.1, 0.3, 0.35, 0.0, -0.1, 0.1, 0.28],
            "pr": [5.0, 40.0, 5.0, 2.0, 5.0, 5.0, 5.0, 30.0],
        }
    )
    two = pd.concat([rows, rows.assign(layer="b", r2=rows["r2"] - 0.05)], ignore_index=True)
    out = layer_control_columns(two.assign(study="s", model="m")).set_index("layer")
    assert list(out.columns[:2]) == ["study", "model"]
    a = out.loc["a"]
    assert (a["r2_reshape_min"], a["r2_reshape_max"], a["gamma_at_max"]) == (0.1, 0.35, 2.0)
    assert a["r2_null_mean"] == pytest.approx(0.0)
    assert a["r2_null_sd"] == pytest.approx(0.1)
    assert a["r2_null_z"] == pytest.approx(3.0)
    assert (a["pr_inflated"], a["r2_inflated"]) == (30.0, 0.28)
    none = layer_control_columns(rows[rows["control"].isin(["layer", "reshape"])]).iloc[0]
    assert np.isnan(none["r2_null_mean"]) and np.isnan(none["pr_inflated"])


def test_model_controls_table_columns_and_draws_are_reproducible():
    X, Y = _data(M=30)
    folds = make_folds(60, 5, 0)
    layers = {"a": X, "b": X[:, :12]}
    opts = dict(alphas=ALPHAS, alpha_scaling="trace", gammas=[0, 2], n_null=3, noise_units=20)
    rows, prof = model_controls(layers, Y, folds, **opts)
    assert list(rows.columns) == CONTROL_COLUMNS
    counts = rows.groupby(["layer", "control"]).size()
    assert counts[("a", "layer")] == 1 and counts[("a", "reshape")] == 2
    assert counts[("a", "null")] == 3 and counts[("b", "inflated")] == 1
    assert rows.loc[rows["control"] == "null", "draw"].tolist() == [0, 1, 2, 0, 1, 2]
    assert set(prof["layer"]) == {"a", "b"}
    again, _ = model_controls(layers, Y, folds, **opts)
    pd.testing.assert_frame_equal(rows, again)
    # the second layer's draws do not depend on the first layer being there
    alone, _ = layer_controls(X[:, :12], Y, folds, layer_index=1, **opts)
    got = rows[rows["layer"] == "b"].drop(columns="layer").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, alone.drop(columns="layer"))


@pytest.mark.parametrize("M", [30, 90])  # covariance form (M ≤ p) and kernel form
def test_controls_at_extreme_units(M):
    """With trace-scaled alphas every control is unchanged by rescaling the activations while
    s^γ stays in float64's normal range (X·1e60, X·1e-70, γ up to 2; measured: ≤ 3.1e-13
    relative); beyond it (X·1e±80: s² of 1e±320; X·1e145: s^1.5 of 1e437; or a trace-scaled grid
    that overflows just below, at X·1e75 / X·1e74) one SpectrumRangeError names the layer
    instead of a silently wrong R² (by 0.007 at X·1e80 before) or NaN."""
    X, Y = _data(M=M)
    folds = make_folds(60, 5, 0)
    opts = dict(alphas=ALPHAS, alpha_scaling="trace", gammas=GAMMAS, n_null=2, noise_units=20)
    want, _ = model_controls({"a": X}, Y, folds, **opts)
    for scale in (1e60, 1e-70):
        got, _ = model_controls({"a": X * scale}, Y, folds, **opts)
        for col in ("r2", "r2_pooled", "pearson_r", "pr", "theory_r2"):
            np.testing.assert_allclose(got[col], want[col], rtol=1e-11, atol=1e-14, err_msg=col)
        gam = (want["control"] == "reshape").to_numpy()
        np.testing.assert_allclose(
            got.loc[gam, "alpha_median"],
            want.loc[gam, "alpha_median"] * scale ** (2 * want.loc[gam, "gamma"]),
            rtol=1e-12,
        )
    for scale, gamma in ((1e80, "2"), (1e-80, "2"), (1e145, "1.5")):
        with pytest.raises(
            SpectrumRangeError, match=f"layer a: reshaping with gamma = {gamma} "
        ) as e:
            model_controls({"a": X * scale}, Y, folds, **opts)
        assert "float64's normal range" in str(e.value) and "rescale" in e.value.fix
    with pytest.raises(SpectrumRangeError, match="layer a: the alpha grid scaled by this training"):
        model_controls({"a": X * (1e75 if M == 30 else 1e74)}, Y, folds, **opts)


def test_controls_script_names_the_activations_file_for_extreme_units(tmp_path):
    """scripts/controls.py turns the SpectrumRangeError of a layer in extreme units into one
    InputError naming the activations file and the layer (no output written). The real
    model_controls runs; only the file readers are replaced."""
    X, Y = _data(M=90)
    folds = make_folds(60, 5, 0)
    main = runpy.run_path(str(REPO / "scripts" / "controls.py"))["main"]
    main.__globals__.update(
        load_npz=lambda path, what: (
            {"mean": Y, "target": np.arange(8)} if what == "recordings" else {"big": X * 1e80}
        ),
        read_stimuli=lambda path: None,
        stimulus_groups=lambda stimuli: None,
        make_folds=lambda P, k, seed, groups: folds,
        read_parquet=lambda path, what: None,
        fold_results=lambda frame, name, target: None,
        open_npz=lambda path: nullcontext({}),
        StoredBases=lambda arrays, path, folds: None,
    )
    out = tmp_path / "c.parquet"
    smk = SimpleNamespace(
        params=SimpleNamespace(
            options={"gammas": [0, 2], "n_null": 0, "noise_units": 0, "seed": 0},
            regression={
                "folds": 5,
                "seed": 0,
                "alphas": list(ALPHAS),
                "alpha_scaling": "trace",
                "alpha_cv": "groups",
            },
        ),
        input=SimpleNamespace(
            recordings="r.npz",
            activations="acts/m.npz",
            stimuli="s.tsv",
            folds="f.parquet",
            eigen="e.npz",
        ),
        output=SimpleNamespace(controls=str(out), profiles=str(tmp_path / "p.parquet")),
    )
    with pytest.raises(InputError, match=r"^acts/m\.npz: layer big: reshaping with gamma = 2 "):
        main(smk)
    assert not out.exists()


def test_bad_gammas_and_counts_are_rejected():
    X, Y = _data(M=30)
    folds = make_folds(60, 5, 0)
    for gammas in ([], [0.0, np.nan], [np.inf]):
        with pytest.raises(ValueError, match="gammas"):
            layer_controls(X, Y, folds, gammas=gammas)
    with pytest.raises(ValueError, match="n_null"):
        layer_controls(X, Y, folds, n_null=-1)


SCHEMA = load_schema()
STUDY = {"p": {"kind": "precomputed", "recordings": "r.npy", "models": {"m": "m.npz"}}}


@pytest.mark.parametrize(
    "controls, key, message",
    [
        ({"gammas": []}, "controls.gammas", "should be non-empty"),
        ({"gammas": [0, float("nan")]}, "controls.gammas.1", "nan"),
        ({"gammas": [0, float("inf")]}, "controls.gammas.1", "inf"),
        ({"gammas": [float("-inf")]}, "controls.gammas.0", "-inf"),
        ({"gammas": [0.5, 0.5]}, "controls.gammas", "non-unique"),
        ({"n_null": -1}, "controls.n_null", "less than the minimum of 0"),
        ({"noise_units": -5}, "controls.noise_units", "less than the minimum of 0"),
    ],
)
def test_config_errors_name_the_key(controls, key, message):
    with pytest.raises(InputError) as e:
        check_config({"studies": STUDY, "controls": controls}, SCHEMA)
    text = str(e.value)
    assert f"config key '{key}'" in text and message in text
    assert text.count("config key") == 1


def test_config_defaults_are_filled():
    from snakemake.utils import validate

    config = {"studies": STUDY}
    check_config(config, SCHEMA)
    validate(config, str(SCHEMA_PATH))
    assert config["controls"] == {
        "gammas": [0, 0.25, 0.5, 1, 1.5, 2],
        "n_null": 20,
        "noise_units": 4000,
        "seed": 0,
    }


def test_controls_rule_end_to_end(study):
    work, cfg = study
    cfg["controls"] = {"gammas": [0, 1, 2], "n_null": 3, "noise_units": 50, "seed": 1}
    run_snakemake(
        work,
        cfg,
        "results/controls/toy/m1.parquet",
        "results/controls/toy/m1.profiles.parquet",
        "results/regression/toy/m1.parquet",
    )
    rows = pd.read_parquet(work / "results/controls/toy/m1.parquet")
    prof = pd.read_parquet(work / "results/controls/toy/m1.profiles.parquet")
    reg = pd.read_parquet(work / "results/regression/toy/m1.parquet")
    assert list(rows.columns) == CONTROL_COLUMNS
    assert list(rows["layer"].unique()) == ["L0", "L1", "L2"]
    for layer, g in reg.groupby("layer"):
        own = rows[(rows["layer"] == layer) & (rows["control"] == "layer")].iloc[0]
        assert own["r2"] == g["r2"].median()
        assert own["pearson_r"] == g["pearson_r"].median()
        r1 = rows[(rows["layer"] == layer) & (rows["gamma"] == 1.0)]["r2"]
        assert (r1 == own["r2"]).all()
    assert (rows["control"] == "null").sum() == 9
    assert set(prof["layer"]) == {"L0", "L1", "L2"}
    cols = layer_control_columns(rows)
    assert cols["r2_null_z"].notna().all() and cols["pr_inflated"].notna().all()
    assert (work / "logs/controls/toy/m1.log").read_text().count("layer L") == 3
    assert (work / "benchmarks/controls/toy/m1.tsv").is_file()


def test_figures_have_one_panel_per_study():
    from matplotlib.figure import Figure

    from predictivity.aggregate.control_figures import decomposition, reshaping

    X, Y = _data(M=30)
    folds = make_folds(60, 5, 0)
    rows, prof = model_controls(
        {"a": X, "b": X[:, :12], "c": X[:, ::2]}, Y, folds, alphas=ALPHAS, n_null=2, noise_units=20
    )
    controls = pd.concat([rows.assign(study=s, model="m") for s in ("s1", "s2")])
    own = rows[rows["control"] == "layer"]
    layers = pd.concat([own.assign(study=s, model="m", pr=own["pr"] * 1.1) for s in ("s1", "s2")])
    dec = decompose_study(prof.assign(model="m"))
    layers = layers.merge(dec[["layer", *dec.columns[-3:]]], on="layer")
    fig = reshaping(layers, controls)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    fig = decomposition(layers)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(reshaping(layers.iloc[:0], controls).axes) == 1  # a message, no error
    assert len(decomposition(layers.drop(columns="theory_r2")).axes) == 2
