"""Unit tests of predictivity.aggregate.fits and .inference against statsmodels / numpy / scipy
computed directly."""

import itertools
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
    pooled_bootstrap_slopes,
    theory_variance_explained,
)
from predictivity.aggregate.inference import (
    DESIGN_DECIMALS,
    bootstrap_interval,
    diagonal_free,
    equal_slopes_test,
    mixed_design,
    mixed_slope,
)

N_BOOT = 200


def make_study(study, n_models, n_layers, slope, seed, table=False, slope_sd=0.0):
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(n_models):
        offset = rng.normal(0, 0.05)
        own = slope + (rng.normal(0, slope_sd) if slope_sd else 0.0)
        x = np.sort(rng.uniform(0.5, 4.0, n_layers))
        for i, xi in enumerate(x):
            y = 0.1 + offset + own * xi + rng.normal(0, 0.03)
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
        assert f["ols_slope"] == pytest.approx(slope, rel=1e-10)
        assert f["ols_intercept"] == pytest.approx(intercept, rel=1e-10)
        assert f["pearson_r"] == pytest.approx(r, rel=1e-10)
        assert f["r2"] == pytest.approx(r**2, rel=1e-10)
        assert f["n"] == len(g) and f["n_models"] == 3 and f["few_networks"]
        assert f["inference"] in ("mixed", "bootstrap")
        assert f["slope_ci_low"] <= f["slope"] <= f["slope_ci_high"]


def test_nan_rows_are_dropped(layers):
    g = layers[layers.study == "alpha"].copy()
    g.loc[g.index[:2], "r2"] = np.nan
    f = fit_study(g, "r2", n_boot=N_BOOT)
    ok = g.r2.notna()
    assert f["n"] == ok.sum()
    assert f["ols_slope"] == pytest.approx(np.polyfit(g.log_pr[ok], g.r2[ok], 1)[0])


def test_ci_reproducible_under_seed():
    g = make_study("two", 2, 6, 0.05, 4)  # 2 networks: the bootstrap fallback, seed-dependent
    a = fit_study(g, "r2", n_boot=N_BOOT, seed=0)
    b = fit_study(g, "r2", n_boot=N_BOOT, seed=0)
    c = fit_study(g, "r2", n_boot=N_BOOT, seed=1)
    assert a["inference"] == "bootstrap" and "2 network" in a["inference_note"]
    assert (a["slope_ci_low"], a["slope_ci_high"]) == (b["slope_ci_low"], b["slope_ci_high"])
    assert (a["slope_ci_low"], a["slope_ci_high"]) != (c["slope_ci_low"], c["slope_ci_high"])
    many = make_study("many", 8, 6, 0.05, 4, slope_sd=0.02)  # mixed: independent of the seed
    a, c = (fit_study(many, "r2", n_boot=N_BOOT, seed=k) for k in (0, 1))
    assert a["inference"] == "mixed" and a == c and not a["few_networks"]


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


def test_bootstrap_fallback_interval_is_t_with_small_sample_factor(layers):
    """With 2 networks: slope = OLS, interval = slope ± t(G−1)·√(G/(G−1))·sd(replicates)."""
    g = layers[layers.study == "beta"]
    f = fit_study(g, "r2", n_boot=50, seed=7)
    _, reps = bootstrap_lines(g, "r2", n_boot=50, seed=7)
    se = np.std(reps[np.isfinite(reps)], ddof=1) * np.sqrt(2 / 1)
    q = scipy.stats.t.ppf(0.975, 1)
    assert f["inference"] == "bootstrap" and f["slope_df"] == 1
    assert f["slope"] == f["ols_slope"] == pytest.approx(np.polyfit(g.log_pr, g.r2, 1)[0])
    assert f["slope_se"] == pytest.approx(se)
    assert f["slope_ci_low"] == pytest.approx(f["slope"] - q * se)
    assert f["slope_ci_high"] == pytest.approx(f["slope"] + q * se)
    assert np.isnan(bootstrap_interval(0.1, np.array([0.1, np.nan]), 1, 2)["ci_low"])


