"""Stimuli of the ``auditory`` study from a user's folder of WAV files.

:func:`load_wav_folder` reads the files, mixes them to mono, resamples them, trims or pads them
to a fixed duration and ramps and normalises them as the synthesised sounds are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from predictivity.errors import InputError
from predictivity.studies.auditory.waveforms import PEAK, ramp, resample


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
    duration: float = 2.0,
    sample_rate: int = 16000,
    normalize: bool = True,
    source: str = "wav_folder",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Read a user's WAV files as the study's sounds.

    Each file is read with :func:`scipy.io.wavfile.read` (PCM 8/16/24/32-bit or float; integer
    samples scaled to [−1, 1)), mixed to mono (mean of the channels), resampled to
    ``sample_rate`` with :func:`scipy.signal.resample_poly` (exact rational factor
    sample_rate/rate, Kaiser-windowed FIR), trimmed or zero-padded at the end to
    ``round(duration·sample_rate)`` samples, given 10 ms raised-cosine on/off ramps and, if
    ``normalize``, peak-normalised to 0.9 (as
    :func:`~predictivity.studies.auditory.sounds.synthesize_sounds`).

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
        x = resample(x, rate, sr)[:n]
        y = np.zeros(n)
        y[: x.size] = x
        y = ramp(y, sr)
        if normalize:
            peak = np.max(np.abs(y))
            if peak <= 0:
                raise InputError(str(f), "is silent (all samples zero).", "remove the file.")
            y *= PEAK / peak
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
