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
