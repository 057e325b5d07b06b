"""The summary of the grid-cell criteria of ``mec`` studies (``results/tables/mec_criteria.parquet``).

Pure: DataFrames in, a DataFrame out. Input: the per-unit tables
``results/mec_criteria/{study}/{model}.parquet`` (and ``recordings.parquet``) and the per-layer
topology tables ``….topology.parquet`` written by ``scripts/mec_criteria.py``, each with
``study`` and ``model`` columns added by the caller (``model`` = ``recordings`` for the recorded
cells, whose single "layer" is ``cells``). The criteria themselves are defined in
``predictivity/studies/mec/criteria.py`` (docs/mec_criteria.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Columns of the summary table, in order.
SUMMARY_COLUMNS = [
    "study",
    "model",
    "layer",
    "n_units",
    "n_scored",
    "n_grid",
    "fraction_grid",
    "gridness_median",
    "gridness_q25",
    "gridness_q75",
    "gridness_q90",
    "gridness_corrected_median",
    "gridness_threshold",
    "n_modules",
    "module_sizes",
    "module_spacings",
    "period_ratios",
    "period_ratio_median",
    "torus_module",
    "h0",
    "h1",
    "h1_second",
    "h2",
    "betti",
    "torus",
]


def _layer_summary(units: pd.DataFrame) -> dict:
    g = units["gridness"].to_numpy(dtype=float)
    scored = np.isfinite(g)
    is_grid = units["is_grid"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    n_scored = int(scored.sum())
    gs = g[scored]
    q = np.quantile(gs, [0.25, 0.5, 0.75, 0.9]) if gs.size else np.full(4, np.nan)
    gc = units["gridness_corrected"].to_numpy(dtype=float)
    gc = gc[np.isfinite(gc)]
    mods = units.dropna(subset=["module"])
    spacings, sizes = [], []
    for _, grp in mods.groupby("module", sort=True):
        spacings.append(float(np.median(grp["spacing"].to_numpy(dtype=float))))
        sizes.append(int(len(grp)))
    ratios = [b / a for a, b in zip(spacings[:-1], spacings[1:])]
    thr = units["gridness_threshold"].to_numpy(dtype=float)
    thr = thr[np.isfinite(thr)]
    return {
        "n_units": int(len(units)),
        "n_scored": n_scored,
        "n_grid": int(is_grid.sum()),
        "fraction_grid": float(is_grid.sum() / n_scored) if n_scored else np.nan,
        "gridness_median": float(q[1]),
        "gridness_q25": float(q[0]),
        "gridness_q75": float(q[2]),
        "gridness_q90": float(q[3]),
        "gridness_corrected_median": float(np.median(gc)) if gc.size else np.nan,
        "gridness_threshold": float(np.median(thr)) if thr.size else np.nan,
        "n_modules": len(spacings),
        "module_sizes": sizes,
        "module_spacings": spacings,
        "period_ratios": ratios,
        "period_ratio_median": float(np.median(ratios)) if ratios else np.nan,
    }


def mec_criteria_summary(units: pd.DataFrame, topology: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (study, model, layer) of the grid criteria.

    Parameters
    ----------
    units : per-unit rows (``study``, ``model``, ``layer``, ``gridness``, ``gridness_corrected``,
        ``spacing``, ``gridness_threshold``, ``is_grid``, ``module``, …), several studies and
        models concatenated.
    topology : per-layer torus evidence (``study``, ``model``, ``layer``, ``module``, ``h0``,
        ``h1``, ``h1_second``, ``h2``, ``betti_0..2``, ``torus``), or None.

    Returns
    -------
    :data:`SUMMARY_COLUMNS`: unit counts; ``fraction_grid`` = grid units / scored units (NaN
    when none is scored); gridness quantiles over scored units; the median shuffle threshold;
    ``n_modules`` and per module (finest first) ``module_sizes``, ``module_spacings`` (median
    spacing, m) and ``period_ratios`` (consecutive spacing ratios, lists) with their median;
    for the layer's largest module, ``torus_module``, the longest lifetimes ``h0``, ``h1``,
    ``h1_second``, ``h2``, ``betti`` (e.g. ``"1,2,1"``) and ``torus`` (boolean; NA where no
    module was large enough to test).
    """
    rows = []
    keys = ["study", "model", "layer"]
    for key, grp in units.groupby(keys, sort=False):
        rows.append({**dict(zip(keys, key)), **_layer_summary(grp)})
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS[: len(SUMMARY_COLUMNS) - 7])
    topo_cols = ["torus_module", "h0", "h1", "h1_second", "h2", "betti", "torus"]
    if topology is not None and len(topology):
        t = topology.copy()
        t["torus_module"] = t["module"].astype("Int64")
        t["betti"] = [
            ",".join(str(int(b)) for b in r) if np.all(np.isfinite(r)) else pd.NA
            for r in t[["betti_0", "betti_1", "betti_2"]].to_numpy(dtype=float)
        ]
        t["torus"] = t["torus"].astype("boolean")
        out = out.merge(t[keys + topo_cols], on=keys, how="left")
    else:
        for c in topo_cols:
            out[c] = np.nan if c in ("h0", "h1", "h1_second", "h2") else pd.NA
    out["torus_module"] = out["torus_module"].astype("Int64")
    out["torus"] = out["torus"].astype("boolean")
    for c in ("h0", "h1", "h1_second", "h2"):
        out[c] = out[c].astype(float)
    return out[SUMMARY_COLUMNS].reset_index(drop=True)


def model_criteria(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per (study, model): each criterion at the model's most grid-like layer —
    ``fraction_grid``, ``gridness_median``, ``gridness_q90`` and ``n_modules`` (max over layers)
    and ``torus`` (any layer). The recordings (``model == "recordings"``) are kept."""
    g = summary.groupby(["study", "model"], sort=False)
    out = g.agg(
        fraction_grid=("fraction_grid", "max"),
        gridness_median=("gridness_median", "max"),
        gridness_q90=("gridness_q90", "max"),
        n_modules=("n_modules", "max"),
    )
    out["torus"] = g["torus"].agg(lambda s: bool(s.fillna(False).any()))
    return out.reset_index()
