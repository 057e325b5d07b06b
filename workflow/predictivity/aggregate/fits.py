"""Aggregation (DESIGN §3.4): layer score ~ a·log(PR) + b, per study and pooled.

All functions take the layers table (``results/tables/layers.parquet``, one row per
study × model × layer; DESIGN §4) or a slice of it, and return plain dicts / DataFrames.
No file I/O.

Conventions
-----------
* ``log_pr`` is the natural log of the participation ratio; the slope is "score per e-fold of PR".
  If ``log_pr`` is absent it is computed as ``ln(pr)``.
* Rows whose score or ``log_pr`` is not finite are dropped before fitting; ``n`` counts the rows
  actually used.
* A fit with fewer than 3 usable layers, or with no spread in ``log_pr``, is not an error: every
  number is NaN and a :class:`FitWarning` is emitted (``warnings.warn`` and a logging warning).

Bootstrap (the slope's 95 % CI)
-------------------------------
``rng = numpy.random.default_rng(seed)``. The resampling unit is the **model** when the study has
≥ 2 models (all layers of a drawn model come together; DESIGN §3.4: layers of one network are not
independent), otherwise the **layer**. With ``G`` units sorted by name (models) or in table order
(layers), replicate ``b`` uses the units ``idx[b]`` of ``idx = rng.integers(0, G, size=(n_boot, G))``
(one call, so the draws depend only on ``seed``, ``n_boot`` and ``G``). The replicate's slope is the
OLS slope on the concatenated rows of the drawn units (computed from per-unit sufficient
statistics, which equals refitting on the concatenation). Replicates with no spread in ``log_pr``
(possible when all drawn units are the same single-layer model) are discarded; the CI is the 2.5th
and 97.5th percentiles (numpy's default linear interpolation) of the remaining slopes.

Pooled fits resample the same way **within each study** (stratified bootstrap): studies are taken
in sorted order and each study draws its own ``rng.integers(0, G_s, size=(n_boot, G_s))`` from the
one generator, in that order. The replicate's slope is the fixed-effects (within-study) slope
Σ_s Σ (x−x̄_s)(y−ȳ_s) / Σ_s Σ (x−x̄_s)², with study means taken over the replicate's rows.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm

log = logging.getLogger(__name__)

#: The columns of the fits table, in order (DESIGN §4 plus the equal-slopes test and n_models).
FITS_COLUMNS = [
    "scope",
    "metric",
    "slope",
    "intercept",
    "pearson_r",
    "r2",
    "n",
    "slope_ci_low",
    "slope_ci_high",
    "theory_r2_variance_explained",
    "equal_slopes_f",
    "equal_slopes_p",
    "n_models",
]

#: Metrics fitted for computed studies and for ``table`` studies.
COMPUTED_METRICS = ("r2", "pearson_r")
TABLE_METRICS = ("score",)

MIN_LAYERS = 3


class FitWarning(UserWarning):
    """A fit could not be made (too few layers, no spread in log PR); its numbers are NaN."""


def _warn(msg: str) -> None:
    log.warning(msg)
    warnings.warn(msg, FitWarning, stacklevel=3)


def _log_pr(df: pd.DataFrame) -> pd.Series:
    if "log_pr" in df.columns:
        return pd.to_numeric(df["log_pr"], errors="coerce")
    return np.log(pd.to_numeric(df["pr"], errors="coerce"))


def _clean(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows with finite metric and log_pr, as columns x, y, model, study (in table order)."""
    if metric not in df.columns:
        y = pd.Series(np.nan, index=df.index)
    else:
        y = pd.to_numeric(df[metric], errors="coerce")
    out = pd.DataFrame(
        {
            "x": _log_pr(df).astype(float).to_numpy(),
            "y": y.astype(float).to_numpy(),
            "model": (
                df["model"].astype(str).to_numpy()
                if "model" in df.columns
                else np.array(["model"] * len(df), dtype=object)
            ),
            "study": (
                df["study"].astype(str).to_numpy()
                if "study" in df.columns
                else np.array(["study"] * len(df), dtype=object)
            ),
        }
    )
    keep = np.isfinite(out["x"].to_numpy()) & np.isfinite(out["y"].to_numpy())
    return out.loc[keep].reset_index(drop=True)


