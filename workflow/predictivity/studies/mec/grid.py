"""Grid-cell measurements on rate maps: the spatial autocorrelogram and the grid period."""

from __future__ import annotations

import numpy as np

from predictivity.errors import InputError


def autocorrelogram(rate_map_2d: np.ndarray, min_overlap: float = 0.2) -> np.ndarray:
    """Spatial autocorrelogram of a 2-D map (Pearson-style, normalised per lag).

    A(Δ) = Σ_x z(x) z(x+Δ) / (n_overlap(Δ) · var z), z = map − mean, over the
    (2ny−1, 2nx−1) lags; the zero lag sits at index (ny−1, nx−1). Lags whose overlap is below
    ``min_overlap`` of the map are NaN (too few bins to be reliable).
    """
    from scipy.signal import fftconvolve

    z = np.asarray(rate_map_2d, dtype=np.float64)
    z = z - z.mean()
    var = float((z**2).mean())
    raw = fftconvolve(z, z[::-1, ::-1], mode="full")
    ones = np.ones_like(z)
    overlap = np.rint(fftconvolve(ones, ones, mode="full"))
    ac = raw / np.maximum(overlap, 1) / var
    ac[overlap < min_overlap * z.size] = np.nan
    return ac


def grid_period(rate_map_2d, bin_size: float, n_peaks: int = 6) -> float:
    """Grid period of a rate map, measured from its spatial autocorrelogram.

    The autocorrelogram's local maxima (3×3 neighbourhood, positive correlation, excluding the
    central peak) are located with sub-bin precision (a parabola through each peak and its two
    neighbours along each axis); the period is the median distance from the centre of the
    ``n_peaks`` (default 6: the inner hexagonal ring) nearest ones, times ``bin_size``.

    Parameters
    ----------
    rate_map_2d : (ny, nx) map (e.g. ``column.reshape(n_bins, n_bins)`` in arena_bins order).
    bin_size : bin side in metres (``box_width / n_bins``).
    n_peaks : how many of the nearest peaks to use.

    Returns
    -------
    Period in the units of ``bin_size``; NaN for a constant map or one without side peaks. Only
    meaningful for grid-like maps with at least ~3 bins per period.
    """
    from scipy.ndimage import maximum_filter

    m = np.asarray(rate_map_2d, dtype=np.float64)
    if m.ndim != 2 or not np.isfinite(m).all():
        raise InputError(
            "rate map",
            f"must be a finite 2-D array, got shape {m.shape}.",
            "reshape a rate-map column to (n_bins, n_bins).",
        )
    if np.ptp(m) == 0:
        return float("nan")
    ac = autocorrelogram(m)
    filled = np.where(np.isnan(ac), -np.inf, ac)
    cy, cx = m.shape[0] - 1, m.shape[1] - 1
    is_peak = maximum_filter(filled, size=3, mode="constant", cval=-np.inf) == filled
    is_peak &= filled > 0
    is_peak[cy, cx] = False
    iy, ix = np.nonzero(is_peak)
    # a peak needs finite neighbours for the parabola
    ok = (iy > 0) & (iy < ac.shape[0] - 1) & (ix > 0) & (ix < ac.shape[1] - 1)
    iy, ix = iy[ok], ix[ok]
    if iy.size == 0:
        return float("nan")

    def offset(a, b, c):
        den = a - 2 * b + c
        with np.errstate(invalid="ignore", divide="ignore"):
            off = np.where(np.isfinite(den) & (den < 0), 0.5 * (a - c) / den, 0.0)
        return np.clip(off, -0.5, 0.5)

    dy = offset(filled[iy - 1, ix], filled[iy, ix], filled[iy + 1, ix])
    dx = offset(filled[iy, ix - 1], filled[iy, ix], filled[iy, ix + 1])
    r = np.hypot(iy + dy - cy, ix + dx - cx)
    nearest = np.sort(r)[:n_peaks]
    return float(np.median(nearest) * bin_size)
