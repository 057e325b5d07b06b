"""Grid-cell measurements on rate maps: the spatial autocorrelogram and the grid period."""

from __future__ import annotations

import functools
import warnings

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


# --------------------------------------------------------------------------------------------
# Gridness (Sargolini et al. 2006; expanding annulus of Langston et al. 2010), spacing,
# orientation and the ellipse correction of Brandon et al. (2011), batched over maps.
# --------------------------------------------------------------------------------------------

#: Rotation angles of the gridness score, degrees: g = min(r60, r120) − max(r30, r90, r150).
GRIDNESS_ANGLES = (30, 60, 90, 120, 150)


def _lags(c: np.ndarray, ny: int, nx: int) -> np.ndarray:
    """Reorder a circular correlation (2ny, 2nx) into the lag layout (2ny−1, 2nx−1), zero lag at
    (ny−1, nx−1): index i ↔ lag i − (ny−1)."""
    iy = np.arange(-(ny - 1), ny) % c.shape[-2]
    ix = np.arange(-(nx - 1), nx) % c.shape[-1]
    return c[..., iy[:, None], ix[None, :]]


def pearson_autocorrelogram(maps, min_overlap: int = 20) -> np.ndarray:
    """Spatial autocorrelograms of rate maps: the Pearson correlation at every lag.

    For each lag Δ = (dy, dx), r(Δ) is Pearson's r between the map and the map shifted by Δ over
    the bins that are valid (finite) in both (Sargolini et al. 2006, supplementary eq.; the
    ``normxcorr2_general`` of the Moser lab's BNT and of ``opexebo.analysis.autocorrelation``).
    NaN bins (unvisited positions) are masked, never filled. Lags with fewer than ``min_overlap``
    overlapping valid bins, or where either side is constant, are NaN.

    Parameters
    ----------
    maps : (ny, nx) or (K, ny, nx) rate maps, indexed ``[iy, ix]``.
    min_overlap : least number of overlapping valid bins for a lag to be kept.

    Returns
    -------
    (K, 2ny−1, 2nx−1) float64 (or (2ny−1, 2nx−1) for one map); the zero lag at (ny−1, nx−1),
    lag (dy, dx) at index (ny−1+dy, nx−1+dx).
    """
    m = np.asarray(maps, dtype=np.float64)
    single = m.ndim == 2
    if single:
        m = m[None]
    if m.ndim != 3:
        raise InputError(
            "rate maps",
            f"must be (ny, nx) or (K, ny, nx), got shape {m.shape}.",
            "reshape each rate-map column to (n_bins, n_bins).",
        )
    K, ny, nx = m.shape
    valid = np.isfinite(m)
    v = valid.astype(np.float64)
    n_valid = np.maximum(v.sum(axis=(1, 2), keepdims=True), 1.0)
    mu = np.where(valid, m, 0.0).sum(axis=(1, 2), keepdims=True) / n_valid
    x = np.where(valid, m - mu, 0.0)
    scale = np.sqrt((x**2).sum(axis=(1, 2), keepdims=True) / n_valid)
    x = x / np.where(scale > 0, scale, 1.0)
    shape = (2 * ny, 2 * nx)
    fv = np.fft.rfft2(v, s=shape)
    fx = np.fft.rfft2(x, s=shape)
    fxx = np.fft.rfft2(x * x, s=shape)

    def corr(fa, fb):  # Σ_p a[p] b[p + Δ]
        return _lags(np.fft.irfft2(np.conj(fa) * fb, s=shape), ny, nx)

    if valid.all():  # the same overlap counts for every map
        n = np.rint(corr(fv[:1], fv[:1]))
    else:
        n = np.rint(corr(fv, fv))
    s1 = corr(fx, fv)  # Σ x[p] v[p+Δ]
    s11 = corr(fxx, fv)
    s12 = corr(fx, fx)
    s2 = s1[:, ::-1, ::-1]  # Σ v[p] x[p+Δ] = s1(−Δ)
    s22 = s11[:, ::-1, ::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        num = n * s12 - s1 * s2
        d1 = n * s11 - s1**2
        d2 = n * s22 - s2**2
        tol = 1e-9 * n**2
        r = num / np.sqrt(np.maximum(d1, 0) * np.maximum(d2, 0))
        r[(n < min_overlap) | (d1 <= tol) | (d2 <= tol)] = np.nan
    r = np.clip(r, -1.0, 1.0)
    return r[0] if single else r


def _rotation_operator(shape: tuple[int, int], angle_deg: float):
    """Sparse (npix, npix) bilinear interpolation matrix: (M @ a.ravel()) is ``a`` rotated by
    ``angle_deg`` about its centre pixel; rows whose source falls outside have weight sum < 1."""
    from scipy.sparse import csr_matrix

    H, W = shape
    cy, cx = (H - 1) / 2, (W - 1) / 2
    yy, xx = np.mgrid[0:H, 0:W]
    t = np.radians(angle_deg)
    # output pixel u takes the value at R(−θ) u (rotation of the image by +θ)
    sy = cy + (yy - cy) * np.cos(t) - (xx - cx) * np.sin(t)
    sx = cx + (yy - cy) * np.sin(t) + (xx - cx) * np.cos(t)
    y0, x0 = np.floor(sy).astype(int), np.floor(sx).astype(int)
    fy, fx = sy - y0, sx - x0
    rows, cols, vals = [], [], []
    out = np.arange(H * W).reshape(H, W)
    for dy, dx, w in (
        (0, 0, (1 - fy) * (1 - fx)),
        (0, 1, (1 - fy) * fx),
        (1, 0, fy * (1 - fx)),
        (1, 1, fy * fx),
    ):
        yi, xi = y0 + dy, x0 + dx
        ok = (yi >= 0) & (yi < H) & (xi >= 0) & (xi < W) & (w > 1e-12)
        rows.append(out[ok])
        cols.append((yi * W + xi)[ok])
        vals.append(w[ok])
    return csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(H * W, H * W)
    )


