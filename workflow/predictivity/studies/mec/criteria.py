"""Grid-cell criteria of rate maps: what regression does not see.

Per unit of every layer of a ``mec`` model (or per recorded cell) this module computes, from its
rate map over the arena bins (the activations' rows in
:func:`~predictivity.studies.mec.arena.arena_bins` order, or a dataset's aligned rate maps):

* the Pearson spatial autocorrelogram (NaN bins masked;
  :func:`~predictivity.studies.mec.grid.pearson_autocorrelogram`);
* ``gridness`` — rotational symmetry of the autocorrelogram on an expanding annulus around the
  central peak, min(r60, r120) − max(r30, r90, r150) (Sargolini et al. 2006; annulus of Langston
  et al. 2010; :func:`~predictivity.studies.mec.grid.gridness_scores` states it exactly);
* ``spacing`` (metres: mean distance of the six inner peaks) and ``orientation`` (degrees in
  [0, 60), counter-clockwise from +x);
* ``gridness_corrected`` — the larger of ``gridness`` and the gridness of the autocorrelogram
  after the ellipse through the six inner peaks is stretched into a circle (Brandon et al.
  2011); ``ellipse_aspect`` = major / minor axis;
* ``is_grid`` — ``gridness`` above a shuffle threshold: the ``percentile`` (95) of the gridness
  of shuffled maps, pooled over the layer's units (``threshold: layer``, Langston et al. 2010's
  population threshold) or per unit (``threshold: unit``). A shuffle circularly shifts the
  unit's rate along a seeded rat-like walk of ``shuffle_duration_s`` (default 600 s, in 10 walks
  of the study's trajectory statistics) by a random lag ≥ ``shuffle_min_shift_s`` (20 s) and
  re-bins it: m'(b) = mean of r(x_{t+s}) over the times t with x_t in bin b. This is the
  spike-train shift of real recordings, applied to a rate map. (A 2-D circular roll of the map
  itself would keep its lattice and is not used.) The same walk and lags serve every unit.
* ``module`` — grid units clustered by spacing within the layer
  (:mod:`~predictivity.studies.mec.modules`). Units whose spacing exceeds ``module_max_spacing``
  (default 0.5) of the arena's side — fewer than two periods across it, where a broad irregular
  field can pass for a lattice — keep ``is_grid`` but join no module.

And per layer, for its largest module (≥ ``topology.min_units`` units), the toroidal-topology
evidence of :func:`~predictivity.studies.mec.topology.torus_evidence`.

Bad maps: a layer whose maps are smaller than ``min_bins`` × ``min_bins`` (default 8×8), a map
with fewer than ``min_valid_fraction`` of its bins finite, or one without spatial variance gets a
NaN row with the reason in the ``reason`` column (and one warning line per layer): a study is not
stopped by one silent unit. NaN bins (unvisited positions) are masked in the autocorrelogram and
in the shuffles, never filled.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from predictivity.errors import InputError
from predictivity.studies.mec.arena import bin_index
from predictivity.studies.mec.grid import (
    ellipse_corrected,
    ellipse_fit,
    gridness_scores,
    inner_peaks,
    pearson_autocorrelogram,
    spacing_orientation,
)
from predictivity.studies.mec.modules import find_modules, module_table
from predictivity.studies.mec.topology import torus_evidence
from predictivity.studies.mec.validate import as_choice, as_float, as_int
from predictivity.studies.mec.walks import random_walks

log = logging.getLogger(__name__)

#: Columns of the per-unit table, in order.
UNIT_COLUMNS = [
    "layer",
    "unit",
    "name",
    "gridness",
    "gridness_corrected",
    "spacing",
    "orientation",
    "ellipse_aspect",
    "gridness_threshold",
    "is_grid",
    "module",
    "reason",
]

#: Columns of the per-layer topology table, in order.
TOPOLOGY_COLUMNS = [
    "layer",
    "module",
    "module_spacing",
    "n_units",
    "n_points",
    "h0",
    "h1",
    "h1_second",
    "h2",
    "h0_threshold",
    "h1_threshold",
    "h2_threshold",
    "betti_0",
    "betti_1",
    "betti_2",
    "torus",
]

_TOPOLOGY_DTYPES = {
    "layer": str,
    "module": "int64",
    "module_spacing": float,
    "n_units": "int64",
    "n_points": "int64",
    **{c: float for c in TOPOLOGY_COLUMNS[5:12]},
    **{c: "int64" for c in ("betti_0", "betti_1", "betti_2")},
    "torus": bool,
}

#: Defaults of the ``topology`` options (the schema's ``criteria.topology``).
TOPOLOGY_DEFAULTS = {
    "enabled": True,
    "min_units": 10,
    "n_components": 6,
    "max_points": 150,
    "n_shuffles": 3,
    "prominence": 0.75,
    "seed": 0,
}


def maps_from_columns(values, ix, iy) -> np.ndarray:
    """(P, K) columns over bins → (K, ny, nx) maps indexed ``[iy, ix]`` (bins absent from the
    stimuli stay NaN)."""
    V = np.asarray(values, dtype=np.float64)
    ix = np.asarray(ix, dtype=np.int64)
    iy = np.asarray(iy, dtype=np.int64)
    ny, nx = int(iy.max()) + 1, int(ix.max()) + 1
    maps = np.full((V.shape[1], ny, nx), np.nan)
    maps[:, iy, ix] = V.T
    return maps


def map_problems(maps, min_bins: int = 8, min_valid_fraction: float = 0.5) -> np.ndarray:
    """Why each map cannot be scored ('' when it can): too small, too few finite bins, or no
    spatial variance."""
    K, ny, nx = maps.shape
    reasons = np.full(K, "", dtype=object)
    if ny < min_bins or nx < min_bins:
        reasons[:] = f"map of {ny}×{nx} bins is smaller than {min_bins}×{min_bins}"
        return reasons
    valid = np.isfinite(maps)
    frac = valid.mean(axis=(1, 2))
    with np.errstate(invalid="ignore"):
        spread = np.nanmax(np.where(valid, maps, np.nan), axis=(1, 2)) - np.nanmin(
            np.where(valid, maps, np.nan), axis=(1, 2)
        )
    for i in range(K):
        if frac[i] < min_valid_fraction:
            reasons[i] = f"only {frac[i]:.0%} of bins finite (< {min_valid_fraction:.0%})"
        elif not spread[i] > 1e-12 * max(1.0, np.nanmax(np.abs(maps[i]))):
            reasons[i] = "no spatial variance (constant map)"
    return reasons


def grid_measures(
    maps,
    bin_size: float,
    min_overlap: int = 20,
    central_threshold: float = 0.1,
    outer_fraction: float = 0.8,
    window: int = 3,
    peak_min_angle: float = 15.0,
) -> pd.DataFrame:
    """Gridness, ellipse-corrected gridness, spacing (× ``bin_size``), orientation and ellipse
    aspect of each map (K, ny, nx); no checks (see :func:`map_problems`)."""
    acs = pearson_autocorrelogram(maps, min_overlap=min_overlap)
    opts = dict(central_threshold=central_threshold, outer_fraction=outer_fraction, window=window)
    g, k_in = gridness_scores(acs, **opts)
    K = len(g)
    spacing = np.full(K, np.nan)
    orientation = np.full(K, np.nan)
    aspect = np.full(K, np.nan)
    corrected = []
    which = []
    for i in range(K):
        if k_in[i] < 1:
            continue
        peaks = inner_peaks(acs[i], int(k_in[i]), min_angle=peak_min_angle)
        spacing[i], orientation[i] = spacing_orientation(peaks)
        fit = ellipse_fit(peaks)
        if fit is not None:
            aspect[i] = fit[0] / fit[1]
            corrected.append(ellipse_corrected(acs[i], *fit))
            which.append(i)
    g_corr = g.copy()
    if which:
        gc, _ = gridness_scores(np.stack(corrected), **opts)
        idx = np.array(which)
        g_corr[idx] = np.fmax(g[idx], gc)
    return pd.DataFrame(
        {
            "gridness": g,
            "gridness_corrected": g_corr,
            "spacing": spacing * bin_size,
            "orientation": orientation,
            "ellipse_aspect": aspect,
        }
    )


def shuffle_walk(
    box_width: float,
    n_bins: int,
    duration_s: float = 600.0,
    seed: int = 0,
    trajectory_options: dict | None = None,
    n_walks: int = 10,
) -> np.ndarray:
    """Bin sequence (row-major arena order) of ``n_walks`` seeded rat-like walks of
    ``duration_s / n_walks`` seconds each (the study's trajectory statistics), concatenated."""
    opts = dict(trajectory_options or {})
    dt = float(opts.get("dt", 0.02))
    n_steps = max(1, int(round(duration_s / dt / n_walks)))
    walks = random_walks(n_walks, n_steps, box_width, np.random.default_rng(seed), **opts)
    return bin_index(walks["positions"][:, 1:], box_width, n_bins).reshape(-1)


def shuffle_operators(walk, n_bins_total: int, n_shuffles: int, min_shift: int, rng) -> list:
    """Sparse (bins × bins) count matrices C_s[b, b'] = #{t : x_t = b, x_{t+s} = b'} for
    ``n_shuffles`` circular lags s drawn uniformly from [min_shift, T − min_shift]."""
    from scipy.sparse import coo_matrix

    walk = np.asarray(walk, dtype=np.int64)
    T = walk.size
    lo, hi = min_shift, T - min_shift
    if hi < lo:
        lo, hi = 1, max(T - 1, 1)
    shifts = rng.integers(lo, hi + 1, size=n_shuffles)
    ops = []
    ones = np.ones(T)
    for s in shifts:
        ops.append(
            coo_matrix(
                (ones, (walk, np.roll(walk, -int(s)))), shape=(n_bins_total, n_bins_total)
            ).tocsr()
        )
    return ops


def shuffled_maps(maps, op) -> np.ndarray:
    """Shuffled maps: m'(b) = Σ_b' C[b, b'] r(b') / Σ_b' C[b, b'] over finite r(b') (NaN where
    the walk never reaches b, or only reaches NaN bins from it)."""
    K, ny, nx = maps.shape
    flat = maps.reshape(K, -1).T
    v = np.isfinite(flat)
    num = op @ np.where(v, flat, 0.0)
    den = op @ v.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / den, np.nan)
    return out.T.reshape(K, ny, nx)


