"""The Gram matrix of a layer, formed once per layer (by the eigen stage, :mod:`predictivity.core.basis`)
and shared by every per-layer stage.

``docs/design.md#spectra``: X ∈ R^{P×M} (stimuli × units). Centring over stimuli is translation invariant for every
quantity the pipeline computes, so the activations are first centred over all P stimuli (column
means in float64) and the Gram matrix of the centred activations is formed in blocks of units,
each block's product in the working dtype (float32 for float32 activations) and the sum over
blocks in float64. This keeps float32 inputs accurate (no cancellation against large means)
without a float64 copy of X, and without even a float64 copy of a block:

for a float32 block B_raw (P × b) with float64 column means m and their float32 rounding m₃₂,
the block is centred in float32, B = B_raw − 1m₃₂ᵀ (each entry rounded once, relative error
≤ 2⁻²⁴ of |x − m₃₂|, as good as rounding a float64-centred block to float32), and the small
remaining shift δ = m − m₃₂ (|δ| ≤ 2⁻²⁴|m|) is removed algebraically:

    X_c = B − 1δᵀ   ⇒   X_c X_cᵀ = B Bᵀ − (Bδ)1ᵀ − 1(Bδ)ᵀ + ‖δ‖² 11ᵀ,

with B Bᵀ one float32 SYRK (``B @ B.T``) and Bδ one matrix-vector product. So the result is the
Gram of the activations centred with their float64 means, and a memory-mapped X is read once.
"""

from __future__ import annotations

import numpy as np


def column_means(X: np.ndarray, block_units: int = 16384) -> np.ndarray:
    """Mean over stimuli of each unit, accumulated in float64. X: (P, M) → (M,)."""
    P, M = X.shape
    out = np.empty(M, dtype=np.float64)
    for start in range(0, M, block_units):
        out[start : start + block_units] = X[:, start : start + block_units].mean(
            axis=0, dtype=np.float64
        )
    return out


def _work_dtype(X: np.ndarray, dtype) -> np.dtype:
    if dtype is not None:
        work = np.dtype(dtype)
        if work not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {work}")
        return work
    return X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)


def working_dtype(X: np.ndarray, dtype=None) -> np.dtype:
    """The precision :func:`centred_gram` forms the Gram of X in: ``dtype`` if given, else that of
    X (float64 for any dtype other than float32/float64). Its machine epsilon sets the rounding
    level of the Gram's null space (``docs/design.md#spectra``)."""
    return _work_dtype(X, dtype)


def centred_gram(X: np.ndarray, block_units: int = 8192, dtype=None) -> np.ndarray:
    """G = X_c X_cᵀ with X_c = X − 1 x̄ᵀ (x̄ = column means over the P stimuli, in float64).

    Parameters
    ----------
    X : (P, M) float32 or float64 array (a memory map is fine; it is read once, block by block).
    block_units : number of units per block; each block costs P·block_units of working memory
        (in the working dtype).
    dtype : working precision of the block products, ``float32`` or ``float64``; default: that of
        X (float64 for any other input dtype). Sums over blocks are float64 either way.

    Returns
    -------
    G : (P, P) float64, symmetric.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (stimuli × units), got shape {X.shape}")
    P, M = X.shape
    work = _work_dtype(X, dtype)
    G = np.zeros((P, P), dtype=np.float64)
    for start in range(0, M, block_units):
        raw = X[:, start : start + block_units]
        if work == np.float64:
            # one conversion; the mean of the converted block is the same
            B = raw.astype(np.float64)
            B -= B.mean(axis=0)
            G += B @ B.T
            continue
        m = raw.mean(axis=0, dtype=np.float64)
        m32 = m.astype(np.float32)
        B = np.subtract(raw, m32, dtype=np.float32)  # float32 input: no float64 copy of the block
        G += B @ B.T
        delta = m - m32  # float64, |δ| ≤ 2⁻²⁴|m|
        if np.any(delta):
            Bd = (B @ delta.astype(np.float32)).astype(np.float64)
            G -= Bd[:, None]
            G -= Bd[None, :]
            G += float(delta @ delta)
    G += G.T
    G *= 0.5
    return G