def _mixed_direct(d, strata=None):
    """statsmodels MixedLM called directly on the documented standardised design."""
    d = d.assign(
        xs=(d.log_pr - d.log_pr.mean()) / d.log_pr.std(ddof=0),
        ys=(d.r2 - d.r2.mean()) / d.r2.std(ddof=0),
    )
    formula = "ys ~ xs" if strata is None else "ys ~ 0 + C(study) + xs"
    groups = d.model if strata is None else d.study + "/" + d.model
    k_fe = 2 if strata is None else d.study.nunique() + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "may be on the boundary": fitted all the same
        res = smf.mixedlm(formula, d, groups=groups, re_formula="~xs").fit(
            reml=True, method=["lbfgs"], free=diagonal_free(k_fe)
        )
    k = d.r2.std(ddof=0) / d.log_pr.std(ddof=0)
    return res, res.fe_params["xs"] * k, res.bse_fe["xs"] * k


def test_mixed_model_matches_statsmodels():
    g = make_study("many", 8, 6, 0.05, 4, slope_sd=0.02)
    f = fit_study(g, "r2", n_boot=N_BOOT)
    res, slope, se = _mixed_direct(g)
    assert res.converged and f["inference"] == "mixed"
    assert f["slope"] == pytest.approx(slope, rel=1e-6)
    assert f["slope_se"] == pytest.approx(se, rel=1e-6)
    q = scipy.stats.t.ppf(0.975, 8 - 1)
    assert f["slope_df"] == 7
    assert f["slope_ci_low"] == pytest.approx(slope - q * se, rel=1e-6)
    assert f["slope_ci_high"] == pytest.approx(slope + q * se, rel=1e-6)
    # intercept in the original units: ȳ + s_y·β₀ − slope·x̄
    b0 = res.fe_params["Intercept"] * g.r2.std(ddof=0)
    assert f["intercept"] == pytest.approx(g.r2.mean() + b0 - slope * g.log_pr.mean(), rel=1e-6)
    # the OLS line and correlation stay beside it
    assert f["ols_slope"] == pytest.approx(np.polyfit(g.log_pr, g.r2, 1)[0])


@pytest.mark.parametrize("seed", [5, 9, 13])
def test_mixed_model_does_not_depend_on_the_last_bits_of_the_scores(seed):
    """Near a zero variance component statsmodels' optimiser converges or fails, and stops
    where it stops, by the last bits of the data: these seeds (found by search) flipped between
    a converged fit and a failed one under a 1e-14 relative change of y before the design was
    rounded (DESIGN_DECIMALS). Now every such change gives the same fit (equal to 1e-12: the
    means and sds that map it back still carry the change)."""
    rng = np.random.default_rng(seed)
    g, L = int(rng.integers(4, 8)), int(rng.integers(5, 9))
    nets = np.repeat([f"n{i}" for i in range(g)], L)
    x = rng.normal(0, 1, g * L) + np.repeat(rng.normal(0, 1, g), L)
    y = 0.1 * x + np.repeat(rng.normal(0, 0.3, g), L) + rng.normal(0, 0.2, g * L)
    base = mixed_slope(x, y, nets)
    for _ in range(6):
        r = mixed_slope(x, y * (1 + 1e-14 * rng.standard_normal(y.size)), nets)
        assert r.keys() == base.keys() and r["ok"] == base["ok"]
        for key, value in base.items():  # the same fit, mapped back with means and sds that
            assert r[key] == pytest.approx(value, rel=1e-12)  # differ in their last bits
    ys, exog, _, _ = mixed_design(x, y)
    assert np.all(ys == np.round(ys, DESIGN_DECIMALS)) and np.all(np.abs(ys) < 1e3)


def test_mixed_model_failures_are_reported_not_raised():
    x = np.r_[np.arange(4.0), np.arange(4.0)]
    assert not mixed_slope(x, x, np.array(["a"] * 4 + ["b"] * 4))["ok"]  # 2 networks
    flat = mixed_slope(x, np.ones(8), np.repeat(["a", "b", "c", "d"], 2))
    assert not flat["ok"] and "spread" in flat["reason"]
    three = mixed_slope(
        np.tile(np.arange(3.0), 3),
        np.arange(9.0),
        np.repeat(["a", "b", "c"], 3),
        np.array(["s"] * 3 + ["t"] * 3 + ["u"] * 3),
    )
    assert not three["ok"] and "studies" in three["reason"]


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
    se = np.std(slopes, ddof=1) * np.sqrt(2)
    assert f["slope_ci_low"] == pytest.approx(2.0 - scipy.stats.t.ppf(0.975, 1) * se)
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


