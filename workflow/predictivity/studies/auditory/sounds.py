"""Stimuli of the ``auditory`` study: a seeded, labelled set of synthetic sounds.

:func:`synthesize_sounds` makes sounds in 11 categories (tones, harmonic and
missing-fundamental complexes, noise bands, AM, FM, click trains, formant vowels, speech-like
syllable sequences, melodies, environmental-like textures) — the offline stand-in for NH2015's
165 natural sounds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import signal as sps

from predictivity.errors import InputError
from predictivity.studies.auditory.waveforms import normalise, ramp

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
                x[pos : pos + c_len] += ramp(seg / (np.std(seg) + 1e-12) * 0.05, sr, 5)
            elif kind == "stop" and c_len > 0:
                burst = min(int(0.01 * sr), c_len)
                b = rng.standard_normal(burst) * np.exp(-np.arange(burst) / (0.003 * sr)) * 0.1
                x[pos + c_len - burst : pos + c_len] += b
            elif kind == "nasal" and c_len > 0:
                seg = _formants(
                    src[pos : pos + c_len], [250 * scale, 1100 * scale, 2500 * scale], sr
                )
                x[pos : pos + c_len] += 0.3 * ramp(seg, sr, 5)
            v0, v1 = pos + c_len, pos + length
            vowel = list(_VOWELS)[rng.integers(len(_VOWELS))]
            seg = _formants(src[v0:v1], _vowel_formants(vowel, scale), sr)
            x[v0:v1] += ramp(seg * np.hanning(v1 - v0) ** 0.3, sr, 10)
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
                note = ramp(note, sr, 15)
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
    n_sounds: int = 165,
    duration: float = 2.0,
    sample_rate: int = 16000,
    seed: int = 0,
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
            waves[i] = normalise(x, sr)
            rows.append((category, description, float(f0)))
            i += 1
    width = max(3, len(str(n_sounds - 1)))
    stimuli = pd.DataFrame(rows, columns=["category", "description", "f0_hz"])
    stimuli.insert(0, "stimulus_id", [f"snd{j:0{width}d}" for j in range(n_sounds)])
    return waves, stimuli
