"""The noise ceiling against simulated targets of known reliability and a closed form."""

import numpy as np
import pytest

from predictivity.core.reliability import (
    count_without_ceiling,
    single_repetition_reliability,
    spearman_brown,
    split_half_ceiling,
)


def _simulate(rng, P, N, R, rho_R):
    """Signal of variance 1 plus independent noise per repetition, its variance chosen so that the
    mean of the R repetitions has reliability rho_R: ρ₁ = ρ_R/(R − (R − 1)ρ_R)."""
    rho_1 = rho_R / (R - (R - 1) * rho_R)
    sigma = np.sqrt((1 - rho_1) / rho_1)
    signal = rng.standard_normal((P, N, 1))
    return signal + sigma * rng.standard_normal((P, N, R))


@pytest.mark.parametrize("R", [2, 3, 4, 5])
def test_ceiling_is_unbiased_for_any_number_of_repetitions(R):
    rng = np.random.default_rng(R)
    for rho_R in (0.3, 0.6, 0.75, 0.9):
        ceil = split_half_ceiling(_simulate(rng, 600, 1500, R, rho_R))
        assert np.all(np.isfinite(ceil))
        assert abs(ceil.mean() - rho_R) < 0.005, (R, rho_R, ceil.mean())


def test_odd_repetitions_are_corrected_where_2r_over_1_plus_r_is_biased():
    rng = np.random.default_rng(0)
    resp = _simulate(rng, 600, 1500, 3, 0.75)
    a, b = resp[:, :, 0::2].mean(2), resp[:, :, 1::2].mean(2)
    rh = np.array([np.corrcoef(a[:, n], b[:, n])[0, 1] for n in range(a.shape[1])])
    naive = (2 * rh / (1 + rh)).mean()
    assert naive < 0.74  # the uncorrected step: the reliability of 2 repetitions, not 3
    assert abs(split_half_ceiling(resp).mean() - 0.75) < 0.005


def test_single_repetition_reliability_inverts_spearman_brown():
    rho_1 = np.linspace(0.01, 1.0, 50)
    for a, b in [(1, 1), (2, 1), (3, 2), (5, 4), (4, 4)]:
        r = np.sqrt(spearman_brown(rho_1, a) * spearman_brown(rho_1, b))
        np.testing.assert_allclose(single_repetition_reliability(r, a, b), rho_1, rtol=1e-12)
    # equal halves: the classic 2r/(1 + r)
    r = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(
        spearman_brown(single_repetition_reliability(r, 2, 2), 4), 2 * r / (1 + r), rtol=1e-12
    )


def test_targets_without_positive_split_half_correlation_get_nan_and_are_counted():
    rng = np.random.default_rng(1)
    resp = _simulate(rng, 50, 6, 3, 0.8)
    resp[:, 4, :] = rng.standard_normal((50, 3))  # pure noise: r_half may be ≤ 0
    resp[:, 5, 1] = -resp[:, 5, 0]  # anti-correlated halves: r_half < 0
    resp[:, 5, 2] = resp[:, 5, 0]
    ceil = split_half_ceiling(resp)
    assert np.isnan(ceil[5])
    assert np.all(np.isfinite(ceil[:4]))
    assert count_without_ceiling(ceil) == int(np.isnan(ceil).sum()) >= 1
    with pytest.raises(ValueError):
        split_half_ceiling(resp[:, :, :1])
