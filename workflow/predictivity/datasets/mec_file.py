"""MEC rate maps from a user file (there is no public release of the Nayebi et al. recordings):
``.npy``/``.npz``/``.mat`` rate maps or positions + spikes, or an NWB file (``/units`` spike times
+ a ``Position`` SpatialSeries) → the study's arena bins
(:func:`~predictivity.studies.mec.arena.arena_bins` order, ``row = iy * n_bins + ix``). The rate-map maths (:func:`rebin_rate_maps`,
:func:`rate_maps_from_samples`) lives here with its only user. Serves the ``mec`` kind (loader
``mec_file``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from predictivity.datasets.dataset import Dataset, call_with_options
from predictivity.datasets.formats import need, numeric_array, read_mat, read_nwb_units_position
from predictivity.errors import InputError
from predictivity.studies.mec.arena import arena_bins, bin_index


def _overlap_matrix(n_src: int, n_dst: int) -> np.ndarray:
    """(n_dst, n_src) fractions of each destination bin covered by each source bin (same extent)."""
    src = np.linspace(0.0, 1.0, n_src + 1)
    dst = np.linspace(0.0, 1.0, n_dst + 1)
    lo = np.maximum(dst[:-1, None], src[None, :-1])
    hi = np.minimum(dst[1:, None], src[None, 1:])
    return np.clip(hi - lo, 0.0, None)


def rebin_rate_maps(maps, n_bins: int) -> np.ndarray:
    """Area-weighted rebinning of rate maps covering the same square arena onto ``n_bins²`` bins.

    maps : (C, By, Bx), indexed ``[cell, iy, ix]`` with ``iy`` along y (row 0 = lowest y) and ``ix``
        along x. NaN marks unvisited source bins; each destination bin is the overlap-weighted mean
        of its finite source bins (NaN if it has none).
    Returns (n_bins², C) in :func:`predictivity.studies.mec.arena.arena_bins` order (``row = iy·n_bins + ix``).
    """
    M = np.asarray(maps, dtype=np.float64)
    C, By, Bx = M.shape
    Wy, Wx = _overlap_matrix(By, n_bins), _overlap_matrix(Bx, n_bins)
    finite = np.isfinite(M)
    num = np.einsum("yb,cba,xa->cyx", Wy, np.where(finite, M, 0.0), Wx)
    den = np.einsum("yb,cba,xa->cyx", Wy, finite.astype(float), Wx)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out.reshape(C, n_bins * n_bins).T


def _positions_to_arena(pos: np.ndarray, box_width: float, origin: str, source: str) -> np.ndarray:
    pos = np.asarray(pos, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] < 2:
        raise InputError(
            source,
            f"positions have shape {pos.shape}, expected samples × 2 (x, y).",
            "Store positions as a T × 2 array in metres.",
        )
    pos = pos[:, :2]
    if origin == "centre":
        return pos
    if origin == "corner":
        return pos - box_width / 2
    if origin == "auto":
        ok = np.isfinite(pos).all(axis=1)
        mid = (np.nanmin(pos[ok], axis=0) + np.nanmax(pos[ok], axis=0)) / 2
        return pos - mid
    raise InputError(source, f"origin {origin!r} unknown.", "Use 'auto', 'centre' or 'corner'.")


def _fill(maps: np.ndarray, unvisited: str, n_bins: int, source: str) -> np.ndarray:
    """maps (n_bins², C) with NaN at unvisited bins → filled per ``unvisited``."""
    bad = ~np.isfinite(maps).all(axis=1)
    if not bad.any():
        return maps
    if unvisited == "error":
        raise InputError(
            source,
            f"{int(bad.sum())} of {n_bins * n_bins} arena bins were never visited (no rate).",
            "Use fewer bins (n_bins), a longer session, or unvisited: nearest | mean.",
        )
    if unvisited == "mean":
        col = np.nanmean(maps, axis=0)
        return np.where(np.isfinite(maps), maps, col[None, :])
    if unvisited == "nearest":
        from scipy.ndimage import distance_transform_edt

        _, (iy, ix) = distance_transform_edt(bad.reshape(n_bins, n_bins), return_indices=True)
        return maps[(iy * n_bins + ix).ravel()]
    raise InputError(
        source, f"unvisited {unvisited!r} unknown.", "Use 'error', 'nearest' or 'mean'."
    )


def rate_maps_from_samples(
    positions, dt, spike_bins: list[np.ndarray], box_width: float, n_bins: int
) -> np.ndarray:
    """Occupancy-normalised rate maps (Hz) from tracked positions and spikes.

    positions : (T, 2) metres, arena-centred; dt : (T,) seconds each sample represents;
    spike_bins : per cell, the arena-bin index of every spike (from the position at its time).
    Returns (n_bins², C): spikes in a bin / time spent in it; NaN where the time is 0.
    """
    b = bin_index(positions, box_width, n_bins)
    occ = np.bincount(b, weights=dt, minlength=n_bins * n_bins)
    counts = (
        np.stack([np.bincount(sb, minlength=n_bins * n_bins) for sb in spike_bins], axis=1)
        if spike_bins
        else np.zeros((n_bins * n_bins, 0))
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(occ[:, None] > 0, counts / np.where(occ > 0, occ, 1.0)[:, None], np.nan)


def _sample_dt(times: np.ndarray) -> np.ndarray:
    d = np.diff(times)
    if len(d) == 0 or not (d > 0).all():
        raise ValueError("position timestamps must be strictly increasing")
    return np.r_[d, np.median(d)]


def load_mec_recordings(
    path,
    box_width: float,
    n_bins: int,
    *,
    origin: str = "auto",
    unvisited: str = "error",
    split_halves: bool = False,
    position_series: str | None = None,
) -> Dataset:
    """MEC rate maps from a user file, on the study's arena bins.

    Accepted files:

    * ``.npy`` — rate maps ``cells × bins_y × bins_x`` (or ``repetitions × cells × bins_y ×
      bins_x``), indexed ``[cell, iy, ix]`` with row 0 at the lowest y, covering the whole arena
      (any resolution: rebinned by area, :func:`rebin_rate_maps`; NaN = unvisited).
    * ``.npz`` or ``.mat`` — either ``rate_maps`` as above, or ``positions`` (T × 2, metres),
      ``spikes`` (T × cells, spike counts per position sample) and ``times`` (T, s) or ``dt``
      (scalar s per sample).
    * ``.nwb`` — spike times of ``/units`` and a ``Position`` SpatialSeries
      (:func:`~predictivity.datasets.formats.read_nwb_units_position`); each spike takes the position of the nearest sample.

    box_width, n_bins : the study's arena (metres per side, bins per side): the workflow passes
        its ``stimuli.box_width`` and ``stimuli.n_bins``.

    Options (``dataset.options``; no other config key sets them): ``origin`` places positions in
    the arena ``[−box_width/2, box_width/2]²`` (default ``auto``: centre of the visited range;
    ``centre``: already centred; ``corner``: ``[0, box_width]``). ``split_halves`` (positions +
    spikes only; default False): two repetitions, rate maps of the first and the second half of
    the session (for the noise ceiling). ``unvisited`` handles bins never visited (default
    ``error``; ``nearest`` visited bin, or the cell's ``mean`` rate). ``position_series`` (NWB;
    default none) names the SpatialSeries when there are several.

    Returns responses (n_bins², cells, R) in Hz (or the file's rate-map units); stimuli =
    :func:`predictivity.studies.mec.arena.arena_bins` (``stimulus_id``, ``x``, ``y``, ``ix``, ``iy``); targets
    ``target_name`` (unit ids for NWB, else ``cell<i>``).
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise InputError(source, "file does not exist.", "Check the recordings path.")
    suffix = path.suffix.lower()
    names = None
    reps: list[np.ndarray] = []
    if suffix == ".npy":
        try:
            d = {"rate_maps": np.load(path, allow_pickle=False)}
        except (ValueError, OSError) as e:
            raise InputError(
                source, f"cannot read .npy: {e}.", "Save a float array (allow_pickle=False)."
            ) from e
    elif suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        except (ValueError, OSError) as e:
            raise InputError(
                source, f"cannot read .npz: {e}.", "Save float arrays (allow_pickle=False)."
            ) from e
    elif suffix == ".mat":
        d = read_mat(path, source)
    elif suffix == ".nwb":
        nwb = read_nwb_units_position(path, position_series)
        d = None
    else:
        raise InputError(
            source, f"unsupported file type {suffix!r}.", "Use .npy, .npz, .mat or .nwb."
        )

    if d is not None and "rate_maps" in d:
        M = numeric_array(d["rate_maps"], "rate_maps", source)
        if M.ndim == 3:
            M = M[None]
        if M.ndim != 4:
            raise InputError(
                source,
                f"rate_maps have shape {M.shape}, expected cells × bins_y × bins_x "
                "(or repetitions × cells × bins_y × bins_x).",
                "Reshape the array.",
            )
        reps = [rebin_rate_maps(m, n_bins) for m in M]
    else:
        if d is not None:
            pos = numeric_array(need(d, "positions", source), "positions", source)
            S = numeric_array(need(d, "spikes", source), "spikes", source)
            if S.ndim == 1:
                S = S[:, None]
            if S.shape[0] != pos.shape[0]:
                raise InputError(
                    source,
                    f"spikes have {S.shape[0]} samples, positions {pos.shape[0]}.",
                    "Give spike counts per position sample (T × cells).",
                )
            if "times" in d:
                times = np.asarray(d["times"], dtype=np.float64).ravel()
            elif "dt" in d:
                times = np.arange(len(pos)) * float(np.asarray(d["dt"]).ravel()[0])
            else:
                raise InputError(
                    source,
                    "has positions but neither 'times' nor 'dt'.",
                    "Add the sample times (s) or the sampling interval dt (s).",
                )
        else:
            pos, times = nwb["positions"], nwb["times"]
            names = [str(i) for i in nwb["unit_ids"]]
        if len(times) != len(pos):
            raise InputError(
                source, f"{len(times)} times for {len(pos)} positions.", "Give one time per sample."
            )
        ok = np.isfinite(pos[:, :2]).all(axis=1) & np.isfinite(times)
        try:
            dt_all = _sample_dt(times[ok])
        except ValueError as e:
            raise InputError(source, str(e) + ".", "Sort the samples by time.") from e
        arena = _positions_to_arena(pos[ok], box_width, origin, source)
        t_ok = times[ok]
        halves = [np.ones(len(t_ok), bool)]
        if split_halves:
            mid = (t_ok[0] + t_ok[-1]) / 2
            halves = [t_ok < mid, t_ok >= mid]
        sample_bins = bin_index(arena, box_width, n_bins)
        for h in halves:
            if d is not None:
                Sk = S[ok][h]
                spike_bins = [
                    np.repeat(sample_bins[h], Sk[:, c].astype(np.int64)) for c in range(Sk.shape[1])
                ]
            else:
                th = t_ok[h]
                spike_bins = []
                for st in nwb["spike_times"]:
                    st = st[(st >= th[0]) & (st <= th[-1])]
                    j = np.clip(np.searchsorted(th, st), 1, len(th) - 1)
                    j -= (st - th[j - 1]) < (th[j] - st)
                    spike_bins.append(sample_bins[h][j])
            reps.append(rate_maps_from_samples(arena[h], dt_all[h], spike_bins, box_width, n_bins))
    reps = [_fill(r, unvisited, n_bins, source) for r in reps]
    Y = np.stack(reps, axis=2)
    C = Y.shape[1]
    if names is None:
        names = [f"cell{i}" for i in range(C)]
    stimuli = arena_bins(box_width, n_bins)
    targets = pd.DataFrame({"target_name": names})
    return Dataset(Y, stimuli, targets, {"format": suffix})


def open_dataset(
    path, options: dict, *, verified: bool = False, source: str = "dataset"
) -> Dataset:
    """Registry entry: ``path`` is the user's file; ``options`` are :func:`load_mec_recordings`'s
    keywords (with the study's ``box_width`` and ``n_bins``)."""
    return call_with_options(load_mec_recordings, source, path, options=options)
