"""A spectrotemporal-modulation filter bank (after Chi, Ru & Shamma 2005): no learned weights.

:func:`gammatone_cochleagram` (log gammatone envelopes) followed by separable complex 2-D Gabor
filters on the (log-frequency × time) plane (:func:`modulation_filters`);
:func:`filterbank_activations` gives the time-averaged layers. numpy/scipy only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import fft as _fft
from scipy import signal as sps
from scipy.fft import next_fast_len as _next_fast_len

from predictivity.errors import InputError
from predictivity.studies.auditory.waveforms import MODEL_RATE, as_waveforms

#: Modulation stages of :func:`filterbank_activations`: layer name → temporal rates in Hz.
DEFAULT_STAGES = {"mod_low": (1.0, 2.0), "mod_mid": (4.0, 8.0), "mod_high": (16.0, 32.0)}


def gammatone_cochleagram(
    waves: np.ndarray,
    sample_rate: int = MODEL_RATE,
    n_channels: int = 64,
    fmin: float = 100.0,
    fmax: float = 7000.0,
    frame_rate: int = 100,
    floor: float = 1e-4,
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
    n_channels: int = 64,
    fmin: float = 100.0,
    fmax: float = 7000.0,
    frame_rate: int = 100,
    floor: float = 1e-4,
    scales: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0),
    stages: dict | None = None,
    source: str = "filterbank",
) -> dict[str, np.ndarray]:
    """Spectrotemporal-modulation filter bank (after Chi, Ru & Shamma 2005; the baseline model
    of Tuckute et al. 2023), time-averaged. It has no learned weights, so an "untrained" twin is
    not applicable (and :data:`predictivity.studies.auditory.models.MODELS` has none); it is deterministic and takes no seed/threads.

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
        stages = DEFAULT_STAGES
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
    waves = as_waveforms(waveforms, sample_rate, source)
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