def _nan_fit(n: int = 0, n_models: int = 0) -> dict:
    return {
        "slope": np.nan,
        "intercept": np.nan,
        "pearson_r": np.nan,
        "r2": np.nan,
        "n": int(n),
        "slope_ci_low": np.nan,
        "slope_ci_high": np.nan,
        "n_models": int(n_models),
    }


# --------------------------------------------------------------------------------------------
# bootstrap machinery
# --------------------------------------------------------------------------------------------


def _unit_stats(d: pd.DataFrame, by_model: bool) -> np.ndarray:
    """Per resampling unit: [n, Σx, Σy, Σxx, Σxy] (G × 5)."""
    x, y = d["x"].to_numpy(), d["y"].to_numpy()
    if by_model:
        codes, _ = pd.factorize(d["model"], sort=True)
        g = codes.max() + 1
    else:
        codes, g = np.arange(len(d)), len(d)
    stats = np.zeros((g, 5))
    for j, v in enumerate((np.ones_like(x), x, y, x * x, x * y)):
        stats[:, j] = np.bincount(codes, weights=v, minlength=g)
    return stats


def _draw_counts(rng: np.random.Generator, n_boot: int, g: int) -> np.ndarray:
    """(n_boot × g) counts: how often each unit is drawn in each replicate."""
    idx = rng.integers(0, g, size=(n_boot, g))
    counts = np.zeros((n_boot, g))
    np.add.at(counts, (np.repeat(np.arange(n_boot), g), idx.ravel()), 1.0)
    return counts


