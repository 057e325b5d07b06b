"""Unit tests of predictivity.aggregate.fits against statsmodels / numpy / scipy computed directly."""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.api as sm
import statsmodels.formula.api as smf

from predictivity.aggregate import fits
from predictivity.aggregate.fits import (
    FITS_COLUMNS,
    FitWarning,
    bootstrap_lines,
    fit_pooled,
    fit_study,
    fits_table,
    theory_variance_explained,
)

N_BOOT = 200


def make_study(study, n_models, n_layers, slope, seed, table=False):
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(n_models):
        offset = rng.normal(0, 0.05)
        x = np.sort(rng.uniform(0.5, 4.0, n_layers))
        for i, xi in enumerate(x):
            y = 0.1 + offset + slope * xi + rng.normal(0, 0.03)
            row = dict(
                study=study,
                model=f"m{m}",
                layer=f"l{i}",
                layer_index=i,
                pr=float(np.exp(xi)),
                log_pr=float(xi),
                trained=[True, False, np.nan][m % 3],
            )
            if table:
                row.update(score=y, r2=np.nan, pearson_r=np.nan)
            else:
                row.update(
                    r2=y,
                    pearson_r=np.sqrt(max(y, 0)) + rng.normal(0, 0.01),
                    theory_r2=y + rng.normal(0, 0.02) + 0.2,
                )
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture
def layers():
    return pd.concat(
        [
            make_study("alpha", 3, 6, 0.05, 1),
            make_study("beta", 2, 5, 0.09, 2),
            make_study("gamma", 4, 4, 0.03, 3, table=True),
        ],
        ignore_index=True,
    )


def test_point_fit_matches_numpy_and_scipy(layers):
    g = layers[layers.study == "alpha"]
    for metric in ("r2", "pearson_r"):
        f = fit_study(g, metric, n_boot=N_BOOT, seed=0)
        slope, intercept = np.polyfit(g.log_pr, g[metric], 1)
        r, _ = scipy.stats.pearsonr(g.log_pr, g[metric])
        assert f["slope"] == pytest.approx(slope, rel=1e-10)
        assert f["intercept"] == pytest.approx(intercept, rel=1e-10)
        assert f["pearson_r"] == pytest.approx(r, rel=1e-10)
        assert f["r2"] == pytest.approx(r**2, rel=1e-10)
        assert f["n"] == len(g) and f["n_models"] == 3
        assert f["slope_ci_low"] <= f["slope"] <= f["slope_ci_high"]


def test_nan_rows_are_dropped(layers):
    g = layers[layers.study == "alpha"].copy()
    g.loc[g.index[:2], "r2"] = np.nan
    f = fit_study(g, "r2", n_boot=N_BOOT)
    ok = g.r2.notna()
    assert f["n"] == ok.sum()
    assert f["slope"] == pytest.approx(np.polyfit(g.log_pr[ok], g.r2[ok], 1)[0])


def test_ci_reproducible_under_seed():
    g = make_study("many", 8, 6, 0.05, 4)  # enough models for the CI to depend on the draws
    a = fit_study(g, "r2", n_boot=N_BOOT, seed=0)
    b = fit_study(g, "r2", n_boot=N_BOOT, seed=0)
    c = fit_study(g, "r2", n_boot=N_BOOT, seed=1)
    assert (a["slope_ci_low"], a["slope_ci_high"]) == (b["slope_ci_low"], b["slope_ci_high"])
    assert (a["slope_ci_low"], a["slope_ci_high"]) != (c["slope_ci_low"], c["slope_ci_high"])


def test_bootstrap_follows_documented_algorithm(layers):
    """Replicate b refits OLS on the layers of models idx[b], idx = rng.integers(0, G, (B, G))."""
    g = layers[layers.study == "alpha"]
    models = sorted(g.model.unique())
    idx = np.random.default_rng(7).integers(0, len(models), size=(50, len(models)))
    expected = []
    for draw in idx:
        d = pd.concat([g[g.model == models[j]] for j in draw])
        expected.append(np.polyfit(d.log_pr, d.r2, 1) if d.log_pr.nunique() > 1 else [np.nan] * 2)
    expected = np.array(expected)
    a, b = bootstrap_lines(g, "r2", n_boot=50, seed=7)
    np.testing.assert_allclose(b, expected[:, 0], rtol=1e-8)
    np.testing.assert_allclose(a, expected[:, 1], rtol=1e-8)
    f = fit_study(g, "r2", n_boot=50, seed=7)
    assert f["slope_ci_low"] == pytest.approx(np.percentile(expected[:, 0], 2.5))
    assert f["slope_ci_high"] == pytest.approx(np.percentile(expected[:, 0], 97.5))