def unit_criteria(
    layers: dict,
    stimuli: pd.DataFrame,
    box_width: float,
    trajectory_options: dict | None = None,
    names: dict | None = None,
    n_shuffles: int = 10,
    percentile: float = 95.0,
    threshold: str = "layer",
    seed: int = 0,
    shuffle_duration_s: float = 600.0,
    shuffle_min_shift_s: float = 20.0,
    min_bins: int = 8,
    min_valid_fraction: float = 0.5,
    min_overlap: int = 20,
    central_threshold: float = 0.1,
    outer_fraction: float = 0.8,
    window: int = 3,
    peak_min_angle: float = 15.0,
    module_gap_ratio: float = 1.2,
    module_min_size: int = 3,
    module_max_spacing: float = 0.5,
    topology: dict | None = None,
    *,
    config_key: str = "studies.mec.criteria",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Grid criteria of every unit of every layer, and each layer's torus evidence.

    Parameters
    ----------
    layers : layer name → (P, K) rate maps, rows = the stimuli's bins (an activations file, or
        ``{"cells": recordings["mean"]}``).
    stimuli : the study's stimuli table (``ix``, ``iy`` bin indices, as written by the stimuli
        stage).
    box_width : arena side (m); the bin side is ``box_width / n_bins``.
    trajectory_options : the study's ``trajectories`` options (the shuffles' walk).
    names : optional layer name → unit names (e.g. the recordings' target names).
    n_shuffles … module_min_size : the study's ``criteria`` options (config/README.md; the
        module docstring and :func:`~predictivity.studies.mec.grid.gridness_scores` define
        them).
    topology : the ``criteria.topology`` options (defaults :data:`TOPOLOGY_DEFAULTS`).

    Returns
    -------
    units : one row per unit, :data:`UNIT_COLUMNS` (``unit`` = column index in the layer;
        ``module`` Int64, NA unless the unit is a grid unit in a module; ``is_grid`` boolean, NA
        for unscorable maps; spacing in metres, orientation in degrees).
    topology : one row per layer with a module of ≥ ``topology.min_units`` units,
        :data:`TOPOLOGY_COLUMNS` (its largest module; ties → the finer one).
    """
    k = config_key
    n_shuffles = as_int(n_shuffles, f"{k}.n_shuffles", minimum=1)
    percentile = as_float(percentile, f"{k}.percentile", minimum=0.0, maximum=100.0)
    threshold = as_choice(threshold, f"{k}.threshold", ("layer", "unit"))
    seed = as_int(seed, f"{k}.seed", minimum=0)
    duration = as_float(shuffle_duration_s, f"{k}.shuffle_duration_s", minimum=0.0, strict=True)
    min_shift_s = as_float(shuffle_min_shift_s, f"{k}.shuffle_min_shift_s", minimum=0.0)
    min_bins = as_int(min_bins, f"{k}.min_bins", minimum=4)
    min_valid_fraction = as_float(
        min_valid_fraction, f"{k}.min_valid_fraction", minimum=0.0, maximum=1.0
    )
    measure_opts = dict(
        min_overlap=as_int(min_overlap, f"{k}.min_overlap", minimum=2),
        central_threshold=as_float(central_threshold, f"{k}.central_threshold", maximum=1.0),
        outer_fraction=as_float(
            outer_fraction, f"{k}.outer_fraction", minimum=0.0, strict=True, maximum=1.0
        ),
        window=as_int(window, f"{k}.window", minimum=1),
        peak_min_angle=as_float(peak_min_angle, f"{k}.peak_min_angle", minimum=0.0, maximum=60.0),
    )
    max_spacing = as_float(module_max_spacing, f"{k}.module_max_spacing", minimum=0.0, strict=True)
    topo = dict(TOPOLOGY_DEFAULTS)
    topo.update(topology or {})
    unknown = set(topo) - set(TOPOLOGY_DEFAULTS)
    if unknown:
        raise InputError(
            f"{k}.topology",
            f"unknown option(s) {sorted(unknown)}.",
            f"use {', '.join(TOPOLOGY_DEFAULTS)}.",
        )
    for col in ("ix", "iy"):
        if col not in stimuli.columns:
            raise InputError(
                "stimuli table",
                f"has no column {col!r}: not the stimuli of a mec study.",
                "run the criteria on a mec study's results/stimuli/{study}.tsv.",
            )
    try:
        ix = stimuli["ix"].astype(np.int64).to_numpy()
        iy = stimuli["iy"].astype(np.int64).to_numpy()
    except (TypeError, ValueError):
        raise InputError(
            "stimuli table",
            "columns ix, iy are not whole numbers.",
            "use the stimuli written by the mec stimuli stage.",
        ) from None
    n_bins = int(max(ix.max(), iy.max())) + 1
    bin_size = float(box_width) / n_bins
    dt = float((trajectory_options or {}).get("dt", 0.02))
    walk = None
    rng = np.random.default_rng(seed)
    unit_tables, topo_rows = [], []
    for li, (layer, values) in enumerate(layers.items()):
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[0] != len(stimuli):
            raise InputError(
                f"layer {layer}",
                f"has shape {values.shape}, expected ({len(stimuli)} bins, units).",
                "pass the rate maps of this study's bins (stimuli × units).",
            )
        maps = maps_from_columns(values, ix, iy)
        K = maps.shape[0]
        reasons = map_problems(maps, min_bins, min_valid_fraction)
        ok = np.flatnonzero(reasons == "")
        table = pd.DataFrame(
            {
                "layer": layer,
                "unit": np.arange(K),
                "name": (
                    [str(n) for n in names[layer]]
                    if names and layer in names
                    else [str(u) for u in range(K)]
                ),
            }
        )
        for col in ("gridness", "gridness_corrected", "spacing", "orientation", "ellipse_aspect"):
            table[col] = np.nan
        table["gridness_threshold"] = np.nan
        table["is_grid"] = pd.array([pd.NA] * K, dtype="boolean")
        table["module"] = pd.array([pd.NA] * K, dtype="Int64")
        table["reason"] = reasons.astype(str)
        if len(ok) < K:
            counts = pd.Series(reasons[reasons != ""]).value_counts()
            log.warning(
                "layer %s: %d of %d maps not scored (NaN rows): %s",
                layer,
                K - len(ok),
                K,
                "; ".join(f"{n}× {r}" for r, n in counts.items()),
            )
        if len(ok):
            measured = grid_measures(maps[ok], bin_size, **measure_opts)
            for col in measured.columns:
                table.loc[ok, col] = measured[col].to_numpy()
            if walk is None:
                walk = shuffle_walk(box_width, n_bins, duration, seed, trajectory_options)
                min_shift = int(round(min_shift_s / dt))
                ops = shuffle_operators(walk, n_bins * n_bins, n_shuffles, min_shift, rng)
                # walk bins are row-major over the full n_bins × n_bins arena
            full = np.full((len(ok), n_bins, n_bins), np.nan)
            full[:, : maps.shape[1], : maps.shape[2]] = maps[ok]
            shuffled = np.full((len(ok), n_shuffles), np.nan)
            for j, op in enumerate(ops):
                sm = shuffled_maps(full, op)[:, : maps.shape[1], : maps.shape[2]]
                sm[~np.isfinite(maps[ok])] = np.nan  # same mask as the real map
                acs = pearson_autocorrelogram(sm, min_overlap=measure_opts["min_overlap"])
                shuffled[:, j], _ = gridness_scores(
                    acs,
                    central_threshold=measure_opts["central_threshold"],
                    outer_fraction=measure_opts["outer_fraction"],
                    window=measure_opts["window"],
                )
            with np.errstate(invalid="ignore"):
                if threshold == "layer":
                    pooled = shuffled[np.isfinite(shuffled)]
                    thr = np.full(
                        len(ok), np.percentile(pooled, percentile) if pooled.size else np.nan
                    )
                else:
                    thr = np.array(
                        [
                            np.percentile(r[np.isfinite(r)], percentile)
                            if np.isfinite(r).any()
                            else np.nan
                            for r in shuffled
                        ]
                    )
            g = table.loc[ok, "gridness"].to_numpy(dtype=float)
            table.loc[ok, "gridness_threshold"] = thr
            table.loc[ok, "is_grid"] = np.isfinite(g) & np.isfinite(thr) & (g > thr)
            grid_units = ok[np.asarray(table.loc[ok, "is_grid"], dtype=bool)]
            sp = table.loc[grid_units, "spacing"].to_numpy(dtype=float)
            labels = find_modules(
                np.where(sp <= max_spacing * box_width, sp, np.nan),
                module_gap_ratio,
                module_min_size,
                config_key=k,
            )
            table.loc[grid_units, "module"] = np.where(labels >= 0, labels, -1)
            table.loc[table["module"] == -1, "module"] = pd.NA
            log.info(
                "layer %s: %d units, %d grid (threshold %.3f), %d module(s)",
                layer,
                K,
                len(grid_units),
                float(np.nanmedian(thr)) if np.isfinite(thr).any() else np.nan,
                int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0,
            )
            if topo["enabled"]:
                row = _layer_topology(table, values, layer, topo, f"{k}.topology", li)
                if row is not None:
                    topo_rows.append(row)
        unit_tables.append(table)
    units = pd.concat(unit_tables, ignore_index=True)[UNIT_COLUMNS]
    topology_table = pd.DataFrame(topo_rows, columns=TOPOLOGY_COLUMNS).astype(_TOPOLOGY_DTYPES)
    return units, topology_table


def _layer_topology(table, values, layer, topo, key, layer_index):
    """Torus evidence of a layer's largest module (None when it has none of enough units)."""
    mods = table.dropna(subset=["module"])
    if mods.empty:
        return None
    modules = module_table(
        mods["module"].to_numpy(dtype=int), mods["spacing"].to_numpy(dtype=float)
    )
    modules = modules[modules["n_units"] >= as_int(topo["min_units"], f"{key}.min_units", 3)]
    if modules.empty:
        return None
    best = modules.sort_values(["n_units", "spacing"], ascending=[False, True]).iloc[0]
    cols = mods.loc[mods["module"] == best["module"], "unit"].to_numpy(dtype=int)
    evidence = torus_evidence(
        values[:, cols],
        n_components=topo["n_components"],
        max_points=topo["max_points"],
        n_shuffles=topo["n_shuffles"],
        seed=int(topo["seed"]) + layer_index,
        prominence=topo["prominence"],
        config_key=key,
    )
    log.info(
        "layer %s module %d (%d units): lifetimes H0 %.3f H1 %.3f/%.3f H2 %.3f; Betti (%s, %s, %s)%s",
        layer,
        int(best["module"]),
        len(cols),
        evidence["h0"],
        evidence["h1"],
        evidence["h1_second"],
        evidence["h2"],
        evidence["betti_0"],
        evidence["betti_1"],
        evidence["betti_2"],
        " — a torus" if evidence["torus"] else "",
    )
    return {
        "layer": layer,
        "module": int(best["module"]),
        "module_spacing": float(best["spacing"]),
        **{c: evidence[c] for c in TOPOLOGY_COLUMNS[3:]},
    }