def _brute_force_equal_slopes_p(sub):
    """Per-network polyfit slopes; p = share of all label permutations with T ≥ T_obs."""
    nets = sub.groupby(["study", "model"]).apply(
        lambda d: np.polyfit(d.log_pr, d.r2, 1)[0], include_groups=False
    )
    b = nets.to_numpy()
    labels = nets.index.get_level_values("study").to_numpy()

    def t(lab):
        return sum((lab == s).sum() * (b[lab == s].mean() - b.mean()) ** 2 for s in set(lab))

    t_obs = t(labels)
    perms = [np.array(p) for p in itertools.permutations(labels)]
    return np.mean([t(p) >= t_obs - 1e-12 for p in perms])


def test_pooled_matches_statsmodels(layers):
    sub = layers[layers.study.isin(["alpha", "beta"])]
    f = fit_pooled(sub, "r2", n_boot=N_BOOT, seed=0)
    d = sub.rename(columns={"r2": "y", "log_pr": "x", "study": "s"})
    fe = smf.ols("y ~ x + C(s)", data=d).fit()
    assert f["ols_slope"] == pytest.approx(fe.params["x"], rel=1e-10)
    # intercept: the mean over studies of the study intercepts
    b0 = fe.params["Intercept"]
    assert f["ols_intercept"] == pytest.approx(np.mean([b0, b0 + fe.params["C(s)[T.beta]"]]))
    xd = d.x - d.groupby("s").x.transform("mean")
    yd = d.y - d.groupby("s").y.transform("mean")
    r, _ = scipy.stats.pearsonr(xd, yd)
    assert f["pearson_r"] == pytest.approx(r) and f["r2"] == pytest.approx(r * r)
    assert f["n"] == len(sub) and f["n_models"] == 5
    # 5 networks in 2 studies: df = 3, flagged
    assert f["few_networks"] and f["slope_ci_low"] < f["slope"] < f["slope_ci_high"]
    # equal slopes: exact permutation test (5!/(3!·2!) = 10 relabellings) = brute force
    assert f["equal_slopes_relabellings"] == 10
    assert f["equal_slopes_p"] == pytest.approx(_brute_force_equal_slopes_p(sub))
    one = fit_pooled(layers[layers.study == "alpha"], "r2", n_boot=N_BOOT)
    assert np.isnan(one["equal_slopes_p"]) and one["equal_slopes_relabellings"] == 0
    ref = fit_study(layers[layers.study == "alpha"], "r2")
    assert one["ols_slope"] == pytest.approx(ref["ols_slope"])


def test_pooled_mixed_model_matches_statsmodels():
    sub = pd.concat(
        [
            make_study("a", 5, 6, 0.05, 4, slope_sd=0.02),
            make_study("b", 5, 6, 0.05, 104, slope_sd=0.02),
        ],
        ignore_index=True,
    )
    f = fit_pooled(sub, "r2", n_boot=N_BOOT, seed=0)
    res, slope, se = _mixed_direct(sub, strata="study")
    assert res.converged and f["inference"] == "mixed" and f["slope_df"] == 10 - 2
    assert f["slope"] == pytest.approx(slope, rel=1e-6)
    assert f["slope_se"] == pytest.approx(se, rel=1e-6)
    q = scipy.stats.t.ppf(0.975, 8)
    assert f["slope_ci_high"] == pytest.approx(slope + q * se, rel=1e-6)
    assert not f["few_networks"]


