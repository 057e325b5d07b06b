"""The noise model shared by every study kind's simulated recordings (it, auditory, language).

Each simulator standardises its noiseless signal with :func:`zscore` and draws repetitions with
:func:`repetition_noise`; the reliability that noise implies is returned with the draws, so tests
and users can compare the measured noise ceiling with the truth.
"""

from __future__ import annotations

import numpy as np


def zscore(x: np.ndarray) -> np.ndarray:
    """Each column centred and scaled to unit s.d. over the rows (constant columns only centred)."""
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def repetition_noise(
    signal: np.ndarray,
    n_repetitions: int,
    noise: float,
    noise_spread: float,
    rng: np.random.Generator,
):
    """Noisy repetitions of a standardised signal, with a noise level that differs per target.

    σ_n = noise · noise_spread^u_n with u_n ~ Uniform(−1, 1) (log-uniform between
    noise/noise_spread and noise·noise_spread), y_{p,n,r} = s_{p,n} + σ_n ε_{p,n,r},
    ε ~ N(0, 1) independent per repetition. With unit signal variance, a target's SNR is 1/σ_n²
    and the reliability of the mean of R repetitions is R/(R + σ_n²).

    signal : (P, N) with unit-variance columns. Returns responses (P, N, R) float32 and a dict
    of per-target arrays noise_sd, snr, true_reliability (the draws: σ first, then ε).
    """
    P, N = signal.shape
    R = int(n_repetitions)
    sigma = noise * noise_spread ** rng.uniform(-1.0, 1.0, size=N)
    eps = rng.standard_normal((P, N, R))
    responses = (signal[:, :, None] + sigma[None, :, None] * eps).astype(np.float32)
    with np.errstate(divide="ignore"):
        snr = 1.0 / sigma**2
    return responses, {"noise_sd": sigma, "snr": snr, "true_reliability": R / (R + sigma**2)}
