"""Calibration of the fits' intervals and equal-slopes test on simulated null tables
(predictivity.aggregate.calibration; the full run's numbers are in docs/calibration.md)."""

import numpy as np
import pytest
from scipy import stats
from threadpoolctl import threadpool_limits

from predictivity.aggregate.calibration import (
    calibrate,
    replicate,
    simulate_null_layers,
    to_markdown,
)

#: Replicates per number of networks in the slow test (3 studies each: 3 × REPLICATES
#: per-study intervals, REPLICATES pooled intervals and p-values per setting). About 1–2 min on
#: 2 shared cores.
REPLICATES = 60


def test_simulated_tables_follow_the_documented_model():
    rng = np.random.default_rng(0)
    t = simulate_null_layers(3, 4, rng, sd_intercept=0.0, sd_slope=0.0, sd_noise=0.0)
    assert sorted(t.study.unique()) == ["s0", "s1", "s2"] and t.model.nunique() == 4
    assert t.groupby(["study", "model"]).size().between(3, 8).all()
    np.testing.assert_allclose(t.r2, 0.1 + 0.05 * t.log_pr)  # no noise: exactly the true line
    np.testing.assert_allclose(t.pr, np.exp(t.log_pr))
    het = simulate_null_layers(3, 4, np.random.default_rng(0), heterogeneous=True)
    sizes = het.groupby(["study", "model"]).size()
    assert sizes["s0"].between(3, 4).all() and sizes["s1"].between(6, 10).all()


def test_replicate_is_reproducible_and_complete():
    a = replicate(3, 0, seed=0, n_boot=100, n_perm=99)
    b = replicate(3, 0, seed=0, n_boot=100, n_perm=99)
    assert a == b
    assert len(a["covered"]) == 3 and set(a["inference"]) <= {"mixed", "bootstrap"}
    assert 0 < a["equal_slopes_p"] <= 1 and 0 <= a["f_test_p"] <= 1


@pytest.mark.slow
def test_coverage_nominal_and_permutation_p_values_uniform_from_5_networks():
    with threadpool_limits(limits=1):
        table, pvals = calibrate(
            networks=(5, 8), replicates=REPLICATES, seed=0, n_boot=500, n_perm=199
        )
    print(to_markdown(table))
    for row in table.itertuples():
        assert abs(row.coverage - 0.95) <= 0.05, row
        assert abs(row.pooled_coverage - 0.95) <= 0.05, row
    p = np.concatenate(list(pvals.values()))
    assert stats.kstest(p, "uniform").pvalue > 0.01


@pytest.mark.parametrize("a,b", [(3.7, -0.2), (0.01, 5.0), (-2.0, 0.3)])
def test_intervals_and_test_are_equivariant_under_affine_score_changes(a, b):
    """The calibration's simulated scores stand for any score column: the fits' interval
    methods are equivariant under y → a·y + b (the mixed model is fitted on standardised y; the
    bootstrap's OLS slopes scale by a; the permutation statistic by a²). On the same simulated
    tables, per study and pooled, the slope and interval ends move exactly as a·(…) (ends
    swapped for a < 0), the inference label is the same and the equal-slopes p-value equal —
    so the coverage measured for ``r2`` holds for ``pearson_r`` and for the presets' ceiled
    scores (a per-study constant divisor), whatever their units."""
    from predictivity.aggregate.fits import fit_pooled, fit_study

    labels = []
    for r in range(4):
        layers = simulate_null_layers(3, 5, np.random.default_rng([7, r]))
        moved = layers.assign(r2=a * layers["r2"] + b)
        with threadpool_limits(1):
            pairs = [
                (
                    fit_study(g, "r2", n_boot=200, seed=r),
                    fit_study(moved[moved.study == s], "r2", n_boot=200, seed=r),
                )
                for s, g in layers.groupby("study", sort=True)
            ]
            pairs.append(
                (
                    fit_pooled(layers, "r2", n_boot=200, seed=r, n_perm=199),
                    fit_pooled(moved, "r2", n_boot=200, seed=r, n_perm=199),
                )
            )
        for f, g in pairs:
            assert g["inference"] == f["inference"]
            labels.append(f["inference"])
            lo, hi = sorted((a * f["slope_ci_low"], a * f["slope_ci_high"]))
            np.testing.assert_allclose(
                [g["slope"], g["slope_ci_low"], g["slope_ci_high"]],
                [a * f["slope"], lo, hi],
                rtol=1e-9,
                atol=1e-12 * abs(a),
            )
        assert pairs[-1][1]["equal_slopes_p"] == pairs[-1][0]["equal_slopes_p"]
    assert {"mixed", "bootstrap"} <= set(labels)  # both paths are exercised (12 and 4 here)