def test_equal_slopes_test_exact_and_monte_carlo():
    rng = np.random.default_rng(3)
    rows = []
    for s, k in (("s1", 0.0), ("s2", 0.0), ("s3", 0.3)):
        for m in range(4):
            x = np.arange(5.0)
            y = (0.1 + k + rng.normal(0, 0.05)) * x + rng.normal(0, 0.02, 5)
            rows += [dict(study=s, model=f"m{m}", log_pr=v, r2=w) for v, w in zip(x, y)]
    d = pd.DataFrame(rows)
    args = (d.log_pr.to_numpy(), d.r2.to_numpy(), (d.study + d.model).to_numpy(), d.study)
    mc = equal_slopes_test(*args, n_perm=999, seed=0)
    assert not mc["exact"] and mc["n_relabellings"] == 999
    # study s3's networks are much steeper: only relabellings giving the same partition (6 of
    # 34650) reach T_obs, so a Monte Carlo p is 1/1000 plus rare hits of those
    assert 1 / 1000 <= mc["p"] <= 3 / 1000
    assert equal_slopes_test(*args, n_perm=999, seed=0) == mc
    # 12!/(4!)^3 = 34650 relabellings: exact when n_perm allows
    ex = equal_slopes_test(*args, n_perm=40000)
    assert ex["exact"] and ex["n_relabellings"] == 34650
    b = d.groupby(["study", "model"]).apply(
        lambda g: np.polyfit(g.log_pr, g.r2, 1)[0], include_groups=False
    )
    b = b.to_numpy()  # study-major: s1 m0..m3, s2 m0..m3, s3 m0..m3

    def t(groups):
        return sum(4 * (b[list(g)].mean() - b.mean()) ** 2 for g in groups)

    t_obs = t([range(0, 4), range(4, 8), range(8, 12)])
    ts = []
    for g1 in itertools.combinations(range(12), 4):
        rest = [i for i in range(12) if i not in g1]
        for g2 in itertools.combinations(rest, 4):
            ts.append(t([g1, g2, [i for i in rest if i not in g2]]))
    assert len(ts) == 34650
    assert ex["p"] == pytest.approx(np.mean(np.array(ts) >= t_obs - 1e-12))
    assert ex["p"] < 0.01
    # no slope differences at all → p = 1
    same = d.assign(r2=d.log_pr * 0.2 + (d.model == "m1") * 0.3)
    args = (same.log_pr, same.r2, (same.study + same.model), same.study)
    assert equal_slopes_test(*args, n_perm=999)["p"] == pytest.approx(1.0)


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
    np.testing.assert_allclose(pooled_bootstrap_slopes(df, "r2", n_boot=N_BOOT, seed=0), expected)


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
    main = t[(t.subset == "all") & (t.pr_convention == "pr")]
    keys = list(zip(main.scope, main.metric))
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
    assert set(t.pr_convention) == {"pr"}  # the fixture has no other convention
    # subsets: alpha's models are trained (m0), untrained (m1), unknown (m2)
    alpha = list(dict.fromkeys(t[t.scope == "alpha"].subset))
    assert alpha == [
        "all",
        "trained",
        "untrained",
        "without:m0",
        "without:m1",
        "without:m2",
        "model:m0",
        "model:m1",
        "model:m2",
    ]
    assert list(dict.fromkeys(t[t.scope == "tiny"].subset)) == ["all", "model:m"]
    pooled_subsets = list(dict.fromkeys(t[t.scope == "pooled"].subset))
    assert pooled_subsets == [
        "all",
        "trained",
        "untrained",
        "without:alpha",
        "without:beta",
        "without:tiny",
    ]
    tiny_rows = t[t.scope == "tiny"]
    assert tiny_rows.slope.isna().all() and (tiny_rows.n == 2).all()
    pooled = main[(main.scope == "pooled") & (main.metric == "r2")].iloc[0]
    # tiny is left out of the pooled fit
    assert pooled.n == 6 * 3 + 5 * 2 and pooled.n_models == 5
    assert np.isfinite(pooled.equal_slopes_p) and np.isfinite(pooled.theory_r2_variance_explained)
    g = main[main.scope == "gamma"].iloc[0]
    assert np.isnan(g.theory_r2_variance_explained) and g.n == 16 and g.n_models == 4
    assert t[t.scope != "pooled"].equal_slopes_p.isna().all()
    a = main[(main.scope == "alpha") & (main.metric == "r2")].iloc[0]
    ref = fit_study(layers[layers.study == "alpha"], "r2", n_boot=N_BOOT, seed=0)
    assert a.slope == pytest.approx(ref["slope"]) and a.slope_ci_low == ref["slope_ci_low"]
    # subsets are the fits of those rows
    al = layers[layers.study == "alpha"]
    for subset, rows in (
        ("trained", al[al.model == "m0"]),
        ("without:m1", al[al.model != "m1"]),
        ("model:m2", al[al.model == "m2"]),
    ):
        row = t[(t.scope == "alpha") & (t.subset == subset) & (t.metric == "r2")].iloc[0]
        assert row.ols_slope == pytest.approx(np.polyfit(rows.log_pr, rows.r2, 1)[0])
        assert row.n == len(rows) and row.n_models == rows.model.nunique()
    one = t[t.subset.str.startswith("model:")]
    assert (one.inference == "none").all() and one.slope_ci_low.isna().all()
    assert (one.few_networks).all()
    assert (t.few_networks == (t.n_models < 5))[t.scope != "pooled"].all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        pd.testing.assert_frame_equal(t, fits_table(table, n_boot=N_BOOT, seed=0))


