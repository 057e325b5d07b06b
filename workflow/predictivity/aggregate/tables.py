"""Stage 7: the per-layer table `results/tables/layers.parquet` (docs/design.md#tables).

One row per study × model × layer, joining the regression (stage 5), spectra (stage 4) and
theory (stage 6) outputs of that model. Pure: DataFrames in, DataFrame out.

Two columns say which layers the fits use (:mod:`predictivity.aggregate.fits`):

* ``is_input``: the layer is the network's input encoding of the stimulus rather than something
  the network computes (Resemblyzer's ``mel``, the filter bank's ``cochleagram``, the MEC path
  integrators' place-cell ``encoder``; for a precomputed study, the layers named in its
  ``input_layers``). The workflow passes the names per model (``input_layers`` in
  ``workflow/rules/common.smk``). Fits leave input layers out by default.
* ``duplicate_of``: ``"{model}/{layer}"`` of the first earlier layer of the same study (table
  order: models in config order, layers in layer order) whose activations are identical, else
  missing. Identical activations are detected exactly: two layers of one study with
  bit-identical ``pr``, ``pr_uncentred``, ``pr_double_centred``, ``n_units`` and
  ``powerlaw_alpha``. The spectra stage computes these deterministically from the activations,
  so identical activations (e.g. an input layer shared by a trained network and its untrained
  twin) always give identical values; different activations giving five bit-identical numbers
  would need identical Gram spectra, i.e. the same geometry, which ridge regression cannot tell
  apart either. Fits count each such layer once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from predictivity.aggregate.presets import preset_scores
from predictivity.core.controls.profiles import DECOMPOSITION_COLUMNS, decompose_study
from predictivity.core.controls.summary import layer_control_columns
from predictivity.errors import InputError

LAYER_COLUMNS = [
    "study",
    "model",
    "layer",
    "layer_index",
    "n_stimuli",
    "n_units",
    "n_targets",
    "pr",
    "log_pr",
    "pr_uncentred",
    "pr_double_centred",
    "powerlaw_alpha",
    "r2",
    "r2_mean",
    "pearson_r",
    "r2_pooled",
    "r2_ceiled",
    "alpha_edge_fraction",
    "theory_r2",
    "empirical_r2_all",
]


def regression_summary(reg: pd.DataFrame) -> pd.DataFrame:
    """Per-layer summary of a stage-5 table (one row per layer × target).

    r2, pearson_r: median over targets; r2_mean: mean; r2_pooled = 1 − Σ SSE / Σ SST over all
    targets and folds; r2_ceiled / pearson_r_ceiled: median over targets with a usable ceiling;
    alpha_median: median chosen alpha (absolute units); alpha_edge_fraction: share of targets whose
    alpha sat at either end of the grid (in most folds), split into alpha_low_edge_fraction (the
    grid's smallest alpha: the grid may be too coarse at the bottom) and alpha_high_edge_fraction
    (the largest: the layer does not predict the target). Then the per-paper presets' scores
    (:func:`predictivity.aggregate.presets.preset_scores`: ceiling_median,
    pearson_r_over_ceiling, pearson_r_over_ceiling_sq, pearson_r2_corrected).
    """
    g = reg.groupby(["layer", "layer_index"], sort=False)
    out = g.agg(
        n_targets=("target", "size"),
        r2=("r2", "median"),
        r2_mean=("r2", "mean"),
        pearson_r=("pearson_r", "median"),
        r2_ceiled=("r2_ceiled", "median"),
        pearson_r_ceiled=("pearson_r_ceiled", "median"),
        alpha_median=("alpha", "median"),
        alpha_edge_fraction=("alpha_at_edge", "mean"),
        alpha_low_edge_fraction=("alpha_at_low_edge", "mean"),
        alpha_high_edge_fraction=("alpha_at_high_edge", "mean"),
        sse=("sse", "sum"),
        sst=("sst", "sum"),
    ).reset_index()
    out["r2_pooled"] = 1.0 - out.pop("sse") / out.pop("sst")
    return out.merge(preset_scores(reg), on="layer", how="left", validate="one_to_one")


SPECTRUM_LAYER_COLUMNS = [
    "layer",
    "n_stimuli",
    "n_units",
    "pr",
    "pr_uncentred",
    "pr_double_centred",
    "powerlaw_alpha",
]


def spectra_summary(spec: pd.DataFrame) -> pd.DataFrame:
    """The per-layer columns of a stage-4 table (repeated on each of its rows)."""
    return spec[SPECTRUM_LAYER_COLUMNS].drop_duplicates("layer").reset_index(drop=True)


def theory_summary(theory: pd.DataFrame) -> pd.DataFrame:
    """Per layer, the stage-6 row at the 5-fold training size p_train (column at_p_train).

    theory_r2 = 1 − E_g(p_train) and empirical_r2_all = 1 − empirical E_g(p_train), the matched
    pair over the same population (docs/design.md#theory).
    """
    t = theory[theory["at_p_train"]].drop_duplicates("layer")
    cols = {
        "layer": t["layer"].to_numpy(),
        "p_train": t["p"].to_numpy(),
        "lambda_reg": t["lambda_reg"].to_numpy(),
        "theory_r2": 1.0 - t["eg_theory"].to_numpy(),
    }
    cols.update(
        {
            "empirical_r2_all": 1.0 - t["eg_empirical"].to_numpy(),
            "r_em": t["r_em"].to_numpy(),
            "d_em": t["d_em"].to_numpy(),
        }
    )
    return pd.DataFrame(cols)


def model_layers(
    study: str,
    model: str,
    reg: pd.DataFrame,
    spec: pd.DataFrame,
    theory: pd.DataFrame,
    trained=None,
    n_targets_dropped: int = 0,
    input_layers=(),
    input_layers_key: str = "input_layers",
) -> pd.DataFrame:
    """Join one model's stage 4–6 outputs into layer rows.

    ``input_layers``: names of the model's input layers (``is_input`` true); a name that is not
    one of the model's layers raises :class:`InputError` naming ``input_layers_key``.
    """
    df = regression_summary(reg)
    df = df.merge(spectra_summary(spec), on="layer", how="left", validate="one_to_one")
    df = df.merge(theory_summary(theory), on="layer", how="left", validate="one_to_one")
    df.insert(0, "study", study)
    df.insert(1, "model", model)
    df["log_pr"] = np.log(df["pr"])
    df["trained"] = pd.array([trained] * len(df), dtype="boolean")
    df["n_targets_dropped"] = int(n_targets_dropped)
    names = [str(v) for v in (input_layers or ())]
    unknown = sorted(set(names) - set(df["layer"].astype(str)))
    if unknown:
        raise InputError(
            input_layers_key,
            f"names layer(s) {', '.join(map(repr, unknown))} that model {model!r} of study "
            f"{study!r} does not have (its layers: {', '.join(df['layer'].astype(str))}).",
            "list only the model's own layer names (the array names of its .npz).",
        )
    df["is_input"] = df["layer"].astype(str).isin(names).to_numpy()
    first = [c for c in LAYER_COLUMNS if c in df.columns]
    rest = [c for c in df.columns if c not in LAYER_COLUMNS]
    return df[first + rest].sort_values("layer_index").reset_index(drop=True)


#: The columns whose bit-identity within a study marks identical activations (module docstring).
IDENTITY_COLUMNS = ("pr", "pr_uncentred", "pr_double_centred", "n_units", "powerlaw_alpha")


def duplicate_of(table: pd.DataFrame) -> pd.Series:
    """Per row, ``"{model}/{layer}"`` of the first earlier row of its study with identical
    :data:`IDENTITY_COLUMNS` (compared exactly, NaN equal to NaN), else missing (module
    docstring). Rows lacking one of those columns are never duplicates."""
    out = pd.Series(pd.NA, index=table.index, dtype="string")
    if not len(table) or any(c not in table.columns for c in IDENTITY_COLUMNS):
        return out
    name = table["model"].astype(str) + "/" + table["layer"].astype(str)
    key = table[["study", *IDENTITY_COLUMNS]].astype({"study": str})
    first = key.groupby(list(key.columns), sort=False, dropna=False).cumcount() > 0
    if first.any():
        # the first row of each identity class names the class
        cls = key.groupby(list(key.columns), sort=False, dropna=False).ngroup()
        head = name.groupby(cls).transform("first")
        out[first] = head[first].astype("string")
    return out


def layers_table(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-model layer rows (the layers-table columns first) and add
    ``duplicate_of`` (:func:`duplicate_of`); an empty table with those columns when the config
    has no computed study (only `table` studies)."""
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in LAYER_COLUMNS})
    table = pd.concat(parts, ignore_index=True)
    table["duplicate_of"] = duplicate_of(table)
    return table


