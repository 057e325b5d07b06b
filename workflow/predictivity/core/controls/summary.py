"""Per-layer control columns for the layers table, and per-study shares of variance explained by
the spectrum/alignment decomposition (``docs/controls.md``). Pure: DataFrames in, DataFrames out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["LAYER_CONTROL_COLUMNS", "layer_control_columns", "decomposition_shares"]

#: Columns :func:`layer_control_columns` returns besides the layer keys.
LAYER_CONTROL_COLUMNS = [
    "r2_reshape_min",
    "r2_reshape_max",
    "gamma_at_max",
    "r2_null_mean",
    "r2_null_sd",
    "r2_null_z",
    "pr_inflated",
    "r2_inflated",
]

MIN_LAYERS = 3


def _keys(df: pd.DataFrame) -> list[str]:
    return [c for c in ("study", "model", "layer") if c in df.columns]


def layer_control_columns(controls: pd.DataFrame) -> pd.DataFrame:
    """One row per layer of a controls table (``results/controls/{study}/{model}.parquet``, or
    several concatenated with ``study``/``model`` columns), keyed by those columns and ``layer``:

    * ``r2_reshape_min``, ``r2_reshape_max``: the smallest and largest R² over the reshaping
      exponents γ; ``gamma_at_max``: the γ of the largest (the smallest such γ on ties). It is
      chosen on the test folds — exactly what a score maximiser would do — so
      ``r2_reshape_max`` is an optimistic score, not a cross-validated one. Rows with
      ``flat_cv`` (a whitened layer of full rank: every alpha has the same LOO error, so the
      score is set by the tie rule, not by the data) are left out.
    * ``r2_null_mean``, ``r2_null_sd`` (ddof = 1; NaN with fewer than 2 draws): R² of the
      random-eigenvector null over its draws; ``r2_null_z`` = (layer R² − mean)/sd.
    * ``pr_inflated``, ``r2_inflated``: PR and R² with the noise units appended.

    Columns of a control that was not run (``n_null: 0``, ``noise_units: 0``) are NaN.
    """
    keys = _keys(controls)
    if "layer" not in keys:
        raise ValueError("the controls table has no `layer` column")
    rows = []
    for key, g in controls.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        own = g[g["control"] == "layer"]
        r2_own = float(own["r2"].iloc[0]) if len(own) else np.nan
        rs = g[g["control"] == "reshape"].sort_values("gamma", kind="stable")
        if "flat_cv" in rs.columns:
            rs = rs[~rs["flat_cv"].fillna(False).astype(bool)]
        r2 = rs["r2"].to_numpy(dtype=float)
        ok = np.isfinite(r2)
        if ok.any():
            i = int(np.flatnonzero(ok)[np.argmax(r2[ok])])
            rmin, rmax, gmax = float(r2[ok].min()), float(r2[i]), float(rs["gamma"].iloc[i])
        else:
            rmin = rmax = gmax = np.nan
        nl = g.loc[g["control"] == "null", "r2"].to_numpy(dtype=float)
        nl = nl[np.isfinite(nl)]
        mean = float(nl.mean()) if nl.size else np.nan
        sd = float(nl.std(ddof=1)) if nl.size > 1 else np.nan
        z = (r2_own - mean) / sd if np.isfinite(sd) and sd > 0 else np.nan
        inf = g[g["control"] == "inflated"]
        rows.append(
            {
                **dict(zip(keys, key)),
                "r2_reshape_min": rmin,
                "r2_reshape_max": rmax,
                "gamma_at_max": gmax,
                "r2_null_mean": mean,
                "r2_null_sd": sd,
                "r2_null_z": z,
                "pr_inflated": float(inf["pr"].iloc[0]) if len(inf) else np.nan,
                "r2_inflated": float(inf["r2"].iloc[0]) if len(inf) else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=[*keys, *LAYER_CONTROL_COLUMNS])


def _share(x: np.ndarray, y: np.ndarray) -> float:
    """Squared Pearson correlation = R² of the OLS y ~ x with free intercept and slope; NaN with
    fewer than 3 finite pairs or no spread."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < MIN_LAYERS or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    r = np.corrcoef(x[ok], y[ok])[0, 1]
    return float(r * r)


def decomposition_shares(layers: pd.DataFrame, metric: str = "r2") -> pd.DataFrame:
    """Per study, the share of the across-layer variance of the empirical score ``metric``
    explained by ``theory_r2`` (``theory_r2_variance_explained``), by
    ``theory_r2_spectrum_only`` (``spectrum_only_variance_explained``) and by
    ``theory_r2_alignment_only`` (``alignment_only_variance_explained``): each the R² of the OLS
    score ~ prediction (intercept and slope free; = the squared Pearson correlation), as the fits
    table's ``theory_r2_variance_explained``. Columns absent from ``layers`` give NaN.
    """
    cols = {
        "theory_r2": "theory_r2_variance_explained",
        "theory_r2_spectrum_only": "spectrum_only_variance_explained",
        "theory_r2_alignment_only": "alignment_only_variance_explained",
    }
    rows = []
    for study, g in layers.groupby(layers["study"].astype(str), sort=True):
        y = pd.to_numeric(g[metric], errors="coerce").to_numpy(dtype=float)
        row = {"scope": study, "metric": metric}
        for src, dst in cols.items():
            x = (
                pd.to_numeric(g[src], errors="coerce").to_numpy(dtype=float)
                if src in g.columns
                else np.full(len(g), np.nan)
            )
            row[dst] = _share(x, y)
        rows.append(row)
    return pd.DataFrame(rows, columns=["scope", "metric", *cols.values()])