def test_conventions_metrics_inputs_and_duplicates():
    g = make_study("s", 3, 5, 0.05, 21)
    rng = np.random.default_rng(0)
    g["pr_uncentred"] = g.pr * rng.uniform(1.5, 3.0, len(g))
    g["pr_double_centred"] = g.pr * rng.uniform(0.3, 0.9, len(g))
    g["r2_mean"] = g.r2 + 0.01
    g["is_input"] = g.layer == "l0"
    # m1's l2 repeats m0's l2 (identical activations)
    g["duplicate_of"] = pd.array([pd.NA] * len(g), dtype="string")
    g.loc[(g.model == "m1") & (g.layer == "l2"), "duplicate_of"] = "m0/l2"
    t = fits_table(g, n_boot=N_BOOT)
    assert list(dict.fromkeys(t.pr_convention)) == ["pr", "pr_uncentred", "pr_double_centred"]
    assert list(dict.fromkeys(t.metric)) == ["r2", "r2_mean", "pearson_r"]
    fitted = g[~g.is_input & g.duplicate_of.isna()]
    for conv in ("pr", "pr_uncentred", "pr_double_centred"):
        row = t[(t.subset == "all") & (t.pr_convention == conv) & (t.metric == "r2")].iloc[0]
        x = fitted.log_pr if conv == "pr" else np.log(fitted[conv])
        assert row.ols_slope == pytest.approx(np.polyfit(x, fitted.r2, 1)[0])
        assert row.n == 3 * 4 - 1
    # without m0, m1's copy of the duplicated layer is used
    row = t[(t.subset == "without:m0") & (t.pr_convention == "pr") & (t.metric == "r2")].iloc[0]
    rows = g[~g.is_input & (g.model != "m0")]
    assert row.n == len(rows) == 8
    assert row.ols_slope == pytest.approx(np.polyfit(rows.log_pr, rows.r2, 1)[0])
    # input layers included on request
    t2 = fits_table(g, n_boot=N_BOOT, include_inputs=True)
    row = t2[(t2.subset == "all") & (t2.pr_convention == "pr") & (t2.metric == "r2")].iloc[0]
    assert row.n == 3 * 5 - 1


def test_pooled_score_needs_two_table_studies(layers):
    t = fits_table(layers, n_boot=N_BOOT)
    assert ("pooled", "score") not in set(zip(t.scope, t.metric))
    two = pd.concat([layers, make_study("delta", 2, 5, 0.04, 9, table=True)], ignore_index=True)
    t = fits_table(two, n_boot=N_BOOT)
    row = t[(t.scope == "pooled") & (t.metric == "score") & (t.subset == "all")].iloc[0]
    assert row.n == 16 + 10 and np.isfinite(row.equal_slopes_p)
    assert np.isnan(row.theory_r2_variance_explained)


def test_log_pr_computed_from_pr_when_absent(layers):
    g = layers[layers.study == "alpha"]
    a = fit_study(g, "r2", n_boot=N_BOOT)
    b = fit_study(g.drop(columns="log_pr"), "r2", n_boot=N_BOOT)
    assert a["slope"] == pytest.approx(b["slope"])
    assert fits.MIN_LAYERS == 3


