"""Waveform helpers shared by the ``auditory`` study's stimuli, models and simulation.

Every waveform argument is a float array ``(n_sounds × n_samples)`` at ``sample_rate`` Hz; all
models work at :data:`MODEL_RATE` (16 kHz) and resample other rates with
:func:`scipy.signal.resample_poly`.
"""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy import signal as sps

from predictivity.errors import InputError

#: Sample rate (Hz) every model works at (CREPE and Resemblyzer were trained at 16 kHz).
MODEL_RATE = 16000

PEAK = 0.9  # peak amplitude after normalisation
RAMP_MS = 10.0  # raised-cosine on/off ramp


def ramp(x: np.ndarray, sr: int, ramp_ms: float = RAMP_MS) -> np.ndarray:
    """Raised-cosine on and off ramps of ``ramp_ms`` (in place, last axis)."""
    n = min(int(round(ramp_ms * 1e-3 * sr)), x.shape[-1] // 2)
    if n > 0:
        w = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
        x[..., :n] *= w
        x[..., -n:] *= w[::-1]
    return x


def normalise(x: np.ndarray, sr: int) -> np.ndarray:
    """A float64 copy of ``x`` with :func:`ramp` applied, peak-normalised to :data:`PEAK`."""
    x = ramp(np.asarray(x, dtype=np.float64).copy(), sr)
    peak = np.max(np.abs(x))
    return x * (PEAK / peak) if peak > 0 else x


def resample(x: np.ndarray, rate: int, target: int = MODEL_RATE) -> np.ndarray:
    """Polyphase resampling along the last axis (scipy.signal.resample_poly, Kaiser window)."""
    rate, target = int(rate), int(target)
    if rate == target:
        return x
    g = gcd(rate, target)
    return sps.resample_poly(x, target // g, rate // g, axis=-1)


def as_waveforms(waveforms, sample_rate, source: str) -> np.ndarray:
    """Validate ``(n × samples)`` waveforms and return them at :data:`MODEL_RATE`, float32."""
    w = np.asarray(waveforms)
    if w.ndim == 1:
        w = w[None, :]
    if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 1:
        raise InputError(
            source,
            f"waveforms must be a 2-D array (sounds × samples), got shape {np.shape(waveforms)}.",
            "stack equal-length mono sounds row-wise.",
        )
    if not np.all(np.isfinite(w)):
        raise InputError(source, "waveforms contain NaN or inf.", "fix the sound files.")
    if int(sample_rate) < 1000:
        raise InputError(
            source,
            f"sample rate {sample_rate} Hz is implausible.",
            "pass the sounds' sample rate in Hz.",
        )
    return resample(w.astype(np.float64), int(sample_rate)).astype(np.float32)
