"""The stimuli of a ``mec`` study: the spatial bins of a square arena.

The arena is the square ``[-box_width/2, box_width/2]²`` (metres). Bin row order is
``row = iy * n_bins + ix`` (``ix`` along x, ``iy`` along y), so ``values.reshape(n_bins, n_bins)``
is an image indexed ``[iy, ix]``. Rate maps (simulated, measured or a network's) all use it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from predictivity.errors import InputError
from predictivity.studies.mec.validate import as_float, as_int


def arena_bins(
    box_width: float = 2.2,
    n_bins: int = 20,
    blocks: int = 0,
    *,
    config_key: str = "studies.mec.stimuli",
) -> pd.DataFrame:
    """The stimuli of a ``mec`` study: the spatial bins of a square arena.

    Parameters
    ----------
    box_width : side of the square arena in metres (default 2.2); the arena is
        ``[-box_width/2, box_width/2]²``.
    n_bins : bins per side (default 20), at least 2; the study has ``n_bins²`` stimuli.
    blocks : 0 (default) or B ≥ 2: cut the arena into B × B contiguous square blocks (block
        ``bx = ix·B // n_bins``, likewise ``by``) and give every bin its block as CV ``group``, so
        that whole regions of the arena are held out together. Plain folds (0) test interpolation
        between neighbouring bins of one map; blocked folds test extrapolation to unseen parts of
        the arena, and alpha is then chosen by leave-one-block-out inside each training fold.
    config_key : dotted config prefix named in errors.

    Returns
    -------
    DataFrame with ``n_bins²`` rows in the order ``row = iy * n_bins + ix`` and columns
    ``stimulus_id`` (``x{ix}_y{iy}``, zero-padded to at least 2 digits, e.g. ``x03_y17``; stable and
    unique), ``x``, ``y`` (bin centres, metres), ``ix``, ``iy`` (integer bin indices), and
    ``group`` (``b{bx}_{by}``) when ``blocks`` is set.
    """
    n_bins = as_int(n_bins, f"{config_key}.n_bins", minimum=2)
    blocks = as_int(blocks, f"{config_key}.blocks", minimum=0)
    if blocks == 1 or blocks > n_bins:
        raise InputError(
            f"{config_key}.blocks",
            f"{blocks} blocks per side with {n_bins} bins per side.",
            "Use 0 (no spatial blocks) or a number from 2 to n_bins.",
        )
    box_width = as_float(box_width, f"{config_key}.box_width", minimum=0.0, strict=True)
    edges = np.linspace(-box_width / 2, box_width / 2, n_bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    iy, ix = np.divmod(np.arange(n_bins * n_bins), n_bins)
    width = max(2, len(str(n_bins - 1)))
    ids = [f"x{a:0{width}d}_y{b:0{width}d}" for a, b in zip(ix, iy)]
    table = pd.DataFrame(
        {"stimulus_id": ids, "x": centres[ix], "y": centres[iy], "ix": ix, "iy": iy}
    )
    if blocks:
        bx, by = ix * blocks // n_bins, iy * blocks // n_bins
        table["group"] = [f"b{a}_{b}" for a, b in zip(bx, by)]
    return table


def bin_index(positions: np.ndarray, box_width: float, n_bins: int) -> np.ndarray:
    """Row index (in :func:`arena_bins` order) of the bin holding each position.

    positions : (..., 2) metres. Positions outside the arena go to the nearest edge bin.
    Returns an int64 array of shape ``positions.shape[:-1]``.
    """
    positions = np.asarray(positions, dtype=np.float64)
    idx = np.floor((positions + box_width / 2) / box_width * n_bins).astype(np.int64)
    idx = np.clip(idx, 0, n_bins - 1)
    return idx[..., 1] * n_bins + idx[..., 0]
