"""Word features → fMRI TRs: Lanczos downsampling and FIR delays (the Huth lab's conventions).

A story's words have times (:func:`predictivity.datasets.lebel2023.textgrid_words`); the
recordings have a TR grid (:func:`predictivity.datasets.lebel2023.lebel_tr_times`, in the loader's
``extra['tr_times']``). :func:`lebel_tr_features` turns one layer's per-word features into the
TR × feature matrix of the recordings' stimuli: Lanczos-filter the words onto the TR grid
(:func:`lanczos_downsample`, the Huth lab's ``lanczosinterp2D``), keep the recorded TRs, z-score
per story, and stack delayed copies (:func:`fir_delays`, the Huth lab's ``make_delayed``).

The FIR ``delays`` come from the config (``studies.<name>.features.delays``); the Lanczos
``window`` (3 lobes) and ``cutoff_mult`` (1, i.e. the TR rate) have no config key and are the
keyword defaults here, as in the Huth lab's ``encoding/feature_spaces.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from predictivity.errors import InputError


def lanczos_kernel(t: np.ndarray, cutoff: float, window: int = 3) -> np.ndarray:
    """Lanczos kernel ``L(t) = a·sin(π f t)·sin(π f t / a) / (π f t)²`` with ``f = cutoff`` (Hz) and
    ``a = window`` lobes; ``L(0) = 1`` and ``L(t) = 0`` for ``|f t| > a`` (the Huth lab's
    ``lanczosfun``)."""
    x = np.asarray(t, dtype=np.float64) * cutoff
    out = np.zeros_like(x)
    inside = np.abs(x) <= window
    nz = inside & (x != 0)
    xn = x[nz]
    out[nz] = window * np.sin(np.pi * xn) * np.sin(np.pi * xn / window) / (np.pi**2 * xn**2)
    out[x == 0] = 1.0
    return out


def lanczos_downsample(
    word_times, word_features, tr_times, window: int = 3, cutoff_mult: float = 1.0
) -> np.ndarray:
    """Resample word-level features to TRs with a Lanczos filter (Huth lab ``lanczosinterp2D``).

    ``out[i] = Σ_j L(tr_times[i] − word_times[j]) · word_features[j]`` with the kernel of
    :func:`lanczos_kernel`, cutoff ``f = cutoff_mult / mean(diff(tr_times))`` (the TR rate) and
    ``window`` lobes (defaults 3 and 1, the Huth lab's). No normalisation: the output sums the
    words near each TR (so a constant feature of 1 per word becomes a word-rate regressor).

    Shapes: word_times (W,), word_features (W, F) or (W,), tr_times (T,) evenly spaced, T ≥ 2.
    Returns (T, F) float64.
    """
    wt = np.asarray(word_times, dtype=np.float64).ravel()
    tt = np.asarray(tr_times, dtype=np.float64).ravel()
    F = np.asarray(word_features, dtype=np.float64)
    if F.ndim == 1:
        F = F[:, None]
    if F.shape[0] != wt.size:
        raise InputError(
            "lanczos_downsample",
            f"{F.shape[0]} feature rows for {wt.size} word times.",
            "Give one feature row per word.",
        )
    if tt.size < 2:
        raise InputError("lanczos_downsample", "need at least 2 TR times.", "Check the TR grid.")
    cutoff = cutoff_mult / np.mean(np.diff(tt))
    L = lanczos_kernel(tt[:, None] - wt[None, :], cutoff, window)
    return L @ F


def fir_delays(X, delays: Sequence[int], groups=None) -> np.ndarray:
    """Stack delayed copies of a TR × feature matrix (finite impulse response model of the HRF).

    ``out[:, k·F:(k+1)·F][t] = X[t − delays[k]]`` (zeros where ``t − d`` falls before the start),
    i.e. the Huth lab's ``make_delayed`` (negative delays shift the other way). With ``groups``
    (one label per row, e.g. the story), rows are delayed within their group only: a story's
    first TRs never see the previous story. Shapes: X (T, F) → (T, F·len(delays)).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    T, F = X.shape
    if groups is None:
        starts = np.array([0, T])
    else:
        g = np.asarray(groups)
        if len(g) != T:
            raise InputError(
                "fir_delays", f"{len(g)} group labels for {T} rows.", "Give one label per row."
            )
        change = np.flatnonzero(g[1:] != g[:-1]) + 1
        starts = np.r_[0, change, T]
    out = np.zeros((T, F * len(delays)))
    for a, b in zip(starts[:-1], starts[1:]):
        for k, d in enumerate(delays):
            d = int(d)
            blk = out[a:b, k * F : (k + 1) * F]
            n = b - a
            if d > 0 and d < n:
                blk[d:] = X[a : b - d]
            elif d < 0 and -d < n:
                blk[:d] = X[a - d : b]
            elif d == 0:
                blk[:] = X[a:b]
    return out


def lebel_tr_features(
    words: pd.DataFrame,
    word_features,
    stimuli: pd.DataFrame,
    tr_times: dict,
    delays: Sequence[int],
    zscore: bool = True,
    window: int = 3,
    cutoff_mult: float = 1.0,
) -> np.ndarray:
    """Word features → the TR stimuli of :func:`predictivity.datasets.lebel2023.load_lebel2023`.

    For each story (in ``stimuli`` order): Lanczos-downsample its words' rows of ``word_features``
    (rows aligned with ``words``) onto the story's full TR grid (``tr_times[story]``), keep the
    rows ``stimuli.tr_index``, z-score each feature over the story's kept TRs (``zscore``; constant
    features become 0), then stack FIR ``delays`` within the story. ``window`` and ``cutoff_mult``
    are :func:`lanczos_downsample`'s. Shapes: word_features (W, F) with W = len(words) →
    (P, F·len(delays)), P = len(stimuli).
    """
    Fw = np.asarray(word_features, dtype=np.float64)
    if Fw.ndim == 1:
        Fw = Fw[:, None]
    if Fw.shape[0] != len(words):
        raise InputError(
            "lebel_tr_features",
            f"{Fw.shape[0]} feature rows for {len(words)} words.",
            "Compute one feature row per row of the words table.",
        )
    out = []
    story_col = stimuli["story"].to_numpy()
    for story in pd.unique(story_col):
        sel = words["story"].to_numpy() == story
        rows = stimuli.loc[story_col == story, "tr_index"].to_numpy()
        Z = lanczos_downsample(
            words.loc[sel, "time"], Fw[sel], tr_times[story], window, cutoff_mult
        )[rows]
        if zscore:
            sd = Z.std(axis=0)
            Z = np.where(sd > 0, (Z - Z.mean(axis=0)) / np.where(sd > 0, sd, 1.0), 0.0)
        out.append(fir_delays(Z, delays))
    return np.vstack(out)
