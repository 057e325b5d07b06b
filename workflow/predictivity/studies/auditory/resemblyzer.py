"""Resemblyzer's speaker encoder (GE2E; Wan et al. 2018), with the weights PyPI ``Resemblyzer`` ships.

The network and its mel-spectrogram input are rebuilt here (identical parameter names and
shapes; ``load_state_dict(strict=True)`` of ``resemblyzer/pretrained.pt``; see
:mod:`predictivity.studies.auditory.weights`). Checked against Resemblyzer 0.1.4 with librosa
0.11: ``embed_utterance`` agrees within 5·10⁻⁶ (with librosa's current zero padding of the
STFT; the default here is the reflect padding of the librosa the encoder was trained with, which
changes only the edge frames: cosine ≥ 0.999). Deliberate differences: input at other rates is
resampled with ``resample_poly`` (librosa: soxr), and Resemblyzer's level normalisation and
webrtcvad silence trimming are replaced as documented at :func:`resemblyzer_activations`.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from predictivity.errors import InputError
from predictivity.studies.auditory.waveforms import MODEL_RATE, as_waveforms
from predictivity.studies.auditory.weights import load_weights, resemblyzer_weights_path
from predictivity.studies.torch_utils import inference, seeded_init

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


def load_resemblyzer(trained: bool = True, seed: int = 0):
    """Resemblyzer's speaker encoder in eval mode on the CPU.

    ``trained``: ``model_state`` of
    :func:`~predictivity.studies.auditory.weights.resemblyzer_weights_path` (``lstm.*_l{k}`` → layer
    k+1; the unused GE2E ``similarity_weight/bias`` are dropped, as Resemblyzer's own
    ``strict=False`` load does). Untrained twin: the module created after
    ``torch.manual_seed(seed)`` in ``torch.random.fork_rng`` (PyTorch default init: LSTM and
    linear weights ~ U(±1/√256)).
    """
    if not trained:
        return seeded_init(_encoder_module, seed).float().eval()
    state = load_weights(resemblyzer_weights_path())["model_state"]
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
    seed: int = 0,
    threads: int = 1,
    level_dbfs: float = -30.0,
    rate: float = 1.3,
    min_coverage: float = 0.75,
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

    waves = as_waveforms(waveforms, sample_rate, source)
    model = load_resemblyzer(trained, seed)
    partials = _resemblyzer_partials(waves, float(level_dbfs), float(rate), float(min_coverage))
    n, n_partials = partials.shape[:2]
    out = {"mel": partials.astype(np.float64).mean(axis=(1, 2)).astype(np.float32)}
    sums = {k: np.empty((n, 256), np.float32) for k in RESEMBLYZER_LAYERS[1:]}
    batch = max(1, 64 // n_partials)
    with inference(threads=threads):
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