def _rings(shape: tuple[int, int]) -> np.ndarray:
    """Ring index of every pixel: k = round(ρ), ρ = distance from the centre pixel in bins
    (ring k holds k − ½ ≤ ρ < k + ½)."""
    H, W = shape
    yy, xx = np.mgrid[0:H, 0:W]
    rho = np.hypot(yy - (H - 1) / 2, xx - (W - 1) / 2)
    return np.floor(rho + 0.5).astype(int).ravel()


@functools.lru_cache(maxsize=16)
def _annulus_operators(H: int, W: int, k_max: int):
    """Pixels within ring ``k_max``, their ring-indicator matrix and the rotation operators
    (restricted to those pixels), cached per autocorrelogram shape."""
    ring = _rings((H, W))
    pix = np.flatnonzero(ring <= k_max)
    R = np.zeros((pix.size, k_max + 1))
    R[np.arange(pix.size), ring[pix]] = 1.0
    ops = tuple(_rotation_operator((H, W), angle)[pix] for angle in GRIDNESS_ANGLES)
    return pix, R, ops


def gridness_scores(
    acs,
    central_threshold: float = 0.1,
    outer_fraction: float = 0.8,
    window: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Gridness scores of autocorrelograms (batched).

    Definition (Sargolini et al. 2006, with the expanding annulus of Langston et al. 2010 as in
    BNT / ``opexebo.analysis.grid_score``):

    * Rings of the autocorrelogram: ring k holds the lags at distance ρ from the zero lag with
      k − ½ ≤ ρ < k + ½ (bins).
    * The central peak ends at ring ``k_in``: the first ring k ≥ 1 whose mean correlation is below
      ``central_threshold`` or is a local minimum of the radial profile (the next ring's mean is
      higher). Rings < ``k_in`` are excluded.
    * For each outer ring ``k_out`` from ``k_in + 2`` to ``k_max = floor(outer_fraction ·
      (min(ny, nx) − 1))``, the annulus holds rings ``k_in … k_out``; on it, Pearson's r between
      the autocorrelogram and its rotation by 30°, 60°, 90°, 120°, 150° (bilinear interpolation,
      lags valid in both) gives g(k_out) = min(r60, r120) − max(r30, r90, r150).
    * gridness = the largest mean of ``window`` consecutive g(k_out) (the mean of all of them if
      fewer); NaN when no annulus fits.

    Parameters
    ----------
    acs : (K, H, W) autocorrelograms from :func:`pearson_autocorrelogram` (NaN = invalid lag).
    central_threshold : correlation below which a ring is outside the central peak.
    outer_fraction : the largest outer ring as a fraction of the map's half-width in lags.
    window : number of consecutive outer radii averaged (BNT: 3).

    Returns
    -------
    gridness : (K,) float64; k_in : (K,) int, the first ring of the annulus (−1 where NaN).
    """
    a = np.asarray(acs, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    K, H, W = a.shape
    ny = (min(H, W) + 1) // 2
    k_max = int(np.floor(outer_fraction * (ny - 1)))
    n_rings = k_max + 1
    pix, R, ops = _annulus_operators(H, W, k_max)
    flat = a.reshape(K, -1)
    va = np.isfinite(flat)
    af = np.where(va, flat, 0.0)
    # radial profile → k_in (vectorised: the first ring that is below threshold or a local min)
    cnt = va[:, pix].astype(float) @ R
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = (af[:, pix] @ R) / cnt
    nxt = np.concatenate([prof[:, 1:], np.full((K, 1), np.nan)], axis=1)
    stop = (prof < central_threshold) | (nxt > prof)
    stop[:, 0] = False
    stop[:, -1] = False
    bad = ~np.isfinite(prof)
    bad[:, 0] = False
    first_stop = np.where(stop.any(1), stop.argmax(1), n_rings)
    first_bad = np.where(bad.any(1), bad.argmax(1), n_rings)
    k_in = np.where(first_stop < first_bad, first_stop, -1)
    # per-ring sums for each rotation angle
    sums = {}
    for angle, M in zip(GRIDNESS_ANGLES, ops):
        bf = (M @ af.T).T  # (K, pix)
        vb = (M @ va.T.astype(float)).T > 1 - 1e-9
        w = va[:, pix] & vb
        a_ = np.where(w, af[:, pix], 0.0)
        b_ = np.where(w, bf, 0.0)
        sums[angle] = [
            np.cumsum(q @ R, axis=1) for q in (w.astype(float), a_, b_, a_ * a_, b_ * b_, a_ * b_)
        ]
    k_out = np.arange(n_rings)
    lo = np.clip(k_in - 1, 0, None)
    g = np.full((K, n_rings), np.nan)
    corr = {}
    for angle in GRIDNESS_ANGLES:
        n, sa, sb, saa, sbb, sab = (
            s - np.where(k_in[:, None] >= 1, np.take_along_axis(s, lo[:, None], 1), 0.0)
            for s in sums[angle]
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            num = n * sab - sa * sb
            den = np.sqrt(np.maximum(n * saa - sa**2, 0) * np.maximum(n * sbb - sb**2, 0))
            corr[angle] = np.where(den > 0, num / den, np.nan)
    g = np.minimum(corr[60], corr[120]) - np.maximum(np.maximum(corr[30], corr[90]), corr[150])
    g[(k_in[:, None] < 1) | (k_out[None, :] < k_in[:, None] + 2)] = np.nan
    finite = np.isfinite(g)
    out = np.full(K, np.nan)
    if n_rings >= window:
        win = np.lib.stride_tricks.sliding_window_view(g, window, axis=1).mean(-1)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = np.nanmax(win, axis=1)
    few = ~np.isfinite(out) & finite.any(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out[few] = np.nanmean(g[few], axis=1)
    return out, k_in


def inner_peaks(ac: np.ndarray, k_in: int, min_angle: float = 15.0, n_peaks: int = 6) -> np.ndarray:
    """The ``n_peaks`` fields of an autocorrelogram nearest its centre, as (dy, dx) lags in bins.

    Peaks are local maxima over the 3×3 neighbourhood with a positive correlation, outside the
    central peak (distance ≥ ``k_in − ½`` bins), located with sub-bin precision by a parabola
    through each peak and its neighbours along each axis. Of two peaks whose directions differ
    by less than ``min_angle`` degrees the farther is dropped (BNT's ``min_orientation``); the
    ``n_peaks`` nearest remain. Returns an (m, 2) array, m ≤ ``n_peaks`` (sorted by angle).
    """
    from scipy.ndimage import maximum_filter

    H, W = ac.shape
    cy, cx = (H - 1) / 2, (W - 1) / 2
    filled = np.where(np.isfinite(ac), ac, -np.inf)
    is_peak = maximum_filter(filled, size=3, mode="constant", cval=-np.inf) == filled
    is_peak &= filled > 0
    yy, xx = np.mgrid[0:H, 0:W]
    is_peak &= np.hypot(yy - cy, xx - cx) >= max(k_in, 1) - 0.5
    is_peak[0, :] = is_peak[-1, :] = is_peak[:, 0] = is_peak[:, -1] = False
    iy, ix = np.nonzero(is_peak)
    if iy.size == 0:
        return np.empty((0, 2))

    def offset(a, b, c):
        den = a - 2 * b + c
        with np.errstate(invalid="ignore", divide="ignore"):
            off = np.where(np.isfinite(den) & (den < 0), 0.5 * (a - c) / den, 0.0)
        return np.clip(np.nan_to_num(off), -0.5, 0.5)

    dy = iy + offset(filled[iy - 1, ix], filled[iy, ix], filled[iy + 1, ix]) - cy
    dx = ix + offset(filled[iy, ix - 1], filled[iy, ix], filled[iy, ix + 1]) - cx
    dist = np.hypot(dy, dx)
    ang = np.arctan2(dy, dx)
    order = np.argsort(dist, kind="stable")
    kept: list[int] = []
    for j in order:
        d = np.abs(np.angle(np.exp(1j * (ang[j] - ang[kept])))) if kept else np.array([])
        if np.all(np.degrees(d) >= min_angle):
            kept.append(j)
        if len(kept) == n_peaks:
            break
    kept_arr = np.array(kept, dtype=int)
    kept_arr = kept_arr[np.argsort(ang[kept_arr], kind="stable")]
    return np.stack([dy[kept_arr], dx[kept_arr]], axis=1)


def spacing_orientation(peaks: np.ndarray) -> tuple[float, float]:
    """Grid spacing (mean distance of the six inner peaks, bins) and orientation (degrees in
    [0, 60), counter-clockwise from the +x axis: the circular mean of the six peak directions
    modulo 60°). NaN, NaN unless there are six peaks."""
    if len(peaks) < 6:
        return float("nan"), float("nan")
    dy, dx = peaks[:, 0], peaks[:, 1]
    spacing = float(np.hypot(dy, dx).mean())
    six = np.angle(np.exp(6j * np.arctan2(dy, dx)).mean())
    orientation = float(np.degrees(six / 6.0) % 60.0)
    return spacing, orientation


def ellipse_fit(peaks: np.ndarray) -> tuple[float, float, float] | None:
    """Centred ellipse a·x² + b·xy + c·y² = 1 through the six inner peaks (least squares; the
    autocorrelogram is point-symmetric, so the centre is the zero lag). Returns (major, minor,
    angle of the major axis in radians) or None when the fit is not an ellipse."""
    if len(peaks) < 6:
        return None
    y, x = peaks[:, 0], peaks[:, 1]
    A = np.stack([x * x, x * y, y * y], axis=1)
    coef, *_ = np.linalg.lstsq(A, np.ones(len(x)), rcond=None)
    Q = np.array([[coef[0], coef[1] / 2], [coef[1] / 2, coef[2]]])
    ev, V = np.linalg.eigh(Q)
    if not np.all(ev > 0):
        return None
    major, minor = 1 / np.sqrt(ev[0]), 1 / np.sqrt(ev[1])
    return float(major), float(minor), float(np.arctan2(V[1, 0], V[0, 0]))


def ellipse_corrected(ac: np.ndarray, major: float, minor: float, angle: float) -> np.ndarray:
    """The autocorrelogram stretched along the ellipse's minor axis by major/minor, so that the
    six inner peaks lie on a circle of radius ``major`` (Brandon et al. 2011's correction);
    bilinear interpolation about the zero lag, NaN where the source lag is invalid or outside."""
    from scipy.ndimage import map_coordinates

    H, W = ac.shape
    cy, cx = (H - 1) / 2, (W - 1) / 2
    yy, xx = np.mgrid[0:H, 0:W]
    u = np.stack([(xx - cx).ravel(), (yy - cy).ravel()])  # (x, y) of the output lags
    c, s = np.cos(angle), np.sin(angle)
    V = np.array([[c, -s], [s, c]])  # columns: major, minor axis directions
    inv = V @ np.diag([1.0, minor / major]) @ V.T  # output → source
    src = inv @ u
    coords = np.stack([src[1] + cy, src[0] + cx])
    valid = np.isfinite(ac)
    vals = map_coordinates(np.where(valid, ac, 0.0), coords, order=1, cval=0.0)
    ok = map_coordinates(valid.astype(float), coords, order=1, cval=0.0) > 1 - 1e-9
    return np.where(ok, vals, np.nan).reshape(H, W)
