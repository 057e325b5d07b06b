"""Seeded generator of the offline demo's `precomputed` study: a documented, seeded model that is
not tuned to make any relation look good (docs/design.md#studies).

Generative model
----------------
* Stimuli: P latent feature vectors z ∈ R^D with independent Gaussian coordinates whose variances
  decay as a power law, var(z_d) ∝ d^−1 (d = 1 … D).
* Recordings ("the brain"): for each target n, a fixed random readout of the latent features
  through a softplus, f_n(z) = softplus(z·b_n) with b_n ~ N(0, I/D)·3, standardised over stimuli;
  each repetition adds independent Gaussian noise whose s.d. differs per target (drawn
  log-uniformly between 0.3 and 3 × the signal s.d.), so reliabilities span a realistic range.
* Models ("candidate networks"): two random-feature hierarchies of the same latent features,
  h_0 = z, h_{l+1} = φ(g·h_l W_l / √width_l + c_l) with Gaussian W_l and biases c_l ~ N(0, 0.1²);
  ``relu_net`` uses φ = ReLU with gain g = √2, ``tanh_net`` uses φ = tanh with gain 1.5. Neither
  contains the readout that generated the recordings; how their layers' spectra and scores
  relate is whatever random features produce.
"""

from __future__ import annotations

import numpy as np

MODELS = ("relu_net", "tanh_net")


def _softplus(x):
    return np.logaddexp(0.0, x)


def simulate_precomputed(
    *,
    n_stimuli: int,
    n_targets: int,
    n_repetitions: int,
    n_latent: int,
    n_units: int,
    n_layers: int,
    seed: int,
):
    """Generate the demo study (the options and their defaults: the config's ``simulate``).

    Returns
    -------
    responses : (P, N, R) float32 recordings.
    models : dict model name → dict layer name → (P, n_units) float32 activations (layer order).
    stimulus_ids : list of P strings ``stim0000`` …
    """
    rng = np.random.default_rng(seed)
    P, D = n_stimuli, n_latent
    scales = np.arange(1, D + 1) ** -0.5
    Z = rng.standard_normal((P, D)) * scales

    B = rng.standard_normal((D, n_targets)) * 3.0 / np.sqrt(D * np.mean(scales**2))
    signal = _softplus(Z @ B)
    signal = (signal - signal.mean(axis=0)) / signal.std(axis=0)
    noise_sd = np.exp(rng.uniform(np.log(0.3), np.log(3.0), size=n_targets))
    noise = rng.standard_normal((P, n_targets, n_repetitions)) * noise_sd[None, :, None]
    responses = (signal[:, :, None] + noise).astype(np.float32)

    models: dict[str, dict[str, np.ndarray]] = {}
    for name, phi, gain in (
        ("relu_net", lambda x: np.maximum(x, 0.0), np.sqrt(2.0)),
        ("tanh_net", np.tanh, 1.5),
    ):
        h = Z / np.sqrt(np.mean(scales**2))
        layers = {}
        for layer in range(n_layers):
            W = rng.standard_normal((h.shape[1], n_units))
            c = rng.normal(0.0, 0.1, size=n_units)
            h = phi(gain * (h @ W) / np.sqrt(h.shape[1]) + c)
            layers[f"layer{layer + 1}"] = h.astype(np.float32)
        models[name] = layers
    ids = [f"stim{i:04d}" for i in range(P)]
    return responses, models, ids
