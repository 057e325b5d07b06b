"""The fits table: layer score = slope·ln(PR) + intercept, per study, per subset of networks, per
PR convention and per score, with network-level inference (docs/design.md#fits).

All functions take the layers table (``results/tables/layers.parquet``, one row per
study × model × layer) or a slice of it, and return plain dicts / DataFrames. No file I/O.

Which layers enter a fit
------------------------
* Rows whose score or ln PR is not finite are dropped; ``n`` counts the rows used.
* **Input layers** (``is_input`` true: a fixed encoding of the stimulus that the network
  receives, e.g. Resemblyzer's ``mel``, the filter bank's ``cochleagram``, the MEC networks'
  place-cell ``encoder``) are left out unless ``include_inputs=True``.
* **Identical layers are counted once.** ``duplicate_of`` (layers table) names, for a layer whose
  activations are identical to an earlier layer of the same study, that layer as
  ``"{model}/{layer}"``. In every fit the rows are reduced to the first (in table order) of each
  such class *among the networks of the fit*, so ``without:{model}`` and ``untrained`` keep a
  twin's copy when the original is not in the subset.

Rows of the table (:data:`FITS_COLUMNS`)
----------------------------------------
``scope`` × ``subset`` × ``pr_convention`` × ``metric``:

* ``scope``: a study's name, or ``pooled`` (all studies fitted on that metric, one intercept per
  study).
* ``subset`` of a study's networks: ``all``; ``trained`` / ``untrained`` (the layers table's
  ``trained`` column; networks with unknown status are in neither; a row only when at least one
  network qualifies); ``without:{model}`` (leave that network out; studies with ≥ 2 networks);
  ``model:{model}`` (that network alone: a line over its layers, no interval). Pooled:
  ``all``, ``trained``, ``untrained`` and ``without:{study}`` (leave a study out; with ≥ 3
  studies).
* ``pr_convention``: the x axis is ln of ``pr`` (centred covariance), ``pr_uncentred`` or
  ``pr_double_centred`` (every convention the layers carry; a ``table`` study only has ``pr``,
  the published table's own PR).
* ``metric``: ``r2``, ``r2_mean``, ``r2_pooled``, ``pearson_r`` for computed studies (those of
  the four that the layers table has); ``score`` for ``table`` studies.
* ``preset``: empty on the rows of that grid. A named per-paper preset
  (:mod:`predictivity.aggregate.presets`: ``tuckute2023``, ``schrimpf2021``,
  ``elmoznino_bonner``; ``fits.presets``) adds one row per scope × subset with its own score
  column as ``metric`` and its PR convention, labelled with its name.

Columns
-------
* ``slope``, ``intercept``: the fixed effects of the model the interval belongs to — the mixed
  model when ``inference == "mixed"``, the layer-level least-squares line otherwise. Pooled, the
  intercept is the mean of the study intercepts.
* ``slope_se``, ``slope_df``, ``slope_ci_low``, ``slope_ci_high``: the slope's standard error,
  the degrees of freedom of its t quantile and its 95 % interval
  (:mod:`predictivity.aggregate.inference`).
* ``inference``: ``mixed`` (REML mixed model, random intercept and slope per network),
  ``bootstrap`` (the mixed model could not be fitted; network-level cluster bootstrap) or
  ``none`` (one network, or no fit: no interval). ``inference_note``: why the mixed model was not
  used.
* ``ols_slope``, ``ols_intercept``: least squares over layers (pooled: with study intercepts,
  the intercept averaged over studies). ``pearson_r``, ``r2``: the layer-level correlation of
  score and ln PR and its square (pooled: after removing each study's means) — descriptive,
  without an interval.
* ``n``: layers used; ``n_models``: networks; ``few_networks``: fewer than 5 networks (pooled:
  ``networks − studies + 1 < 5``): the interval's coverage was measured to depart from nominal,
  or rests on too few networks (``docs/calibration.md``).
* ``theory_r2_variance_explained``: share of the variance of the layer scores tracked by the
  theory's ``theory_r2`` (:func:`theory_variance_explained`; the same for every convention).
* ``equal_slopes_p`` (pooled rows): permutation p-value that all studies share one slope
  (networks relabelled between studies); ``equal_slopes_relabellings``: relabellings evaluated
  (all of them when the test is exact).

Warnings: a fit with fewer than 3 usable layers or no spread in ln PR is not an error; its
numbers are NaN and, for the ``all`` subset of the ``pr`` convention, a :class:`FitWarning` is
emitted (``warnings.warn`` and a logging warning).

Bootstrap replicates (:func:`bootstrap_lines`)
----------------------------------------------
``rng = numpy.random.default_rng(seed)``. The resampling unit is the **model** when the study has
≥ 2 models (all layers of a drawn model come together), otherwise the **layer**. With ``G`` units
sorted by name (models) or in table order (layers), replicate ``b`` uses the units ``idx[b]`` of
``idx = rng.integers(0, G, size=(n_boot, G))`` (one call, so the draws depend only on ``seed``,
``n_boot`` and ``G``). The replicate's slope is the OLS slope on the concatenated rows of the drawn
units (computed from per-unit sufficient statistics, which equals refitting on the
concatenation). Replicates with no spread in ln PR are NaN. Pooled fits resample the same way
**within each study** (stratified): studies in sorted order, each drawing its own
``rng.integers(0, G_s, size=(n_boot, G_s))`` from the one generator; the replicate's slope is the
within-study slope Σ_s Σ (x−x̄_s)(y−ȳ_s) / Σ_s Σ (x−x̄_s)².
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf

from predictivity.aggregate.inference import (
    MIN_CALIBRATED_NETWORKS,
    bootstrap_interval,
    equal_slopes_test,
    mixed_slope,
)
from predictivity.aggregate.presets import PRESETS

log = logging.getLogger(__name__)

#: The columns of the fits table, in order (module docstring).
FITS_COLUMNS = [
    "scope",
    "subset",
    "pr_convention",
    "metric",
    "preset",
    "slope",
    "intercept",
    "slope_se",
    "slope_df",
    "slope_ci_low",
    "slope_ci_high",
    "inference",
    "inference_note",
    "ols_slope",
    "ols_intercept",
    "pearson_r",
    "r2",
    "n",
    "n_models",
    "few_networks",
    "theory_r2_variance_explained",
    "equal_slopes_p",
    "equal_slopes_relabellings",
]

#: Metrics fitted for computed studies (those present) and for ``table`` studies.
COMPUTED_METRICS = ("r2", "r2_mean", "r2_pooled", "pearson_r")
TABLE_METRICS = ("score",)
#: The PR conventions (columns of the layers table), in the order of the fits table.
PR_CONVENTIONS = ("pr", "pr_uncentred", "pr_double_centred")

MIN_LAYERS = 3


class FitWarning(UserWarning):
    """A fit could not be made (too few layers, no spread in log PR); its numbers are NaN."""


def _mixed_columns(mixed: dict) -> dict:
    """The fits-table columns of a fitted mixed model (:func:`mixed_slope`'s result)."""
    return dict(
        slope=mixed["slope"],
        intercept=mixed["intercept"],
        slope_se=mixed["se"],
        slope_df=mixed["df"],
        slope_ci_low=mixed["ci_low"],
        slope_ci_high=mixed["ci_high"],
        inference="mixed",
    )


def _warn(msg: str, emit: bool = True) -> None:
    if not emit:
        log.debug(msg)
        return
    log.warning(msg)
    warnings.warn(msg, FitWarning, stacklevel=3)


def _log_pr(df: pd.DataFrame, convention: str = "pr") -> pd.Series:
    if convention == "pr" and "log_pr" in df.columns:
        return pd.to_numeric(df["log_pr"], errors="coerce")
    if convention not in df.columns:
        return pd.Series(np.nan, index=df.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(pd.to_numeric(df[convention], errors="coerce"))


def _clean(df: pd.DataFrame, metric: str, convention: str = "pr") -> pd.DataFrame:
    """Rows with finite metric and ln PR, as columns x, y, model, study (in table order)."""
    if metric not in df.columns:
        y = pd.Series(np.nan, index=df.index)
    else:
        y = pd.to_numeric(df[metric], errors="coerce")
    out = pd.DataFrame(
        {
            "x": _log_pr(df, convention).astype(float).to_numpy(),
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


def _nan_fit(n: int = 0, n_models: int = 0, note: str = "") -> dict:
    return {
        "slope": np.nan,
        "intercept": np.nan,
        "slope_se": np.nan,
        "slope_df": 0,
        "slope_ci_low": np.nan,
        "slope_ci_high": np.nan,
        "inference": "none",
        "inference_note": note,
        "ols_slope": np.nan,
        "ols_intercept": np.nan,
        "pearson_r": np.nan,
        "r2": np.nan,
        "n": int(n),
        "n_models": int(n_models),
        "few_networks": bool(n_models < MIN_CALIBRATED_NETWORKS),
    }


# --------------------------------------------------------------------------------------------
# which rows enter a fit
# --------------------------------------------------------------------------------------------


def training_status(layers: pd.DataFrame) -> pd.Series:
    """``trained`` / ``untrained`` / ``unknown`` per row, from the (optional) ``trained`` column."""
    if "trained" not in layers.columns:
        return pd.Series("unknown", index=layers.index)

    def one(v):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            return "unknown"
        if isinstance(v, str):
            v = v.strip().lower()
            return {"true": "trained", "false": "untrained"}.get(v, "unknown")
        return "trained" if bool(v) else "untrained"

    return layers["trained"].astype(object).map(one)


def _flag(layers: pd.DataFrame, column: str) -> np.ndarray:
    if column not in layers.columns:
        return np.zeros(len(layers), dtype=bool)
    return layers[column].astype("boolean").fillna(False).to_numpy(dtype=bool)


def identity_key(layers: pd.DataFrame) -> pd.Series:
    """Per row, the ``"{model}/{layer}"`` of the first layer of its study with identical
    activations (its own name when it has none): rows sharing a key are one layer."""
    own = layers["model"].astype(str) + "/" + layers["layer"].astype(str)
    if "duplicate_of" not in layers.columns:
        return own
    dup = layers["duplicate_of"].astype(object)
    return own.where(dup.isna(), dup.astype(str))


def fit_rows(layers: pd.DataFrame, include_inputs: bool = False) -> pd.DataFrame:
    """The rows of ``layers`` a fit may use: input layers out unless ``include_inputs``, and
    identical layers once (the first in table order of each study's identity class)."""
    keep = ~_flag(layers, "is_input") if not include_inputs else np.ones(len(layers), bool)
    sub = layers.loc[keep]
    if not len(sub):
        return sub
    key = sub["study"].astype(str) + "\x1f" + identity_key(sub)
    return sub.loc[~key.duplicated().to_numpy()]


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
    df: pd.DataFrame, metric: str, n_boot: int = 1000, seed: int = 0, convention: str = "pr"
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates (intercepts, slopes) of one study's OLS ``metric ~ ln(convention)``.

    The resampling is the one described in the module docstring (models when ≥ 2 models, else
    layers; ``rng = default_rng(seed)``; ``idx = rng.integers(0, G, (n_boot, G))``). Degenerate
    replicates are NaN. Used by :func:`fit_study` for the fallback interval.

    Returns two arrays of shape ``(n_boot,)``.
    """
    d = _clean(df, metric, convention)
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


def _stratified_slopes(d: pd.DataFrame, n_boot: int, seed: int) -> np.ndarray:
    """Stratified bootstrap replicates of the within-study slope of cleaned rows ``d``."""
    rng = np.random.default_rng(seed)
    cxx_tot, cxy_tot = np.zeros(n_boot), np.zeros(n_boot)
    for s in sorted(d["study"].unique()):
        g = d[d["study"] == s]
        stats = _unit_stats(g, by_model=g["model"].nunique() >= 2)
        counts = _draw_counts(rng, n_boot, stats.shape[0])
        cxx, cxy = _within_sums(counts @ stats)
        cxx_tot += np.nan_to_num(cxx)
        cxy_tot += np.nan_to_num(cxy)
    xd = d["x"] - d.groupby("study")["x"].transform("mean")
    return _slope_from(cxx_tot, cxy_tot, np.full(n_boot, float((xd * xd).sum())))


def pooled_bootstrap_slopes(
    df: pd.DataFrame, metric: str, n_boot: int = 1000, seed: int = 0, convention: str = "pr"
) -> np.ndarray:
    """Stratified bootstrap replicates of the pooled within-study slope (module docstring:
    studies in sorted order, models resampled within each study, layers for a one-model
    study). Used by :func:`fit_pooled` for the fallback interval. Shape ``(n_boot,)``."""
    d = _clean(df, metric, convention)
    if len(d) == 0:
        return np.full(n_boot, np.nan)
    return _stratified_slopes(d, n_boot, seed)


# --------------------------------------------------------------------------------------------
# per-study fit
# --------------------------------------------------------------------------------------------


def fit_study(
    df: pd.DataFrame,
    metric: str,
    n_boot: int = 1000,
    seed: int = 0,
    convention: str = "pr",
    warn: bool = True,
) -> dict:
    """Fit one study's (or one subset's) layer score on ln PR.

    Parameters
    ----------
    df : the layers to fit (columns ``model``, ``log_pr``/``pr`` or ``convention``, ``metric``);
        already reduced by :func:`fit_rows`.
    metric : ``"r2"``, ``"r2_mean"``, ``"r2_pooled"``, ``"pearson_r"`` or ``"score"``.
    n_boot, seed : replicates and seed of the fallback cluster bootstrap.
    convention : the PR column whose natural log is x.
    warn : emit a :class:`FitWarning` when no fit can be made (else a debug log line).

    Returns
    -------
    dict with the per-fit columns of :data:`FITS_COLUMNS` (module docstring): the layer-level
    OLS line and correlation (statsmodels OLS; ``r2`` = ``pearson_r``²) and, with ≥ 2 networks,
    the mixed model's slope and interval, or the cluster bootstrap's when the mixed model cannot
    be fitted. One network: the OLS line, no interval (``inference = "none"``). Fewer than 3
    usable layers or no spread in ln PR → NaN numbers.
    """
    d = _clean(df, metric, convention)
    n, n_models = len(d), int(d["model"].nunique())
    where = f"study {str(df['study'].iloc[0])!r}" if "study" in df.columns and len(df) else "study"
    if n < MIN_LAYERS:
        _warn(
            f"{where}, metric {metric!r}: {n} layer(s) with finite {metric} and log PR; "
            f"at least {MIN_LAYERS} are needed for a fit, so its row is NaN.",
            warn,
        )
        return _nan_fit(n, n_models, f"{n} usable layer(s)")
    x, y = d["x"].to_numpy(), d["y"].to_numpy()
    if np.ptp(x) <= 1e-12 * max(1.0, np.abs(x).max()):
        _warn(
            f"{where}, metric {metric!r}: all layers have the same log PR; "
            "no slope can be fitted, so its row is NaN.",
            warn,
        )
        return _nan_fit(n, n_models, "no spread in ln PR")
    res = sm.OLS(y, sm.add_constant(x)).fit()
    intercept, slope = (float(v) for v in res.params)
    r = float(np.corrcoef(x, y)[0, 1]) if np.ptp(y) > 0 else np.nan
    out = _nan_fit(n, n_models)
    out.update(
        slope=slope,
        intercept=intercept,
        ols_slope=slope,
        ols_intercept=intercept,
        pearson_r=r,
        r2=float(r * r) if np.isfinite(r) else np.nan,
    )
    if n_models < 2:
        out["inference_note"] = "one network: no network-level interval"
        return out
    mixed = mixed_slope(x, y, d["model"].to_numpy())
    if mixed["ok"]:
        out.update(_mixed_columns(mixed))
        return out
    _, reps = bootstrap_lines(df, metric, n_boot=n_boot, seed=seed, convention=convention)
    b = bootstrap_interval(slope, reps, df=n_models - 1, g=n_models)
    out.update(
        slope_se=b["se"],
        slope_df=b["df"],
        slope_ci_low=b["ci_low"],
        slope_ci_high=b["ci_high"],
        inference="bootstrap",
        inference_note=f"mixed model not used: {mixed['reason']}",
    )
    return out


def theory_variance_explained(df: pd.DataFrame, metric: str) -> float:
    """Share of the variance of layer scores tracked by the theory's prediction ``theory_r2``.

    Defined as the R² of the OLS ``metric ~ theory_r2`` (intercept and slope free) over the rows
    where both are finite; it equals their squared Pearson correlation. A free affine map is used
    because ``theory_r2`` is an R² over all P stimuli, on another scale than a median test R² or
    a Pearson r. What it measures: how much of the between-layer spread of scores the theory's
    number — computed from the layer's eigenvalues *and* the recordings' alignment with its
    eigenvectors — reproduces. It does not separate a property of regression from one of the
    brain data: the alignment term carries the recordings.
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


def fit_pooled(
    df: pd.DataFrame,
    metric: str,
    n_boot: int = 1000,
    seed: int = 0,
    convention: str = "pr",
    n_perm: int = 9999,
    warn: bool = True,
) -> dict:
    """Pooled fit with one intercept per study and a common slope.

    * ``ols_slope``: least squares ``metric ~ x + C(study)`` (statsmodels formula), i.e. the
      within-study slope; ``ols_intercept``: the **mean of the study intercepts** (the line
      through the average study; the reference-level intercept would depend on which study
      sorts first).
    * ``slope``, ``intercept``, interval: the mixed model with study intercepts and a random
      intercept and slope per network (``inference == "mixed"``; ``df = networks − studies``),
      else the OLS line with the stratified cluster bootstrap interval (networks resampled
      within each study; ``g`` = the smallest study's networks among studies with ≥ 2).
    * ``pearson_r``, ``r2``: of the within-study relation (each study's means subtracted from
      both; by Frisch–Waugh–Lovell its OLS slope is ``ols_slope``).
    * ``n``: layers used; ``n_models``: distinct (study, model) pairs; ``few_networks``:
      ``networks − studies + 1 < 5``.
    * ``equal_slopes_p``, ``equal_slopes_relabellings``: the network-level permutation test of
      :func:`predictivity.aggregate.inference.equal_slopes_test`; NaN with one study.

    Studies with fewer than 3 usable layers or no spread in log PR are left out (each with a
    :class:`FitWarning` when ``warn``); if none is left, the row is NaN.
    """
    d = _clean(df, metric, convention)
    keep = []
    for s, g in d.groupby("study", sort=True):
        if len(g) < MIN_LAYERS or np.ptp(g["x"].to_numpy()) <= 0:
            _warn(
                f"pooled fit, metric {metric!r}: study {s!r} has {len(g)} usable layer(s) "
                "or no spread in log PR; it is left out of the pooled fit.",
                warn,
            )
        else:
            keep.append(s)
    d = d[d["study"].isin(keep)].reset_index(drop=True)
    n_models = int(d[["study", "model"]].drop_duplicates().shape[0])
    studies = sorted(keep)
    out = _nan_fit(len(d), n_models)
    out.update(
        equal_slopes_p=np.nan,
        equal_slopes_relabellings=0,
        few_networks=bool(n_models - len(studies) + 1 < MIN_CALIBRATED_NETWORKS),
    )
    if len(d) < MIN_LAYERS:
        _warn(f"pooled fit, metric {metric!r}: {len(d)} usable layer(s); the row is NaN.", warn)
        out["inference_note"] = f"{len(d)} usable layer(s)"
        return out
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
    out.update(
        slope=slope,
        intercept=intercept,
        ols_slope=slope,
        ols_intercept=intercept,
        pearson_r=float(r),
        r2=float(r * r) if np.isfinite(r) else np.nan,
    )
    networks = (data["g"] + "\x1f" + data["model"]).to_numpy()
    mixed = mixed_slope(data["x"].to_numpy(), data["y"].to_numpy(), networks, data["g"].to_numpy())
    if mixed["ok"]:
        out.update(_mixed_columns(mixed))
    else:
        reps = _stratified_slopes(d, n_boot, seed)
        sizes = data.groupby("g")["model"].nunique()
        multi = [int(k) for k in sizes if k >= 2]
        b = bootstrap_interval(
            slope, reps, df=n_models - len(studies), g=min(multi) if multi else 0
        )
        out.update(
            slope_se=b["se"],
            slope_df=b["df"],
            slope_ci_low=b["ci_low"],
            slope_ci_high=b["ci_high"],
            inference="bootstrap",
            inference_note=f"mixed model not used: {mixed['reason']}",
        )
    if len(studies) >= 2:
        t = equal_slopes_test(
            data["x"].to_numpy(),
            data["y"].to_numpy(),
            networks,
            data["g"].to_numpy(),
            n_perm=n_perm,
            seed=seed,
        )
        out.update(equal_slopes_p=t["p"], equal_slopes_relabellings=t["n_relabellings"])
    return out


# --------------------------------------------------------------------------------------------
# the fits table
# --------------------------------------------------------------------------------------------


def study_metrics(study_rows: pd.DataFrame) -> tuple[str, ...]:
    """Which metrics a study is fitted on: ``("score",)`` for a ``table`` study (it has a
    ``score`` column with at least one finite value), else those of ``r2``, ``r2_mean``,
    ``r2_pooled``, ``pearson_r`` that are columns (``r2`` always first)."""
    if (
        "score" in study_rows.columns
        and pd.to_numeric(study_rows["score"], errors="coerce").notna().any()
    ):
        return TABLE_METRICS
    return ("r2",) + tuple(m for m in COMPUTED_METRICS[1:] if m in study_rows.columns)


def study_conventions(study_rows: pd.DataFrame) -> tuple[str, ...]:
    """The PR conventions a study's rows carry (``pr`` always; the others when their column has
    a finite positive value)."""
    out = ["pr"]
    for c in PR_CONVENTIONS[1:]:
        if c in study_rows.columns:
            v = pd.to_numeric(study_rows[c], errors="coerce")
            if (v > 0).any():
                out.append(c)
    return tuple(out)


def study_subsets(rows: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """(subset name, row mask) of one study, in the fits table's order (module docstring)."""
    models = sorted(rows["model"].astype(str).unique())
    model = rows["model"].astype(str).to_numpy()
    status = training_status(rows).to_numpy()
    out = [("all", np.ones(len(rows), bool))]
    for s in ("trained", "untrained"):
        if (status == s).any():
            out.append((s, status == s))
    if len(models) >= 2:
        out += [(f"without:{m}", model != m) for m in models]
    out += [(f"model:{m}", model == m) for m in models]
    return out


def pooled_subsets(rows: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """(subset name, row mask) of the pooled fits: all, trained, untrained, without:{study}."""
    study = rows["study"].astype(str).to_numpy()
    status = training_status(rows).to_numpy()
    out = [("all", np.ones(len(rows), bool))]
    for s in ("trained", "untrained"):
        if (status == s).any():
            out.append((s, status == s))
    studies = sorted(set(study))
    if len(studies) >= 3:
        out += [(f"without:{s}", study != s) for s in studies]
    return out


def _has_values(rows: pd.DataFrame, column: str) -> bool:
    return column in rows.columns and bool(
        np.isfinite(pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)).any()
    )


def study_presets(study_rows: pd.DataFrame, presets=tuple(PRESETS)) -> list[str]:
    """The presets a computed study is fitted on: those whose score column has a finite value
    and whose PR convention the study carries (none for a ``table`` study)."""
    if study_metrics(study_rows) == TABLE_METRICS:
        return []
    conventions = study_conventions(study_rows)
    return [
        name
        for name in presets
        if PRESETS[name]["pr_convention"] in conventions
        and _has_values(study_rows, PRESETS[name]["metric"])
    ]


def _check_presets(presets) -> tuple[str, ...]:
    presets = tuple(presets)
    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        raise ValueError(f"unknown fits preset(s) {unknown}; known: {', '.join(PRESETS)}")
    return presets


def fits_table(
    layers: pd.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    n_perm: int = 9999,
    include_inputs: bool = False,
    presets=tuple(PRESETS),
) -> pd.DataFrame:
    """The fits table (``results/tables/fits.parquet``): :data:`FITS_COLUMNS`, one row per
    scope × subset × PR convention × metric (module docstring), studies in sorted order, then the
    pooled rows; ``preset`` is empty on these rows.

    * Layers enter as :func:`fit_rows` says (inputs out unless ``include_inputs``; identical
      layers once, resolved within each subset).
    * Pooled rows: per metric over the studies fitted on it — computed metrics whenever there is
      at least one computed study, ``score`` only when there are ≥ 2 table studies; per
      convention over the studies that carry it.
    * ``presets`` (names of :data:`predictivity.aggregate.presets.PRESETS`): for each, one more
      row per scope × subset with that preset's score and PR convention, labelled ``preset``
      (after a study's own rows of each subset; pooled after the pooled rows), for the computed
      studies that have its score (:func:`study_presets`).
    * ``theory_r2_variance_explained``: per study :func:`theory_variance_explained`; pooled, the
      within-study version (score and theory_r2 demeaned per study). NaN for table studies.
    * ``equal_slopes_p`` is NaN on per-study rows.
    Every bootstrap and permutation uses ``seed``, so the table is deterministic.
    """
    presets = _check_presets(presets)
    rows = []
    if len(layers):
        usable = layers.loc[~_flag(layers, "is_input")] if not include_inputs else layers
    else:
        usable = layers
    groups = {s: g for s, g in usable.groupby(usable["study"].astype(str), sort=True)}
    by_metric: dict[str, list[str]] = {}
    by_preset: dict[str, list[str]] = {}
    for s, g in groups.items():
        metrics = study_metrics(g)
        conventions = study_conventions(g)
        specs = [("", conv, m) for conv in conventions for m in metrics]
        for name in study_presets(g, presets):
            by_preset.setdefault(name, []).append(s)
            specs.append((name, PRESETS[name]["pr_convention"], PRESETS[name]["metric"]))
        for m in metrics:
            by_metric.setdefault(m, []).append(s)
        for subset, mask in study_subsets(g):
            sub = fit_rows(g.loc[mask], include_inputs=True)
            quiet = subset != "all"
            for preset, conv, m in specs:
                fit = fit_study(
                    sub, m, n_boot=n_boot, seed=seed, convention=conv,
                    warn=not quiet and conv == "pr" and not preset,
                )  # fmt: skip
                fit.update(
                    scope=s,
                    subset=subset,
                    pr_convention=conv,
                    metric=m,
                    preset=preset,
                    equal_slopes_p=np.nan,
                    equal_slopes_relabellings=0,
                    theory_r2_variance_explained=theory_variance_explained(sub, m),
                )
                rows.append(fit)
    pooled_specs = []  # (preset, metric, studies, conventions)
    for m in (*COMPUTED_METRICS, *TABLE_METRICS):
        studies = by_metric.get(m, [])
        if studies and not (m in TABLE_METRICS and len(studies) < 2):
            pooled_specs.append(("", m, studies, PR_CONVENTIONS))
    for name in presets:
        if by_preset.get(name):
            p = PRESETS[name]
            pooled_specs.append((name, p["metric"], by_preset[name], (p["pr_convention"],)))
    for preset, m, studies, conventions in pooled_specs:
        pool = pd.concat([groups[s] for s in studies], ignore_index=True)
        for subset, mask in pooled_subsets(pool):
            sub = fit_rows(pool.loc[mask], include_inputs=True)
            for conv in conventions:
                have = [s for s in studies if conv in study_conventions(groups[s])]
                if not have:
                    continue
                part = sub[sub["study"].astype(str).isin(have)]
                fit = fit_pooled(
                    part, m, n_boot=n_boot, seed=seed, convention=conv, n_perm=n_perm,
                    warn=subset == "all" and conv == "pr" and not preset,
                )  # fmt: skip
                fit.update(
                    scope="pooled",
                    subset=subset,
                    pr_convention=conv,
                    metric=m,
                    preset=preset,
                    theory_r2_variance_explained=_theory_within(part, m),
                )
                rows.append(fit)
    out = pd.DataFrame(rows, columns=FITS_COLUMNS)
    ints = ("n", "n_models", "slope_df", "equal_slopes_relabellings")
    texts = ("scope", "subset", "pr_convention", "metric", "preset", "inference", "inference_note")
    for c in FITS_COLUMNS:
        if c in ints:
            out[c] = out[c].astype("int64")
        elif c in texts:
            out[c] = out[c].astype(str)
        elif c == "few_networks":
            out[c] = out[c].astype(bool)
        else:
            out[c] = out[c].astype(float)
    return out