LAYER_KEY = ["study", "model", "layer"]


def metric_scores(metrics: pd.DataFrame) -> pd.DataFrame:
    """The metrics stage's long tables (``results/metrics/{study}/{model}.parquet`` concatenated,
    with ``study`` and ``model`` columns) as one row per (study, model, layer) and one column
    per measure (``pls``, ``rsa``, ``cka``, ``procrustes``, ``cca``; in order of first
    appearance) holding its ``score`` (docs/metrics.md)."""
    if not len(metrics):
        return pd.DataFrame(columns=LAYER_KEY)
    order = list(dict.fromkeys(metrics["metric"].astype(str)))
    wide = metrics.assign(metric=metrics["metric"].astype(str)).pivot(
        index=LAYER_KEY, columns="metric", values="score"
    )
    wide = wide[order].astype(float).reset_index()
    wide.columns.name = None
    return wide


def mec_layer_criteria(summary: pd.DataFrame) -> pd.DataFrame:
    """``fraction_grid`` and ``n_modules`` per (study, model, layer) of the grid-cell summary
    (:func:`predictivity.aggregate.mec_criteria.mec_criteria_summary`), the recordings' row
    (model ``recordings``) left out: the columns the layers table gets for MEC layers."""
    keep = summary["model"].astype(str) != "recordings"
    out = summary.loc[keep, [*LAYER_KEY, "fraction_grid", "n_modules"]].copy()
    out["fraction_grid"] = out["fraction_grid"].astype(float)
    out["n_modules"] = out["n_modules"].astype("Int64")
    return out.reset_index(drop=True)