def test_presets_add_their_own_rows(layers):
    from predictivity.aggregate.presets import PRESETS

    rng = np.random.default_rng(5)
    g = layers.copy()
    computed = g.study != "gamma"
    g["pr_double_centred"] = np.where(computed, g.pr * rng.uniform(0.3, 0.9, len(g)), np.nan)
    for p in PRESETS.values():
        g[p["metric"]] = np.where(computed, g.r2 + rng.normal(0, 0.02, len(g)), np.nan)
    g.loc[g.study == "beta", "pearson_r_over_ceiling"] = np.nan  # beta has no ceiling
    t = fits_table(g, n_boot=N_BOOT, n_perm=99)
    assert list(t.columns) == FITS_COLUMNS
    grid = t[t.preset == ""]
    assert set(grid.metric) == {"r2", "pearson_r", "score"}
    # the grid is the table without presets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        bare = fits_table(g, n_boot=N_BOOT, n_perm=99, presets=())
    pd.testing.assert_frame_equal(grid.reset_index(drop=True), bare)
    for name, p in PRESETS.items():
        rows = t[t.preset == name]
        assert set(rows.metric) == {p["metric"]} and set(rows.pr_convention) == {p["pr_convention"]}
        studies = {"alpha", "pooled"} if name == "schrimpf2021" else {"alpha", "beta", "pooled"}
        assert set(rows.scope) == studies  # never the table study gamma
        alpha = g[g.study == "alpha"]
        for subset, sub in (("all", alpha), ("without:m1", alpha[alpha.model != "m1"])):
            row = rows[(rows.scope == "alpha") & (rows.subset == subset)].iloc[0]
            ref = fit_study(sub, p["metric"], n_boot=N_BOOT, convention=p["pr_convention"])
            assert row.slope == pytest.approx(ref["slope"]) and row.n == ref["n"]
        pooled = rows[(rows.scope == "pooled") & (rows.subset == "all")].iloc[0]
        part = g[g.study.isin(studies - {"pooled"})]
        ref = fit_pooled(
            part, p["metric"], n_boot=N_BOOT, convention=p["pr_convention"], n_perm=99, warn=False
        )
        assert pooled.slope == pytest.approx(ref["slope"]) and pooled.n == ref["n"]
    with pytest.raises(ValueError, match="unknown fits preset"):
        fits_table(g, n_boot=N_BOOT, presets=["nope"])


def test_identical_layers_count_once_in_every_fit():
    """Twins share a layer: every row of the table counts each activation once (brute force on
    a ground-truth identity the code does not see)."""
    a = make_study("s", 4, 5, 0.05, 31)
    b = make_study("u", 3, 4, 0.02, 32)
    g = pd.concat([a, b], ignore_index=True)
    g["act"] = g.study + "/" + g.model + "/" + g.layer  # ground truth: which activations
    # in s, m1's l0 and m2's l0 are m0's l0 (an input layer shared by twins, not marked input);
    # m3's l3 is m2's l3; in u, m2's l1 is m1's l1
    for study, first, copies in (
        ("s", ("m0", "l0"), [("m1", "l0"), ("m2", "l0")]),
        ("s", ("m2", "l3"), [("m3", "l3")]),
        ("u", ("m1", "l1"), [("m2", "l1")]),
    ):
        src = (g.study == study) & (g.model == first[0]) & (g.layer == first[1])
        for m, layer in copies:
            dst = (g.study == study) & (g.model == m) & (g.layer == layer)
            for c in ("log_pr", "pr", "r2", "pearson_r", "theory_r2"):
                g.loc[dst, c] = g.loc[src, c].to_numpy()
            g.loc[dst, "act"] = g.loc[src, "act"].to_numpy()
            g.loc[dst, "duplicate_of"] = f"{first[0]}/{first[1]}"
    t = fits_table(g, n_boot=50, n_perm=99)
    status = fits.training_status(g)
    checked = 0
    for row in t.itertuples():
        rows = g if row.scope == "pooled" else g[g.study == row.scope]
        st = status[rows.index]
        kind, _, name = row.subset.partition(":")
        keep = {
            "all": np.ones(len(rows), bool),
            "trained": (st == "trained").to_numpy(),
            "untrained": (st == "untrained").to_numpy(),
            "without": (rows.study != name).to_numpy()
            if row.scope == "pooled"
            else (rows.model != name).to_numpy(),
            "model": (rows.model == name).to_numpy(),
        }[kind]
        sub = rows[keep]
        assert row.n == sub.groupby("study").act.nunique().sum(), (row.scope, row.subset)
        checked += 1
    assert checked == len(t) and (t.scope == "pooled").any()
    # the duplicates are really in the table: counting rows would give more
    assert t[(t.scope == "s") & (t.subset == "all")].n.iloc[0] == 4 * 5 - 3
