"""The simulated recordings of a ``language`` study: voxels generated from a held-out hand-built
sentence representation (a lexical code, NOT a candidate network) through a fixed random
nonlinear readout, plus noise — an offline stand-in for Pereira 2018 / LeBel 2023."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from predictivity.errors import InputError
from predictivity.studies.noise import repetition_noise
from predictivity.studies.noise import zscore as _zscore

_NEGATIONS = frozenset(
    "not no never nobody none nothing neither nor nowhere cannot without".split()
)
_WORD = re.compile(r"[a-z0-9']+")


def _bucket(token: str, n_buckets: int, salt: str) -> tuple[int, float]:
    """Stable signed feature hashing (blake2b; independent of PYTHONHASHSEED)."""
    digest = hashlib.blake2b(f"{salt}:{token}".encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % n_buckets, (1.0 if (value >> 63) & 1 else -1.0)


def lexical_features(sentences: Sequence[str], n_buckets: int = 1024) -> dict[str, np.ndarray]:
    """Hand-built sentence features behind the simulated voxels (no neural network involved).

    Returns a dict of float64 arrays with P rows:

    - ``words``: signed hashed bag of lower-cased words (``[a-z0-9']+``), P × n_buckets,
      each row divided by sqrt(number of words);
    - ``trigrams``: signed hashed bag of character trigrams of `` sentence `` (lower-cased,
      padded with one space each side), P × n_buckets, rows divided by sqrt(number of trigrams);
    - ``scalars``: P × 8 — log(1+n_words), log(1+n_characters), mean word length (a word
      frequency proxy: long words are rarer), fraction of words with ≥ 7 letters, count of
      ``, ; : — -``, question mark present, exclamation mark present, number of negations
      (not, no, never, nobody, none, nothing, neither, nor, nowhere, cannot, without, *n't*).
    """
    P = len(sentences)
    words = np.zeros((P, n_buckets))
    trigrams = np.zeros((P, n_buckets))
    scalars = np.zeros((P, 8))
    for i, s in enumerate(sentences):
        low = s.lower()
        toks = _WORD.findall(low)
        for t in toks:
            j, sign = _bucket(t, n_buckets, "w")
            words[i, j] += sign
        words[i] /= np.sqrt(max(len(toks), 1))
        padded = f" {low} "
        grams = [padded[k : k + 3] for k in range(len(padded) - 2)]
        for g in grams:
            j, sign = _bucket(g, n_buckets, "c")
            trigrams[i, j] += sign
        trigrams[i] /= np.sqrt(max(len(grams), 1))
        lens = [len(t.replace("'", "")) for t in toks] or [0]
        scalars[i] = (
            np.log1p(len(toks)),
            np.log1p(len(s)),
            float(np.mean(lens)),
            float(np.mean([n >= 7 for n in lens])),
            sum(s.count(c) for c in ",;:—-"),
            float("?" in s),
            float("!" in s),
            sum(t in _NEGATIONS or t.endswith("n't") for t in toks),
        )
    return {"words": words, "trigrams": trigrams, "scalars": scalars}


def simulate_language_voxels(
    stimuli: pd.DataFrame,
    n_voxels: int = 200,
    n_repetitions: int = 2,
    noise: float = 1.0,
    seed: int = 0,
    noise_spread: float = 2.0,
    source: str = "simulation",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Simulated fMRI-like voxel responses to sentences, from a model that is not a candidate.

    Generative model (P sentences, N = n_voxels, R = n_repetitions; all randomness from
    ``numpy.random.default_rng`` streams spawned from ``seed``; independent streams for the
    feature projection, the readout and the noise, so changing N or R leaves the latent
    features unchanged):

    1. Features (:func:`lexical_features`): hashed bag of words (1024), hashed bag of character
       trigrams (1024), 8 scalar lexical features (length, word length as a frequency proxy,
       long-word share, punctuation, question/exclamation, negation count).
    2. Latent sentence code z ∈ R^{P×40}: words and trigrams each projected by a Gaussian random
       matrix to 16 dimensions; concatenated with the 8 scalars; every column z-scored over the
       P sentences (so the code, and hence the voxels, depend on the whole stimulus set).
    3. Fixed random nonlinear readout: h = tanh(z A / sqrt(40)) with A ~ N(0,1)^{40×64}, then
       s = h B with B ~ N(0,1)^{64×N}; each voxel's signal s_n is z-scored over sentences
       (signal variance 1).
    4. Noise: per voxel σ_n = noise · noise_spread^u_n with u_n ~ Uniform(−1, 1) (log-uniform
       between noise/noise_spread and noise·noise_spread), so reliabilities vary across voxels;
       response y_{p,n,r} = s_{p,n} + σ_n ε_{p,n,r}, ε ~ N(0,1) independent per repetition.

    Nothing was tuned to favour any network: the representation shares no parameters with
    MiniLM (it never sees WordPiece tokens or learned embeddings). It is a sparse lexical code, so
    a model scores well insofar as its layer linearly captures word identity, spelling and
    length — expect the embedding and early layers to be competitive.

    Parameters
    ----------
    stimuli : DataFrame
        The table of :func:`read_sentences` (needs a ``sentence`` column; row order = stimulus
        order of the returned responses).
    n_voxels, n_repetitions : int
        N ≥ 1 and R ≥ 1 (R ≥ 2 for split-half reliability downstream).
    noise : float
        Median noise s.d. relative to the unit signal s.d. (≥ 0).
    seed : int
        Seed of the whole simulation.
    noise_spread : float
        ≥ 1; the per-voxel noise s.d. ranges over [noise/noise_spread, noise·noise_spread].
    source : str
        Label named in error messages (config key).

    Returns
    -------
    responses : float32 array (P × N × R)
    voxels : DataFrame with N rows: ``target`` (int, column index), ``target_name``
        (``v0000`` …), ``noise_sd`` (σ_n), ``snr`` (1/σ_n²), ``true_reliability``
        (R / (R + σ_n²): population reliability of the R-repetition mean, i.e. the noise
        ceiling that Spearman–Brown-corrected split-half reliability estimates).
    """
    if "sentence" not in stimuli.columns:
        raise InputError(
            source, "the stimulus table has no `sentence` column.", "use read_sentences()."
        )
    if int(n_voxels) < 1 or int(n_repetitions) < 1:
        raise InputError(
            source, "n_voxels and n_repetitions must be ≥ 1.", "set positive integers."
        )
    if not noise >= 0 or not noise_spread >= 1:
        raise InputError(
            source, "noise must be ≥ 0 and noise_spread ≥ 1.", "fix the simulation options."
        )
    sentences = stimuli["sentence"].astype(str).tolist()
    P, N, R = len(sentences), int(n_voxels), int(n_repetitions)
    if P < 2:
        raise InputError(source, f"need at least 2 sentences, got {P}.", "add sentences.")

    rng_proj, rng_read, rng_noise = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3)
    )
    feats = lexical_features(sentences)
    k = 16
    z = np.hstack(
        [
            feats["words"] @ rng_proj.standard_normal((feats["words"].shape[1], k)),
            feats["trigrams"] @ rng_proj.standard_normal((feats["trigrams"].shape[1], k)),
            feats["scalars"],
        ]
    )
    z = _zscore(z)
    d, hidden = z.shape[1], 64
    A = rng_read.standard_normal((d, hidden))
    B = rng_read.standard_normal((hidden, N))
    signal = _zscore(np.tanh(z @ A / np.sqrt(d)) @ B)

    responses, noise_cols = repetition_noise(signal, R, noise, noise_spread, rng_noise)
    voxels = pd.DataFrame(
        {
            "target": np.arange(N, dtype=np.int64),
            "target_name": [f"v{n:0{max(4, len(str(N - 1)))}d}" for n in range(N)],
            **noise_cols,
        }
    )
    return responses, voxels
