"""The shared noise model of the simulated recordings, and the demo generator, against closed forms."""

import numpy as np

from predictivity.core.reliability import split_half_ceiling
from predictivity.studies.noise import repetition_noise, zscore
from predictivity.studies.precomputed.simulate import simulate_precomputed


def test_repetition_noise_levels_and_reliability_match_the_closed_form():
    rng = np.random.default_rng(0)
    signal = zscore(rng.standard_normal((100000, 6)))
    responses, cols = repetition_noise(
        signal, 2, noise=1.0, noise_spread=3.0, rng=np.random.default_rng(1)
    )
    assert responses.shape == (100000, 6, 2) and responses.dtype == np.float32
    sigma = cols["noise_sd"]
    assert np.all((sigma >= 1 / 3) & (sigma <= 3))
    np.testing.assert_allclose((responses - signal[:, :, None]).std(axis=(0, 2)), sigma, rtol=0.02)
    # the split-half ceiling measured from the data recovers R/(R + σ²) (R = 2 repetitions);
    # atol ≈ 4 standard errors of a Spearman–Brown-corrected correlation at P = 1e5
    np.testing.assert_allclose(split_half_ceiling(responses), cols["true_reliability"], atol=0.025)
    np.testing.assert_allclose(cols["snr"], 1 / sigma**2)


def test_zscore_columns_and_constant_column():
    x = np.column_stack([np.arange(5.0), np.full(5, 3.0)])
    z = zscore(x)
    np.testing.assert_allclose(z[:, 0].mean(), 0, atol=1e-12)
    np.testing.assert_allclose(z[:, 0].std(), 1)
    np.testing.assert_array_equal(z[:, 1], 0)


def test_demo_generator_is_seeded_and_shaped():
    a = simulate_precomputed(
        n_stimuli=40, n_targets=5, n_repetitions=2, n_latent=8, n_units=16, n_layers=3, seed=3
    )
    b = simulate_precomputed(
        n_stimuli=40, n_targets=5, n_repetitions=2, n_latent=8, n_units=16, n_layers=3, seed=3
    )
    c = simulate_precomputed(
        n_stimuli=40, n_targets=5, n_repetitions=2, n_latent=8, n_units=16, n_layers=3, seed=4
    )
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    assert a[0].shape == (40, 5, 2) and list(a[1]) == ["relu_net", "tanh_net"]
    assert [x.shape for x in a[1]["relu_net"].values()] == [(40, 16)] * 3
    assert len(set(a[2])) == 40
