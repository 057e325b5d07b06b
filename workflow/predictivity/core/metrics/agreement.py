"""Do the measures rank layers alike? Kendall τ between the layer rankings of pairs of measures.

Pure functions for the aggregate step (``docs/metrics.md#agreement``): a long table in, a table
out. Kept apart from :mod:`predictivity.core.metrics.measures`, so the aggregate step does not
rerun when a measure's code changes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import scipy.stats

AGREEMENT_COLUMNS = [
    "study",
    "metric_a",
    "metric_b",
    "tau",
    "p_value",
    "n_layers",
    "n_models",
    "tau_boot_low",
    "tau_boot_high",
    "n_boot",
]


def _tau(a: np.ndarray, b: np.ndarray) -> tuple[float, float, int]:
    """Kendall τ-b over the entries finite in both (NaN below 3 or for a constant side)."""
    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    if n < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return np.nan, np.nan, n
    res = scipy.stats.kendalltau(a[ok], b[ok])
    return float(res.statistic), float(res.pvalue), n


def weighted_tau_b(a: np.ndarray, b: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Kendall τ-b of the samples in which row i of (a, b) appears ``counts[r, i]`` times, for
    every row r of ``counts`` (n_resamples × n) at once; rows where a or b is not finite are left
    out. With s^a_ij = sign(a_i − a_j), over the pairs of the resample:

        τ_b = Σ s^a s^b / √(Σ (s^a)² · Σ (s^b)²) = cᵀ(S^a∘S^b)c / √(cᵀ|S^a|c · cᵀ|S^b|c),

    which is (concordant − discordant)/√((pairs − ties in a)(pairs − ties in b)), scipy's τ-b
    (copies of one row are pairs tied in both). NaN where a side has no untied pair."""
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = np.where(ok, a, 0.0), np.where(ok, b, 0.0)
    Sa = np.sign(a[:, None] - a[None, :]) * (ok[:, None] & ok[None, :])
    Sb = np.sign(b[:, None] - b[None, :]) * (ok[:, None] & ok[None, :])
    C = np.asarray(counts, dtype=np.float64)
    num = np.einsum("ri,ij,rj->r", C, Sa * Sb, C)
    den = np.einsum("ri,ij,rj->r", C, np.abs(Sa), C) * np.einsum("ri,ij,rj->r", C, np.abs(Sb), C)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.sqrt(den), np.nan)


def rank_agreement(
    table: pd.DataFrame,
    metrics: list[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    study: str = "study",
    model: str = "model",
    layer: str = "layer",
    metric: str = "metric",
    score: str = "score",
) -> pd.DataFrame:
    """Kendall τ between the layer rankings of every pair of measures, per study.

    ``table`` is long: one row per (study, model, layer, metric) with a ``score`` (column names
    configurable; e.g. the metrics stage's tables concatenated with a ``study`` and ``model``
    column, plus the ridge ``r2`` as one more metric). Within a study, the units ranked are the
    layers of all its models; for each pair of metrics (a, b) (in the order of ``metrics``,
    default: order of first appearance), τ = ``scipy.stats.kendalltau`` (τ-b, ties allowed) of
    the two scores over the layers where both are finite, and its ``p_value`` — which treats
    layers as independent, which layers of one model are not; read it as descriptive.

    ``tau_boot_low`` / ``tau_boot_high``: a percentile bootstrap interval at nominal level
    ``level`` over models — each of ``n_boot`` resamples draws the study's models with
    replacement (all layers of a drawn model come with it; the same resamples for every pair,
    ``numpy.random.default_rng(seed)`` restarted for each study) and recomputes τ; the interval is
    the (1 − level)/2 and (1 + level)/2 quantiles of the finite resampled τ. Its coverage was not
    calibrated (few models per study, layers nested in models): it is a spread, not a
    guaranteed 95 % interval. NaN with fewer than 2 models or ``n_boot`` = 0.

    Returns one row per study × pair: ``study``, ``metric_a``, ``metric_b``, ``tau``,
    ``p_value``, ``n_layers`` (layers with both scores finite), ``n_models``, ``tau_boot_low``,
    ``tau_boot_high``, ``n_boot`` (resamples with a finite τ).
    """
    missing = [c for c in (study, model, layer, metric, score) if c not in table.columns]
    if missing:
        raise ValueError(f"rank_agreement: the table lacks the column(s) {missing}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if metrics is None:
        metrics = list(dict.fromkeys(table[metric]))
    rows = []
    for study_name, sub in table.groupby(study, sort=False):
        wide = sub.pivot(index=[model, layer], columns=metric, values=score)
        present = [m for m in metrics if m in wide.columns]
        models = wide.index.get_level_values(0).to_numpy()
        model_names = list(dict.fromkeys(models))
        model_of_row = np.array([model_names.index(m) for m in models])
        values = {m: wide[m].to_numpy(dtype=np.float64) for m in present}
        counts = None
        if n_boot > 0 and len(model_names) >= 2:
            rng = np.random.default_rng(seed)
            draws = rng.integers(0, len(model_names), size=(n_boot, len(model_names)))
            per_model = np.stack([np.bincount(d, minlength=len(model_names)) for d in draws])
            counts = per_model[:, model_of_row]  # copies of each layer in each resample
        for a, b in itertools.combinations(present, 2):
            tau, p, n = _tau(values[a], values[b])
            low = high = np.nan
            n_ok = 0
            if counts is not None:
                taus = weighted_tau_b(values[a], values[b], counts)
                ok = np.isfinite(taus)
                n_ok = int(ok.sum())
                if n_ok:
                    low, high = np.quantile(taus[ok], [(1 - level) / 2, (1 + level) / 2])
            rows.append(
                {
                    "study": study_name,
                    "metric_a": a,
                    "metric_b": b,
                    "tau": tau,
                    "p_value": p,
                    "n_layers": n,
                    "n_models": len(model_names),
                    "tau_boot_low": float(low),
                    "tau_boot_high": float(high),
                    "n_boot": n_ok,
                }
            )
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)