def control_layer_columns(controls: pd.DataFrame, profiles: pd.DataFrame) -> list[pd.DataFrame]:
    """The controls' per-layer columns for the layers table (docs/controls.md), each keyed by
    (study, model, layer): :func:`predictivity.core.controls.summary.layer_control_columns` of
    the concatenated controls tables, and the spectrum/alignment decomposition
    (:func:`predictivity.core.controls.profiles.decompose_study`, once per study) of the
    concatenated profiles tables (``theory_r2_profile``, ``theory_r2_spectrum_only``,
    ``theory_r2_alignment_only``). Both inputs carry ``study`` and ``model`` columns."""
    out = []
    if len(controls):
        out.append(layer_control_columns(controls))
    if len(profiles):
        parts = []
        for study, g in profiles.groupby("study", sort=False):
            d = decompose_study(g)
            d["study"] = study
            parts.append(d[[*LAYER_KEY, *DECOMPOSITION_COLUMNS]])
        out.append(pd.concat(parts, ignore_index=True))
    return out


def join_layer_columns(table: pd.DataFrame, extra: pd.DataFrame, source: str) -> pd.DataFrame:
    """Left-join per-layer columns onto the layers table on (study, model, layer): the table's
    rows, their order and its existing columns are kept as they are; the new columns come last
    (missing where ``extra`` has no row for a layer). ``extra`` must have at most one row per
    key, and none of its other columns may already be in the table (``source`` names it in the
    error)."""
    clash = sorted((set(extra.columns) - set(LAYER_KEY)) & set(table.columns))
    if clash:
        raise ValueError(f"{source}: column(s) {clash} are already in the layers table")
    if extra[LAYER_KEY].duplicated().any():
        raise ValueError(f"{source}: more than one row per (study, model, layer)")
    extra = extra.astype({k: str for k in LAYER_KEY})
    key = table[LAYER_KEY].astype(str)
    joined = key.merge(extra, on=LAYER_KEY, how="left", validate="many_to_one")
    out = table.copy()
    for c in extra.columns:
        if c not in LAYER_KEY:
            out[c] = joined[c].to_numpy()
            if isinstance(extra[c].dtype, pd.api.extensions.ExtensionDtype):
                out[c] = out[c].astype(extra[c].dtype)
    return out


def benchmarks_table(records: list[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """Summarise Snakemake ``benchmark:`` files into one table, so that slow stages are visible.

    records : (relative path under benchmarks/, the file's DataFrame) pairs; the path's parts give
    ``stage`` and, where present, ``study`` and ``model`` (``benchmarks/<stage>/<study>/<model>.tsv``).
    Columns: stage, study, model, seconds (wall), cpu_seconds, max_rss_mb, mean_load — the mean
    over repeats when a benchmark file has several rows — sorted by seconds, descending.
    """
    rows = []
    for rel, df in records:
        parts = rel.split("/")
        name = parts[-1].rsplit(".", 1)[0]
        stage = parts[0]
        study = parts[1] if len(parts) == 3 else (name if len(parts) == 2 else None)
        model = name if len(parts) == 3 else None
        rows.append(
            {
                "stage": stage,
                "study": study,
                "model": model,
                "seconds": float(df["s"].mean()),
                "cpu_seconds": float(df["cpu_time"].mean()) if "cpu_time" in df else np.nan,
                "max_rss_mb": float(df["max_rss"].mean()) if "max_rss" in df else np.nan,
                "mean_load": float(df["mean_load"].mean()) if "mean_load" in df else np.nan,
            }
        )
    out = pd.DataFrame(
        rows,
        columns=["stage", "study", "model", "seconds", "cpu_seconds", "max_rss_mb", "mean_load"],
    )
    return out.sort_values("seconds", ascending=False, ignore_index=True)
