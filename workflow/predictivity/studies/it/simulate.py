"""Simulated recordings of the ``it`` study: IT-like sites read out from a V1-like model.

:func:`v1_features` is a hand-built, held-out feature model (Gabor energy at 3 scales × 4
orientations, colour opponency, centre–surround; no learned parameters, NOT a candidate
network); :func:`simulate_it` reads it out through a sparse random softplus readout and adds
the shared noise model of :mod:`predictivity.studies.noise` (an offline stand-in for
MajajHong2015's IT sites).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from predictivity.errors import InputError
from predictivity.studies.noise import repetition_noise, zscore


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


#: Gabor wavelengths (pixels at ``feature_size`` = 64; scaled with it), orientations, grid.
_GABOR_WAVELENGTHS = (4.0, 8.0, 16.0)
_N_ORIENTATIONS = 4
_GRID = 4


def v1_features(
    images: np.ndarray, feature_size: int = 64, batch: int = 64
) -> tuple[np.ndarray, list[str]]:
    """The held-out feature model of :func:`simulate_it` (numpy only; no learned parameters).

    Each image is resized to S × S (S = ``feature_size``, PIL bilinear, antialiased), scaled to
    [0, 1], and split into luminance L = 0.299R + 0.587G + 0.114B and colour-opponent channels
    RG = R − G and BY = B − (R + G)/2. Filtering is done in the Fourier domain (periodic
    boundary). Maps (K = 46):

    - Gabor bank on L (per-image mean removed): wavelengths λ ∈ {4, 8, 16}·S/64 px, 4
      orientations θ ∈ {0°, 45°, 90°, 135°}; each filter is a one-sided Gaussian in frequency,
      centre f₀ = (cos θ, sin θ)/λ, s.d. 0.4/λ (≈ 1.3 octaves), giving a complex response z:
      even simple cells [Re z]₊ and [−Re z]₊, complex cell |z| → 3 × 4 × 3 = 36 maps;
    - colour opponency: RG and BY low-passed by Gaussians of s.d. 2 and 4 px (·S/64),
      ON [·]₊ and OFF [−·]₊ → 8 maps;
    - luminance centre–surround: difference of Gaussians (s.d. 1 and 3 px ·S/64), ON/OFF → 2.

    Every map goes through a compressive square root, then is average-pooled over a 4 × 4 grid
    of equal cells and over the whole image → K·(16 + 1) = 782 features per image.

    Returns
    -------
    features : float64 array (P × 782), not standardised.
    names : list of 782 feature names (``"gabor_l8_o45_cplx@r1c2"`` …, ``"…@all"``).
    """
    from PIL import Image

    S = int(feature_size)
    if S < _GRID * 4:
        raise InputError(
            "simulation.feature_size", f"must be ≥ {_GRID * 4}, got {feature_size}.", "use e.g. 64."
        )
    S = S - S % _GRID
    f = np.fft.fftfreq(S)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    r = S / 64.0
    names = []
    gabors = []
    for lam in _GABOR_WAVELENGTHS:
        for k in range(_N_ORIENTATIONS):
            th = np.pi * k / _N_ORIENTATIONS
            f0 = 1.0 / (lam * r)
            sd = 0.4 / (lam * r)
            H = np.exp(-((fx - f0 * np.cos(th)) ** 2 + (fy - f0 * np.sin(th)) ** 2) / (2 * sd**2))
            H[0, 0] = 0.0
            gabors.append(H * 2.0)
            deg = int(round(np.degrees(th)))
            names += [
                f"gabor_l{int(lam)}_o{deg}_{kind}" for kind in ("even_on", "even_off", "cplx")
            ]
    blur = {s: np.exp(-2 * np.pi**2 * (s * r) ** 2 * (fx**2 + fy**2)) for s in (1.0, 2.0, 3.0, 4.0)}
    for ch in ("rg", "by"):
        for s in (2, 4):
            names += [f"{ch}_s{s}_on", f"{ch}_s{s}_off"]
    names += ["dog_on", "dog_off"]
    K = len(names)
    g, cell = _GRID, S // _GRID
    P = images.shape[0]
    out = np.empty((P, K * (g * g + 1)))
    for start in range(0, P, batch):
        chunk = images[start : start + batch]
        x = (
            np.stack(
                [
                    np.asarray(
                        Image.fromarray(np.asarray(im, dtype=np.uint8)).resize(
                            (S, S), Image.Resampling.BILINEAR
                        ),
                        dtype=np.float64,
                    )
                    for im in chunk
                ]
            )
            / 255.0
        )
        L = x @ np.array([0.299, 0.587, 0.114])
        RG = x[..., 0] - x[..., 1]
        BY = x[..., 2] - 0.5 * (x[..., 0] + x[..., 1])
        Lf = np.fft.fft2(L - L.mean(axis=(1, 2), keepdims=True))
        maps = []
        for H in gabors:
            z = np.fft.ifft2(Lf * H)
            maps += [np.maximum(z.real, 0), np.maximum(-z.real, 0), np.abs(z)]
        for C in (RG, BY):
            Cf = np.fft.fft2(C)
            for s in (2.0, 4.0):
                b = np.fft.ifft2(Cf * blur[s]).real
                maps += [np.maximum(b, 0), np.maximum(-b, 0)]
        d = np.fft.ifft2(Lf * (blur[1.0] - blur[3.0])).real
        maps += [np.maximum(d, 0), np.maximum(-d, 0)]
        m = np.sqrt(np.stack(maps, axis=1))  # (b, K, S, S)
        b = m.shape[0]
        grid = m.reshape(b, K, g, cell, g, cell).mean(axis=(3, 5)).reshape(b, K * g * g)
        glob = m.mean(axis=(2, 3))
        out[start : start + b] = np.concatenate([grid, glob], axis=1)
    cells = [f"@r{i}c{j}" for i in range(g) for j in range(g)]
    full_names = [f"{n}{c}" for n in names for c in cells] + [f"{n}@all" for n in names]
    return out, full_names


def simulate_it(
    images: np.ndarray,
    n_sites: int = 168,
    n_repetitions: int = 2,
    noise: float = 1.0,
    seed: int = 0,
    noise_spread: float = 2.0,
    feature_size: int = 64,
    sparsity: float = 0.05,
    gain: float = 2.0,
    source: str = "simulation",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Simulated IT multi-unit sites, from a feature model that is not a candidate network.

    Generative model (P images, N = n_sites, R = n_repetitions; randomness from
    ``numpy.random.default_rng`` streams spawned from ``seed``: one for the readout, one for the
    noise, so changing R leaves the noiseless signal unchanged):

    1. Features F ∈ R^{P×782} (:func:`v1_features`): a fixed V1-like bank — Gabor simple and
       complex cells at 3 scales × 4 orientations, colour-opponent and centre–surround
       channels, rectified, square-root compressed, averaged over a 4 × 4 grid and the whole
       image. Every column is z-scored over the P images (so the signal depends on the whole
       stimulus set).
    2. Sparse random readout: site n draws an input set S_n (each feature independently with
       probability ``sparsity``; at least one) and weights w_n ~ N(0, 1) on S_n;
       u_n = F w_n, z-scored over images.
    3. Nonlinearity: s_n = softplus(gain · u_n + b_n), b_n ~ N(0, 1) (a rectifying, site-
       specific threshold), z-scored over images (signal variance 1).
    4. Noise: σ_n = noise · noise_spread^{v_n}, v_n ~ Uniform(−1, 1) (log-uniform between
       noise/noise_spread and noise·noise_spread), so reliabilities vary across sites;
       y_{p,n,r} = s_{p,n} + σ_n ε_{p,n,r}, ε ~ N(0, 1) independent per repetition.

    Nothing here was tuned to favour any network: the features are hand-built filters with no
    learned or shared parameters, and the readout is random. It is a *V1-like* code read out
    nonlinearly, not a model of IT selectivity, so expect early-to-middle CNN layers (oriented,
    colour-sensitive, moderately pooled) to predict it best — the demo tests the regression
    machinery and the R² ~ log PR relation, not claims about IT.

    Parameters
    ----------
    images : array (P × H × W × 3), uint8 RGB (from
        :func:`~predictivity.studies.it.images.make_images` or
        :func:`~predictivity.studies.it.images.load_image_folder`).
    n_sites, n_repetitions : int
        N ≥ 1 and R ≥ 1 (R ≥ 2 for split-half reliability downstream). Default N = 168, the
        number of IT sites in MajajHong2015.
    noise : float
        Median noise s.d. relative to the unit signal s.d. (≥ 0).
    seed : int
        Seed of the readout and the noise.
    noise_spread : float
        ≥ 1; per-site noise s.d. ranges over [noise/noise_spread, noise·noise_spread].
    feature_size : int
        Working resolution S of the feature model (images are resized to S × S; ≥ 16).
    sparsity : float
        Probability that a feature feeds a site, in (0, 1].
    gain : float
        Slope of the readout before the softplus (≥ 0; larger = more rectified, more nonlinear).
    source : str
        Label named in error messages (config key).

    Returns
    -------
    responses : float32 array (P × N × R)
    sites : DataFrame with N rows: ``target`` (int, column index), ``target_name``
        (``site0000`` …), ``noise_sd`` (σ_n), ``snr`` (1/σ_n²), ``true_reliability``
        (R / (R + σ_n²): population reliability of the R-repetition mean, i.e. the ceiling that
        Spearman–Brown-corrected split-half reliability estimates), ``n_inputs`` (|S_n|),
        ``bias`` (b_n).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(
            source,
            f"expected images P × H × W × 3, got shape {images.shape}.",
            "use make_images() or load_image_folder().",
        )
    P, N, R = images.shape[0], int(n_sites), int(n_repetitions)
    if N < 1 or R < 1:
        raise InputError(source, "n_sites and n_repetitions must be ≥ 1.", "set positive integers.")
    if P < 2:
        raise InputError(source, f"need at least 2 images, got {P}.", "add images.")
    if not noise >= 0 or not noise_spread >= 1:
        raise InputError(
            source, "noise must be ≥ 0 and noise_spread ≥ 1.", "fix the simulation options."
        )
    if not 0 < sparsity <= 1 or not gain >= 0:
        raise InputError(
            source, "sparsity must lie in (0, 1] and gain be ≥ 0.", "fix the simulation options."
        )
    if images.dtype != np.uint8:
        images = np.clip(np.rint(np.asarray(images, dtype=np.float64) * 255), 0, 255).astype(
            np.uint8
        )

    rng_read, rng_noise = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(2)
    )
    F = zscore(v1_features(images, feature_size)[0])
    D = F.shape[1]
    mask = rng_read.random((D, N)) < sparsity
    empty = ~mask.any(axis=0)
    mask[rng_read.integers(0, D, size=N)[empty], np.flatnonzero(empty)] = True
    W = rng_read.standard_normal((D, N)) * mask
    bias = rng_read.standard_normal(N)
    u = zscore(F @ W)
    signal = zscore(_softplus(gain * u + bias))

    responses, noise_cols = repetition_noise(signal, R, noise, noise_spread, rng_noise)
    sites = pd.DataFrame(
        {
            "target": np.arange(N, dtype=np.int64),
            "target_name": [f"site{n:0{max(4, len(str(N - 1)))}d}" for n in range(N)],
            **noise_cols,
            "n_inputs": mask.sum(axis=0).astype(np.int64),
            "bias": bias,
        }
    )
    return responses, sites
