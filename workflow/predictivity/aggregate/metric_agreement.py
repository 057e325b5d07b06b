"""The table ``results/tables/metric_agreement.parquet``: do the similarity measures rank layers
alike, and does each of them grow with ln PR like the ridge score? (docs/metrics.md#agreement)

Pure: the layers table in (one column per measure: ``r2`` from the regression, ``pls``, ``rsa``,
``cka``, ``procrustes``, ``cca`` from the metrics stage), a table out. The layers used are those
the fits use (:func:`predictivity.aggregate.fits.fit_rows`: input layers left out unless
``include_inputs``, identical layers counted once), so τ and the lines describe the same layers
as the fits table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from predictivity.aggregate.fits import fit_rows
from predictivity.core.metrics.agreement import AGREEMENT_COLUMNS, rank_agreement

#: The name of ln PR among the quantities ranked (rows ``metric_b == LOG_PR``).
LOG_PR = "log_pr"

#: Columns of the table, in order (:func:`metric_agreement`).
METRIC_AGREEMENT_COLUMNS = [*AGREEMENT_COLUMNS, "slope", "pearson_r"]


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of y on x and Pearson r over the finite pairs (NaN below 3 pairs or
    without spread; r NaN for a constant y)."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) <= 1e-12 * max(1.0, np.abs(x).max()):
        return np.nan, np.nan
    dx, dy = x - x.mean(), y - y.mean()
    slope = float(dx @ dy / (dx @ dx))
    r = float(np.corrcoef(x, y)[0, 1]) if np.ptp(y) > 0 else np.nan
    return slope, r


def metric_agreement(
    layers: pd.DataFrame,
    metrics: list[str],
    n_boot: int = 1000,
    seed: int = 0,
    include_inputs: bool = False,
) -> pd.DataFrame:
    """Per study, the agreement between the layer rankings of the measures, and each measure's
    line against ln PR.

    Parameters
    ----------
    layers : ``layers.parquet`` rows (``study``, ``model``, ``layer``, ``log_pr``, ``r2`` and the
        measure columns; ``is_input`` / ``duplicate_of`` when present).
    metrics : the measure columns besides ``r2`` (the config's ``metrics.enabled``); those absent
        from the table are skipped.
    n_boot, seed : resamples and seed of the model-resampling bootstrap of τ.
    include_inputs : keep input layers (``fits.include_input_layers``).

    Returns
    -------
    :data:`METRIC_AGREEMENT_COLUMNS`, one row per study × pair of quantities in the order
    ``r2``, ``metrics``…, ``log_pr``: the columns of
    :func:`predictivity.core.metrics.agreement.rank_agreement` — Kendall τ-b, its p-value (which
    treats layers as independent: descriptive), ``tau_boot_low`` / ``tau_boot_high``, the 2.5th
    and 97.5th percentiles of τ over ``n_boot`` resamples of the study's models (a spread, not a
    calibrated 95 % interval: few models, layers nested in models) — and, for the rows whose
    ``metric_b`` is ``log_pr``, ``slope`` (least-squares slope of the measure on ln PR over the
    layers where both are finite: score gained per e-fold of PR, no interval) and
    ``pearson_r`` (their layer-level correlation); NaN on the other rows.
    """
    names = ["r2", *[m for m in metrics if m != "r2"], LOG_PR]
    present = [m for m in names if m in layers.columns]
    rows = fit_rows(layers, include_inputs=include_inputs) if len(layers) else layers
    if not len(rows) or len(present) < 2:
        return pd.DataFrame(columns=METRIC_AGREEMENT_COLUMNS)
    long = rows[["study", "model", "layer", *present]].melt(
        id_vars=["study", "model", "layer"], var_name="metric", value_name="score"
    )
    long["score"] = pd.to_numeric(long["score"], errors="coerce").astype(float)
    out = rank_agreement(long, metrics=present, n_boot=n_boot, seed=seed)
    out["slope"] = np.nan
    out["pearson_r"] = np.nan
    for i in np.flatnonzero((out["metric_b"] == LOG_PR).to_numpy()):
        sub = rows[rows["study"] == out.at[i, "study"]]
        x = pd.to_numeric(sub[LOG_PR], errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(sub[out.at[i, "metric_a"]], errors="coerce").to_numpy(dtype=float)
        out.loc[i, ["slope", "pearson_r"]] = _line(x, y)
    return out[METRIC_AGREEMENT_COLUMNS].reset_index(drop=True)