def test_bootstrap_resamples_models_not_layers():
    # two models on the same PRs, each exactly on a line: y = x and y = 3x. Resampling models
    # can only give slope 1 ({A,A}), 2 ({A,B}) or 3 ({B,B}); resampling layers would give a
    # continuum of slopes.
    x = np.log(np.array([2.0, 4.0, 8.0, 16.0, 32.0]))
    df = pd.DataFrame(
        {"study": "s", "model": ["A"] * 5 + ["B"] * 5, "log_pr": np.r_[x, x], "r2": np.r_[x, 3 * x]}
    )
    _, slopes = bootstrap_lines(df, "r2", n_boot=N_BOOT, seed=0)
    assert np.all(np.isin(np.round(slopes, 9), [1.0, 2.0, 3.0]))
    assert set(np.round(slopes, 9)) == {1.0, 2.0, 3.0}
    f = fit_study(df, "r2", n_boot=N_BOOT, seed=0)
    assert f["slope_ci_low"] == pytest.approx(1.0) and f["slope_ci_high"] == pytest.approx(3.0)
    # a single model: the layers are the units, so slopes vary continuously
    one = df[df.model == "B"].assign(r2=3 * x + np.array([0.1, -0.2, 0.05, 0.3, -0.1]))
    _, slopes = bootstrap_lines(one, "r2", n_boot=N_BOOT, seed=0)
    assert len(np.unique(np.round(slopes[np.isfinite(slopes)], 9))) > 10


def test_exactly_collinear_model_gives_degenerate_ci():
    # one model exactly on a line, the other noisy: when ≥ 2 models the draws are whole models,
    # so a replicate drawing only the collinear model has exactly its slope.
    x = np.log(np.array([2.0, 4.0, 8.0, 16.0]))
    df = pd.DataFrame(
        {
            "study": "s",
            "model": ["A"] * 4 + ["B"] * 4,
            "log_pr": np.r_[x, x],
            "r2": np.r_[0.5 * x, 0.2 * x + np.array([0.3, -0.3, 0.2, -0.1])],
        }
    )
    _, slopes = bootstrap_lines(df, "r2", n_boot=N_BOOT, seed=3)
    assert np.isclose(slopes, 0.5).sum() > N_BOOT * 0.15  # {A, A}: probability 1/4


def test_too_few_layers_nan_and_warning():
    df = pd.DataFrame({"study": "s", "model": "m", "log_pr": [1.0, 2.0], "r2": [0.1, 0.2]})
    with pytest.warns(FitWarning, match="at least 3"):
        f = fit_study(df, "r2", n_boot=N_BOOT)
    assert np.isnan(f["slope"]) and np.isnan(f["slope_ci_low"]) and f["n"] == 2
    flat = pd.DataFrame(
        {"study": "s", "model": "m", "log_pr": [1.0] * 4, "r2": [0.1, 0.2, 0.3, 0.1]}
    )
    with pytest.warns(FitWarning, match="same log PR"):
        assert np.isnan(fit_study(flat, "r2", n_boot=N_BOOT)["slope"])


def test_theory_variance_explained(layers):
    g = layers[layers.study == "alpha"]
    direct = sm.OLS(g.r2, sm.add_constant(g.theory_r2)).fit().rsquared
    assert theory_variance_explained(g, "r2") == pytest.approx(direct)
    assert np.isnan(theory_variance_explained(g.drop(columns="theory_r2"), "r2"))
    assert np.isnan(theory_variance_explained(g.assign(theory_r2=np.nan), "r2"))
    assert np.isnan(theory_variance_explained(g.iloc[:2], "r2"))


def test_pooled_matches_statsmodels(layers):
    sub = layers[layers.study.isin(["alpha", "beta"])]
    f = fit_pooled(sub, "r2", n_boot=N_BOOT, seed=0)
    d = sub.rename(columns={"r2": "y", "log_pr": "x", "study": "s"})
    fe = smf.ols("y ~ x + C(s)", data=d).fit()
    full = smf.ols("y ~ x * C(s)", data=d).fit()
    fval, pval, _ = full.compare_f_test(fe)
    assert f["slope"] == pytest.approx(fe.params["x"], rel=1e-10)
    assert f["equal_slopes_f"] == pytest.approx(fval, rel=1e-8)
    assert f["equal_slopes_p"] == pytest.approx(pval, rel=1e-8)
    # intercept: the mean over studies of the study intercepts
    b0 = fe.params["Intercept"]
    assert f["intercept"] == pytest.approx(np.mean([b0, b0 + fe.params["C(s)[T.beta]"]]))
    xd = d.x - d.groupby("s").x.transform("mean")
    yd = d.y - d.groupby("s").y.transform("mean")
    r, _ = scipy.stats.pearsonr(xd, yd)
    assert f["pearson_r"] == pytest.approx(r) and f["r2"] == pytest.approx(r * r)
    assert f["n"] == len(sub) and f["n_models"] == 5
    assert f["slope_ci_low"] < f["slope"] < f["slope_ci_high"]
    one = fit_pooled(layers[layers.study == "alpha"], "r2", n_boot=N_BOOT)
    assert np.isnan(one["equal_slopes_f"]) and np.isnan(one["equal_slopes_p"])
    assert one["slope"] == pytest.approx(fit_study(layers[layers.study == "alpha"], "r2")["slope"])


