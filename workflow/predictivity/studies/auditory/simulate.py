"""Simulated recordings of the ``auditory`` study: voxels from a held-out spectrotemporal model.

:func:`auditory_features` is a hand-built auditory feature model (ERB-spaced cochlea with
power-law compression, modulation energies, autocorrelation pitch salience; NOT one of the
candidate models); :func:`simulate_voxels` reads it out through random nonlinear readouts and
adds the shared noise model of :mod:`predictivity.studies.noise` (an offline stand-in for
NH2015/B2021 voxels).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import fft as _fft
from scipy import signal as sps

from predictivity.errors import InputError
from predictivity.studies.auditory.waveforms import MODEL_RATE, as_waveforms
from predictivity.studies.noise import repetition_noise, zscore

SIM_GROUPS = ("spectrum", "temporal_modulation", "spectral_modulation", "pitch", "global")


def _erb_number(f):
    return 21.4 * np.log10(1.0 + 0.00437 * np.asarray(f, dtype=np.float64))


def auditory_features(
    waveforms, sample_rate: int, source: str = "simulation"
) -> dict[str, np.ndarray]:
    """Hand-built auditory features behind the simulated voxels (no candidate model involved).

    Cochlea (deliberately unlike the candidate filter bank's gammatone/log cochleagram): 40
    channels equally spaced on the ERB-number scale E(f) = 21.4·log10(1 + 0.00437 f) from 100 Hz
    to 7.5 kHz (≈ 0.76 ERB apart), each a Gaussian power weighting exp(−(E(f) − E_c)²/2) of a
    32-ms Hann STFT with 5-ms hop (200 frames/s); channel amplitude a = sqrt(power),
    power-law compression a^0.3.

    Returns a dict of float64 arrays with n rows:

    - ``spectrum`` (40): time-averaged compressed channel amplitudes.
    - ``temporal_modulation`` (32): 8 bands of 5 adjacent channels × 4 one-octave modulation
      bands centred at 3, 6, 12, 24 Hz; log(10⁻⁶ + power of the band's compressed envelope in
      the modulation band / its squared mean) (Hann-windowed periodogram of the envelope).
    - ``spectral_modulation`` (8): per frame, the compressed spectrum of the low (channels 0–19)
      and high (20–39) half, mean removed, |DFT over channels|² summed in 4 spectral-modulation
      bands (DFT bins {1}, {2}, {3, 4}, {5…10} of 20 channels ≈ 0.07, 0.13, 0.2–0.26,
      0.33–0.66 cycles/ERB), averaged over frames with energy above 1 % of the sound's maximum;
      log(10⁻⁶ + ·).
    - ``pitch`` (4): waveform autocorrelation pitch salience — 40-ms frames every 10 ms,
      normalised autocorrelation r(τ)/r(0) maximised over lags 1/500 … 1/60 s (salience; f0 =
      1/τ*); features: mean salience, fraction of frames with salience > 0.6, salience-weighted
      mean log2(f0/200 Hz), salience-weighted s.d. of log2 f0.
    - ``global`` (4): RMS level in dB, spectral centroid (in channels, power-weighted), spectral
      flatness (geometric/arithmetic mean of channel powers, time-averaged), envelope
      coefficient of variation (s.d./mean of the broadband compressed envelope).
    """
    waves = as_waveforms(waveforms, sample_rate, source).astype(np.float64)
    sr, n = MODEL_RATE, len(waves)
    # cochlea
    n_fft, hop = 512, 80
    padded = np.pad(waves, ((0, 0), (n_fft // 2, n_fft // 2))).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=1)[:, ::hop]
    window = sps.get_window("hann", n_fft).astype(np.float32)
    power = np.abs(_fft.rfft(frames * window, axis=2)) ** 2  # (n, frames, freqs)
    f = np.fft.rfftfreq(n_fft, 1.0 / sr)
    centres = np.linspace(_erb_number(100.0), _erb_number(7500.0), 40)
    W = np.exp(-0.5 * (_erb_number(f)[None, :] - centres[:, None]) ** 2).astype(np.float32)
    chan = np.ascontiguousarray(
        (power @ W.T).transpose(0, 2, 1), dtype=np.float64
    )  # (n, 40, frames)
    comp = np.sqrt(chan) ** 0.3
    feats = {"spectrum": comp.mean(axis=2)}

    # temporal modulation
    frame_rate = sr / hop
    bands = comp.reshape(n, 8, 5, -1).mean(axis=2)  # (n, 8, frames)
    mean = bands.mean(axis=2, keepdims=True)
    env = (bands - mean) * np.hanning(bands.shape[2])
    spec = np.abs(np.fft.rfft(env, axis=2)) ** 2 / bands.shape[2]
    mf = np.fft.rfftfreq(bands.shape[2], 1 / frame_rate)
    tm = []
    for r in (3.0, 6.0, 12.0, 24.0):
        sel = (mf >= r / np.sqrt(2)) & (mf < r * np.sqrt(2))
        tm.append(spec[:, :, sel].sum(axis=2) / np.maximum(mean[:, :, 0] ** 2, 1e-12))
    feats["temporal_modulation"] = np.log(1e-6 + np.stack(tm, axis=2)).reshape(n, -1)

    # spectral modulation
    energy = chan.sum(axis=1)  # (n, frames)
    active = energy > 0.01 * energy.max(axis=1, keepdims=True)
    sm = []
    for half in (comp[:, :20], comp[:, 20:]):
        d = np.abs(np.fft.rfft(half - half.mean(axis=1, keepdims=True), axis=1)) ** 2
        for bins in ([1], [2], [3, 4], list(range(5, 11))):
            v = d[:, bins].sum(axis=1)  # (n, frames)
            sm.append((v * active).sum(axis=1) / np.maximum(active.sum(axis=1), 1))
    feats["spectral_modulation"] = np.log(1e-6 + np.stack(sm, axis=1))

    # pitch salience
    win, step = int(0.04 * sr), int(0.01 * sr)
    fr = np.lib.stride_tricks.sliding_window_view(waves.astype(np.float32), win, axis=1)[:, ::step]
    fr = fr * np.hanning(win).astype(np.float32)
    fr = fr - fr.mean(axis=2, keepdims=True)
    spec = _fft.rfft(fr, 2 * win, axis=2)
    lo, hi = int(sr / 500), int(sr / 60)
    ac = _fft.irfft(spec.real**2 + spec.imag**2, axis=2)[:, :, : hi + 1].astype(np.float64)
    r0 = ac[:, :, :1]
    # divide by the window's own autocorrelation so that the Hann taper does not bias long lags
    taper = np.correlate(np.hanning(win), np.hanning(win), "full")[win - 1 :]
    seg = np.where(
        r0 > 1e-12,
        ac[:, :, lo : hi + 1] / np.maximum(r0, 1e-12) * (taper[0] / taper[None, None, lo : hi + 1]),
        0.0,
    )
    sal = np.clip(seg.max(axis=2), 0.0, 1.0)
    lag = (seg.argmax(axis=2) + lo).astype(np.float64)
    lf0 = np.log2(sr / lag / 200.0)
    wsum = sal.sum(axis=1)
    mean_lf0 = np.where(wsum > 0, (sal * lf0).sum(axis=1) / np.maximum(wsum, 1e-12), 0.0)
    sd_lf0 = np.sqrt(
        np.where(
            wsum > 0,
            (sal * (lf0 - mean_lf0[:, None]) ** 2).sum(axis=1) / np.maximum(wsum, 1e-12),
            0.0,
        )
    )
    feats["pitch"] = np.stack(
        [sal.mean(axis=1), (sal > 0.6).mean(axis=1), mean_lf0, sd_lf0], axis=1
    )

    # global
    rms = np.sqrt(np.mean(waves**2, axis=1))
    pw = chan.mean(axis=2)
    centroid = (pw * np.arange(40)).sum(axis=1) / np.maximum(pw.sum(axis=1), 1e-20)
    flat = np.exp(np.mean(np.log(chan + 1e-20), axis=1)) / (chan.mean(axis=1) + 1e-20)
    broadband = comp.mean(axis=1)
    cv = broadband.std(axis=1) / np.maximum(broadband.mean(axis=1), 1e-12)
    feats["global"] = np.stack(
        [
            20 * np.log10(rms + 1e-10),
            centroid,
            (flat * active).sum(axis=1) / np.maximum(active.sum(axis=1), 1),
            cv,
        ],
        axis=1,
    )
    return feats


def simulate_voxels(
    waveforms,
    sample_rate: int,
    n_voxels: int = 200,
    n_repetitions: int = 3,
    noise: float = 1.0,
    seed: int = 0,
    noise_spread: float = 2.0,
    source: str = "simulation",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Simulated auditory-cortex voxel responses, from a model that is not a candidate.

    Generative model (P sounds, N = n_voxels, R = n_repetitions; randomness from three
    independent ``numpy.random.default_rng`` streams spawned from ``seed`` — projections,
    readout, noise):

    1. Features: :func:`auditory_features` — 5 groups g (spectrum 40, temporal modulation 32,
       spectral modulation 8, pitch salience 4, global 4), each column z-scored over the P sounds
       (so the voxels depend on the whole stimulus set, as z-scored fMRI responses do).
    2. Latent code per group: z_g = zscore(F_g Q_g / √d_g), Q_g ~ N(0,1)^{d_g × k_g},
       k_g = min(d_g, 8).
    3. Fixed random nonlinear readout per group: r_{g,n} = zscore(tanh(z_g A_g / √k_g) b_{g,n}),
       A_g ~ N(0,1)^{k_g × 16}, b_{g,n} ~ N(0,1)^{16}.
    4. Each voxel mixes the groups with weights w_n ~ Dirichlet(0.5, …, 0.5) (so most voxels are
       dominated by one or two groups — tonotopic, modulation-tuned, pitch-tuned …):
       s_n = zscore(Σ_g √w_{g,n} r_{g,n}) (signal variance 1).
    5. Noise: σ_n = noise · noise_spread^u_n, u_n ~ U(−1, 1); y_{p,n,r} = s_{p,n} + σ_n ε_{p,n,r},
       ε ~ N(0, 1) independent per repetition.

    Honesty note: nothing was tuned to favour a candidate. The cochlea (ERB-spaced Gaussian
    filters on an STFT, power-law compression), the modulation rates (3–24 Hz, one-octave
    bands) and the modulation measure (envelope periodogram, not Gabor filtering) differ from
    the candidate filter bank, but both are spectrotemporal models, so expect the filter bank to
    do well on spectrum- and modulation-dominated voxels and a pitch network on pitch-dominated
    ones; the pitch feature is a waveform autocorrelation, not CREPE.

    Parameters
    ----------
    waveforms : array (P × samples);  sample_rate : int (Hz)
    n_voxels, n_repetitions : int ≥ 1 (R ≥ 2 for split-half reliability downstream)
    noise : float ≥ 0 — median noise s.d. relative to the unit signal s.d.
    seed : int — seed of the whole simulation
    noise_spread : float ≥ 1 — σ_n ranges over [noise/noise_spread, noise·noise_spread]
    source : str — label named in errors

    Returns
    -------
    responses : float32 (P × N × R)
    voxels : DataFrame with N rows: ``target`` (int), ``target_name`` (``v0000`` …),
        ``noise_sd``, ``snr`` (1/σ²), ``true_reliability`` (R/(R + σ²): the noise ceiling of the
        R-repetition mean), ``dominant_feature`` (group with the largest weight), and
        ``w_<group>`` (the mixing weights).
    """
    if int(n_voxels) < 1 or int(n_repetitions) < 1:
        raise InputError(
            source, "n_voxels and n_repetitions must be ≥ 1.", "set positive integers."
        )
    if not noise >= 0 or not noise_spread >= 1:
        raise InputError(
            source, "noise must be ≥ 0 and noise_spread ≥ 1.", "fix the simulation options."
        )
    P, N, R = len(np.atleast_2d(waveforms)), int(n_voxels), int(n_repetitions)
    if P < 2:
        raise InputError(source, f"need at least 2 sounds, got {P}.", "add sounds.")
    rng_proj, rng_read, rng_noise = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3)
    )
    feats = auditory_features(waveforms, sample_rate, source)
    hidden = 16
    latents, As = [], []
    for g in SIM_GROUPS:
        F = zscore(feats[g])
        k = min(F.shape[1], 8)
        latents.append(zscore(F @ rng_proj.standard_normal((F.shape[1], k)) / np.sqrt(F.shape[1])))
    for z in latents:
        As.append(rng_read.standard_normal((z.shape[1], hidden)))
    weights = rng_read.dirichlet(np.full(len(SIM_GROUPS), 0.5), size=N)  # (N, G)
    signal = np.zeros((P, N))
    for g, (z, A) in enumerate(zip(latents, As)):
        b = rng_read.standard_normal((hidden, N))
        r = zscore(np.tanh(z @ A / np.sqrt(z.shape[1])) @ b)
        signal += np.sqrt(weights[:, g])[None, :] * r
    signal = zscore(signal)

    responses, noise_cols = repetition_noise(signal, R, noise, noise_spread, rng_noise)
    voxels = pd.DataFrame(
        {
            "target": np.arange(N, dtype=np.int64),
            "target_name": [f"v{n:0{max(4, len(str(N - 1)))}d}" for n in range(N)],
            **noise_cols,
            "dominant_feature": [SIM_GROUPS[i] for i in weights.argmax(axis=1)],
        }
    )
    for g, name in enumerate(SIM_GROUPS):
        voxels[f"w_{name}"] = weights[:, g]
    return responses, voxels