def _within_sums(agg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centred Sxx and Sxy from summed [n, Σx, Σy, Σxx, Σxy] (last axis)."""
    n, sx, sy, sxx, sxy = (agg[..., j] for j in range(5))
    with np.errstate(divide="ignore", invalid="ignore"):
        cxx = sxx - sx * sx / n
        cxy = sxy - sx * sy / n
    return cxx, cxy


def _slope_from(cxx: np.ndarray, cxy: np.ndarray, scale: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = cxy / cxx
    # a replicate with (numerically) no spread in x has no slope
    slope[~(cxx > 1e-12 * np.maximum(scale, 1.0))] = np.nan
    return slope


def bootstrap_lines(
    df: pd.DataFrame, metric: str, n_boot: int = 1000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates (intercepts, slopes) of one study's OLS ``metric ~ log_pr``.

    The resampling is the one described in the module docstring (models when ≥ 2 models, else
    layers; ``rng = default_rng(seed)``; ``idx = rng.integers(0, G, (n_boot, G))``). Degenerate
    replicates are NaN. Used by :func:`fit_study` for the CI and by the figures for the band.

    Returns two arrays of shape ``(n_boot,)``.
    """
    d = _clean(df, metric)
    if len(d) == 0:
        return np.full(n_boot, np.nan), np.full(n_boot, np.nan)
    by_model = d["model"].nunique() >= 2
    stats = _unit_stats(d, by_model)
    counts = _draw_counts(np.random.default_rng(seed), n_boot, stats.shape[0])
    agg = counts @ stats  # (n_boot, 5)
    cxx, cxy = _within_sums(agg)
    slope = _slope_from(cxx, cxy, np.full(n_boot, np.sum((d["x"] - d["x"].mean()) ** 2)))
    with np.errstate(divide="ignore", invalid="ignore"):
        intercept = (agg[:, 2] - slope * agg[:, 1]) / agg[:, 0]
    return intercept, slope


def _ci(slopes: np.ndarray) -> tuple[float, float]:
    s = slopes[np.isfinite(slopes)]
    if s.size == 0:
        return np.nan, np.nan
    lo, hi = np.percentile(s, [2.5, 97.5])
    return float(lo), float(hi)


# --------------------------------------------------------------------------------------------
# per-study fit
# --------------------------------------------------------------------------------------------


def fit_study(df: pd.DataFrame, metric: str, n_boot: int = 1000, seed: int = 0) -> dict:
    """OLS of one study's layer score on log(PR): ``metric = slope·log_pr + intercept``.

    Parameters
    ----------
    df : the layers of one study (columns ``model``, ``log_pr`` (or ``pr``) and ``metric``).
    metric : ``"r2"``, ``"pearson_r"`` or ``"score"``.
    n_boot, seed : bootstrap replicates and seed for the slope's 95 % percentile CI (module
        docstring: models are resampled when the study has ≥ 2 models, otherwise layers).

    Returns
    -------
    dict with ``slope, intercept, pearson_r, r2, n, slope_ci_low, slope_ci_high, n_models``.
    The point fit is statsmodels OLS; ``pearson_r`` is the signed correlation of score and
    log PR and ``r2`` its square (= the OLS R²). Fewer than 3 usable layers or no spread in
    log PR → all NaN and a :class:`FitWarning`.
    """
    d = _clean(df, metric)
    n, n_models = len(d), int(d["model"].nunique())
    where = f"study {str(df['study'].iloc[0])!r}" if "study" in df.columns and len(df) else "study"
    if n < MIN_LAYERS:
        _warn(
            f"{where}, metric {metric!r}: {n} layer(s) with finite {metric} and log PR; "
            f"at least {MIN_LAYERS} are needed for a fit, so its row is NaN."
        )
        return _nan_fit(n, n_models)
    x, y = d["x"].to_numpy(), d["y"].to_numpy()
    if np.ptp(x) <= 1e-12 * max(1.0, np.abs(x).max()):
        _warn(
            f"{where}, metric {metric!r}: all layers have the same log PR; "
            "no slope can be fitted, so its row is NaN."
        )
        return _nan_fit(n, n_models)
    res = sm.OLS(y, sm.add_constant(x)).fit()
    intercept, slope = (float(v) for v in res.params)
    if np.ptp(y) > 0:
        r = float(np.corrcoef(x, y)[0, 1])
    else:
        r = np.nan
    _, slopes = bootstrap_lines(df, metric, n_boot=n_boot, seed=seed)
    lo, hi = _ci(slopes)
    return {
        "slope": slope,
        "intercept": intercept,
        "pearson_r": r,
        "r2": float(r * r) if np.isfinite(r) else np.nan,
        "n": n,
        "slope_ci_low": lo,
        "slope_ci_high": hi,
        "n_models": n_models,
    }


def theory_variance_explained(df: pd.DataFrame, metric: str) -> float:
    """Share of the variance of layer scores explained by the theory's prediction ``theory_r2``.

    Defined as the R² of the OLS ``metric ~ theory_r2`` (intercept and slope free) over the rows
    where both are finite; it equals the squared Pearson correlation of the two. A free affine
    map is used rather than 1 − Σ(score − theory_r2)²/SST because ``theory_r2`` is an R² over all
    P stimuli, on another scale than a median test R² or a Pearson r: what the theory must explain
    is the ordering and spread of layers (DESIGN §3.3), not the absolute level.
    NaN when ``theory_r2`` is missing or all NaN, with fewer than 3 usable rows, or when either
    variable has no spread.
    """
    if "theory_r2" not in df.columns or metric not in df.columns:
        return np.nan
    t = pd.to_numeric(df["theory_r2"], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(df[metric], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    if ok.sum() < MIN_LAYERS or np.ptp(t[ok]) == 0 or np.ptp(y[ok]) == 0:
        return np.nan
    return float(sm.OLS(y[ok], sm.add_constant(t[ok])).fit().rsquared)


def _theory_within(df: pd.DataFrame, metric: str) -> float:
    """Pooled theory share: within-study R² of metric on theory_r2 (both demeaned per study)."""
    if "theory_r2" not in df.columns or metric not in df.columns:
        return np.nan
    d = pd.DataFrame(
        {
            "t": pd.to_numeric(df["theory_r2"], errors="coerce").to_numpy(dtype=float),
            "y": pd.to_numeric(df[metric], errors="coerce").to_numpy(dtype=float),
            "s": df["study"].astype(str).to_numpy(),
        }
    )
    d = d[np.isfinite(d["t"]) & np.isfinite(d["y"])]
    if len(d) < MIN_LAYERS:
        return np.nan
    t = d["t"] - d.groupby("s")["t"].transform("mean")
    y = d["y"] - d.groupby("s")["y"].transform("mean")
    sxx, syy, sxy = float((t * t).sum()), float((y * y).sum()), float((t * y).sum())
    if sxx <= 0 or syy <= 0:
        return np.nan
    return sxy * sxy / (sxx * syy)


# --------------------------------------------------------------------------------------------
# pooled fit
# --------------------------------------------------------------------------------------------


def fit_pooled(df: pd.DataFrame, metric: str, n_boot: int = 1000, seed: int = 0) -> dict:
    """Pooled fit with study fixed effects: ``metric ~ log_pr + C(study)`` (statsmodels formula).

    * ``slope``: the common (within-study) slope.
    * ``intercept``: the **mean of the study intercepts** (b₀ + b_s averaged over studies, each
      study counted once), i.e. the line through the average study; the reference-level
      intercept would depend on which study sorts first.
    * ``pearson_r``, ``r2``: of the within-study relation, i.e. the correlation of log PR and the
      score after subtracting each study's means from both (by Frisch–Waugh–Lovell its OLS slope
      is ``slope``); ``r2`` = ``pearson_r``².
    * ``n``: layers used; ``n_models``: distinct (study, model) pairs.
    * ``slope_ci_low/high``: stratified bootstrap, models resampled within each study (layers for
      a single-model study); see the module docstring.
    * ``equal_slopes_f``, ``equal_slopes_p``: F-test of the fixed-effects model against
      ``metric ~ log_pr * C(study)`` (one slope per study), via ``anova_lm``; NaN with one study.

    Studies with fewer than 3 usable layers or no spread in log PR are left out (each with a
    :class:`FitWarning`); if none is left, the row is NaN.
    """
    d = _clean(df, metric)
    keep = []
    for s, g in d.groupby("study", sort=True):
        if len(g) < MIN_LAYERS or np.ptp(g["x"].to_numpy()) <= 0:
            _warn(
                f"pooled fit, metric {metric!r}: study {s!r} has {len(g)} usable layer(s) "
                "or no spread in log PR; it is left out of the pooled fit."
            )
        else:
            keep.append(s)
    d = d[d["study"].isin(keep)].reset_index(drop=True)
    n_models = int(d[["study", "model"]].drop_duplicates().shape[0])
    out = _nan_fit(len(d), n_models)
    out.update(equal_slopes_f=np.nan, equal_slopes_p=np.nan)
    if len(d) < MIN_LAYERS:
        _warn(f"pooled fit, metric {metric!r}: {len(d)} usable layer(s); the row is NaN.")
        return out
    studies = sorted(keep)
    data = d.rename(columns={"study": "g"})
    fe = smf.ols("y ~ x + C(g)", data=data).fit()
    slope = float(fe.params["x"])
    # study s's intercept in the fixed-effects model is ȳ_s − slope·x̄_s (exact for OLS)
    means = data.groupby("g")[["x", "y"]].mean()
    intercept = float(np.mean(means["y"] - slope * means["x"]))
    xd = data["x"] - data.groupby("g")["x"].transform("mean")
    yd = data["y"] - data.groupby("g")["y"].transform("mean")
    sxx, syy, sxy = float((xd * xd).sum()), float((yd * yd).sum()), float((xd * yd).sum())
    r = sxy / np.sqrt(sxx * syy) if syy > 0 else np.nan

    # stratified bootstrap (module docstring)
    rng = np.random.default_rng(seed)
    cxx_tot, cxy_tot = np.zeros(n_boot), np.zeros(n_boot)
    for s in studies:
        g = data[data["g"] == s]
        stats = _unit_stats(g, by_model=g["model"].nunique() >= 2)
        counts = _draw_counts(rng, n_boot, stats.shape[0])
        cxx, cxy = _within_sums(counts @ stats)
        cxx_tot += np.nan_to_num(cxx)
        cxy_tot += np.nan_to_num(cxy)
    lo, hi = _ci(_slope_from(cxx_tot, cxy_tot, np.full(n_boot, sxx)))

    f = p = np.nan
    if len(studies) >= 2:
        full = smf.ols("y ~ x * C(g)", data=data).fit()
        if full.df_resid > 0:
            tab = anova_lm(fe, full)
            f, p = float(tab["F"].iloc[1]), float(tab["Pr(>F)"].iloc[1])
    out.update(
        slope=slope,
        intercept=intercept,
        pearson_r=float(r),
        r2=float(r * r) if np.isfinite(r) else np.nan,
        slope_ci_low=lo,
        slope_ci_high=hi,
        equal_slopes_f=f,
        equal_slopes_p=p,
    )
    return out


# --------------------------------------------------------------------------------------------
# the fits table
# --------------------------------------------------------------------------------------------


def study_metrics(study_rows: pd.DataFrame) -> tuple[str, ...]:
    """Which metrics a study is fitted on: ``("score",)`` for a ``table`` study (it has a
    ``score`` column with at least one finite value), else ``("r2", "pearson_r")``."""
    if (
        "score" in study_rows.columns
        and pd.to_numeric(study_rows["score"], errors="coerce").notna().any()
    ):
        return TABLE_METRICS
    return COMPUTED_METRICS


def fits_table(layers: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The fits table (``results/tables/fits.parquet``): one row per study × metric, then the
    pooled rows. Columns: :data:`FITS_COLUMNS`.

    * Studies appear in sorted order; computed studies get ``r2`` and ``pearson_r`` rows,
      ``table`` studies a ``score`` row (:func:`study_metrics`).
    * Pooled rows (``scope == "pooled"``): one per metric over the studies fitted on it —
      ``r2`` and ``pearson_r`` whenever there is at least one computed study, ``score`` only
      when there are ≥ 2 table studies (a single table study's pooled row would repeat it, and
      scores from different papers are pooled only with study fixed effects).
    * ``theory_r2_variance_explained``: per study :func:`theory_variance_explained`; pooled, the
      within-study version (score and theory_r2 demeaned per study), which is comparable with
      the pooled row's within-study ``r2``. NaN for table studies (no theory).
    * ``equal_slopes_f/p`` are NaN on per-study rows.
    Every bootstrap uses ``seed``, so the table is deterministic.
    """
    rows = []
    groups = {s: g for s, g in layers.groupby(layers["study"].astype(str), sort=True)}
    by_metric: dict[str, list[str]] = {}
    for s, g in groups.items():
        for m in study_metrics(g):
            by_metric.setdefault(m, []).append(s)
            fit = fit_study(g, m, n_boot=n_boot, seed=seed)
            fit.update(
                scope=s,
                metric=m,
                equal_slopes_f=np.nan,
                equal_slopes_p=np.nan,
                theory_r2_variance_explained=theory_variance_explained(g, m),
            )
            rows.append(fit)
    for m in (*COMPUTED_METRICS, *TABLE_METRICS):
        studies = by_metric.get(m, [])
        if not studies or (m in TABLE_METRICS and len(studies) < 2):
            continue
        sub = pd.concat([groups[s] for s in studies], ignore_index=True)
        fit = fit_pooled(sub, m, n_boot=n_boot, seed=seed)
        fit.update(scope="pooled", metric=m, theory_r2_variance_explained=_theory_within(sub, m))
        rows.append(fit)
    out = pd.DataFrame(rows, columns=FITS_COLUMNS)
    out["n"] = out["n"].astype("int64")
    out["n_models"] = out["n_models"].astype("int64")
    for c in FITS_COLUMNS[2:]:
        if c not in ("n", "n_models"):
            out[c] = out[c].astype(float)
    out["scope"] = out["scope"].astype(str)
    out["metric"] = out["metric"].astype(str)
    return out