def test_pooled_bootstrap_resamples_models_within_studies():
    x = np.log(np.array([2.0, 4.0, 8.0, 16.0, 32.0]))
    parts = []
    for s, k in (("s1", 1.0), ("s2", 2.0)):
        parts.append(
            pd.DataFrame(
                {
                    "study": s,
                    "model": ["A"] * 5 + ["B"] * 5,
                    "log_pr": np.r_[x, x],
                    "r2": np.r_[x, 3 * x] * k + k,
                }
            )
        )
    df = pd.concat(parts, ignore_index=True)
    rng = np.random.default_rng(0)
    idx1 = rng.integers(0, 2, size=(N_BOOT, 2))
    idx2 = rng.integers(0, 2, size=(N_BOOT, 2))
    # within-study slope of a draw = mean of the drawn models' slopes (same x, same spread)
    s1 = np.array([1.0, 3.0])[idx1].mean(1)
    s2 = np.array([2.0, 6.0])[idx2].mean(1)
    expected = (s1 + s2) / 2
    f = fit_pooled(df, "r2", n_boot=N_BOOT, seed=0)
    assert f["slope_ci_low"] == pytest.approx(np.percentile(expected, 2.5))
    assert f["slope_ci_high"] == pytest.approx(np.percentile(expected, 97.5))


def test_fits_table(layers):
    tiny = pd.DataFrame(
        {
            "study": "tiny",
            "model": "m",
            "layer": ["a", "b"],
            "log_pr": [1.0, 2.0],
            "pr": np.exp([1.0, 2.0]),
            "r2": [0.1, 0.2],
            "pearson_r": [0.3, 0.4],
        }
    )
    table = pd.concat([layers, tiny], ignore_index=True)
    with pytest.warns(FitWarning):
        t = fits_table(table, n_boot=N_BOOT, seed=0)
    assert list(t.columns) == FITS_COLUMNS
    keys = list(zip(t.scope, t.metric))
    assert keys == [
        ("alpha", "r2"),
        ("alpha", "pearson_r"),
        ("beta", "r2"),
        ("beta", "pearson_r"),
        ("gamma", "score"),
        ("tiny", "r2"),
        ("tiny", "pearson_r"),
        ("pooled", "r2"),
        ("pooled", "pearson_r"),
    ]
    tiny_rows = t[t.scope == "tiny"]
    assert tiny_rows.slope.isna().all() and (tiny_rows.n == 2).all()
    pooled = t[(t.scope == "pooled") & (t.metric == "r2")].iloc[0]
    # tiny is left out of the pooled fit
    assert pooled.n == 6 * 3 + 5 * 2 and pooled.n_models == 5
    assert np.isfinite(pooled.equal_slopes_p) and np.isfinite(pooled.theory_r2_variance_explained)
    g = t[t.scope == "gamma"].iloc[0]
    assert np.isnan(g.theory_r2_variance_explained) and g.n == 16 and g.n_models == 4
    assert t[t.scope != "pooled"].equal_slopes_f.isna().all()
    a = t[(t.scope == "alpha") & (t.metric == "r2")].iloc[0]
    ref = fit_study(layers[layers.study == "alpha"], "r2", n_boot=N_BOOT, seed=0)
    assert a.slope == pytest.approx(ref["slope"]) and a.slope_ci_low == ref["slope_ci_low"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        pd.testing.assert_frame_equal(t, fits_table(table, n_boot=N_BOOT, seed=0))


def test_pooled_score_needs_two_table_studies(layers):
    t = fits_table(layers, n_boot=N_BOOT)
    assert ("pooled", "score") not in set(zip(t.scope, t.metric))
    two = pd.concat([layers, make_study("delta", 2, 5, 0.04, 9, table=True)], ignore_index=True)
    t = fits_table(two, n_boot=N_BOOT)
    row = t[(t.scope == "pooled") & (t.metric == "score")].iloc[0]
    assert row.n == 16 + 10 and np.isfinite(row.equal_slopes_p)
    assert np.isnan(row.theory_r2_variance_explained)


def test_log_pr_computed_from_pr_when_absent(layers):
    g = layers[layers.study == "alpha"]
    a = fit_study(g, "r2", n_boot=N_BOOT)
    b = fit_study(g.drop(columns="log_pr"), "r2", n_boot=N_BOOT)
    assert a["slope"] == pytest.approx(b["slope"])
    assert fits.MIN_LAYERS == 3
