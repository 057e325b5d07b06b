"""The Gram matrix of a layer, formed once and shared by regression, spectra and theory.

DESIGN §3: X ∈ R^{P×M} (stimuli × units). Centring over stimuli is translation invariant for every
quantity the pipeline computes, so the activations are first centred over all P stimuli (column
means in float64) and the Gram matrix of the centred activations is formed in blocks of units,
each block's product in the input dtype and the sum over blocks in float64. This keeps float32
inputs accurate (no cancellation against large means) without a float64 copy of X.
"""

from __future__ import annotations

import numpy as np


def column_means(X: np.ndarray, block_units: int = 16384) -> np.ndarray:
    """Mean over stimuli of each unit, accumulated in float64. X: (P, M) → (M,)."""
    P, M = X.shape
    out = np.empty(M, dtype=np.float64)
    for start in range(0, M, block_units):
        out[start:start + block_units] = X[:, start:start + block_units].mean(axis=0, dtype=np.float64)
    return out


def centred_gram(X: np.ndarray, block_units: int = 8192) -> np.ndarray:
    """G = X_c X_cᵀ with X_c = X − 1 x̄ᵀ (x̄ = column means over the P stimuli).

    Parameters
    ----------
    X : (P, M) float32 or float64 array (a memory map is fine; it is read block by block).
    block_units : number of units per block; each block costs P·block_units of working memory.

    Returns
    -------
    G : (P, P) float64, symmetric.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (stimuli × units), got shape {X.shape}")
    P, M = X.shape
    work = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    G = np.zeros((P, P), dtype=np.float64)
    for start in range(0, M, block_units):
        B = np.asarray(X[:, start:start + block_units], dtype=np.float64)
        B = B - B.mean(axis=0)
        B = B.astype(work, copy=False)
        G += B @ B.T
    G = (G + G.T) / 2.0
    return G
