"""The best-layer-per-network table ``results/tables/best_layer.parquet``
(docs/design.md#best-layer): each network's score with its layer chosen on the training folds,
beside the usual test-selected best layer.

Papers often report a network's score as the best of its layers' test scores. That choice
uses the test folds, so it is optimistic: with many layers of equal true quality, the largest of
their noisy test scores sits above all of them. Here the layer is chosen per outer fold on inner
cross-validation of the training stimuli only.

Input: one model's per-fold regression table (``results/regression/{study}/{model}.folds.parquet``,
one row per layer × outer fold × target: ``layer``, ``layer_index``, ``fold``, ``target``, ``r2``,
``pearson_r``, ``sse``, ``sst`` on the test fold, and ``cv_sse``, ``cv_sst``: the inner
cross-validation error of the ridge at its chosen alpha on the training stimuli of that fold, and
Σ ỹ² of the training-fold-centred responses).

Selection, per outer fold k:

* inner score of layer L: ``inner_r2(L, k) = 1 − Σ_n cv_sse(L, k, n) / Σ_n cv_sst(L, k, n)``,
  pooled over targets — the quantity the ridge's alpha selection itself minimises, so no target
  with a tiny variance dominates (a median over targets of per-target inner R² would be the other
  choice; it is noisier with few training stimuli);
* the chosen layer L*_k maximises it (ties: the lowest ``layer_index``; layers whose inner score
  is NaN are not candidates; input layers are not candidates unless asked for);
* the network's test scores on fold k are L*_k's.

Network scores (the same summaries as a layer's in the layers table): ``r2`` = median over
targets of the mean over folds of the fold R² (folds with NaN ignored); ``r2_mean`` the mean over
targets instead; ``pearson_r`` likewise from the fold Pearson r; ``r2_pooled`` = 1 − ΣSSE/ΣSST
over the chosen (fold, target) rows. ``inner_r2`` is the mean over folds of the chosen layer's
inner score.

Beside it: ``r2_test_selected`` = max over the candidate layers of the layer's ``r2`` (the
layers table's value), ``test_selected_layer`` its layer, ``pearson_r_test_selected`` and
``r2_pooled_test_selected`` the maxima of those scores (each over layers on its own), and
``selection_optimism`` = ``r2_test_selected − r2``. ``layer_per_fold`` lists the chosen layers in
fold order, comma-separated; ``n_distinct_layers`` counts them; ``layer`` is the most frequent
(ties: lowest ``layer_index``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The columns a per-fold regression table must have.
FOLD_COLUMNS = [
    "layer",
    "layer_index",
    "fold",
    "target",
    "r2",
    "pearson_r",
    "sse",
    "sst",
    "cv_sse",
    "cv_sst",
]

#: The columns of the best-layer table, in order.
BEST_LAYER_COLUMNS = [
    "study",
    "model",
    "trained",
    "n_layers",
    "n_folds",
    "n_targets",
    "layer",
    "layer_per_fold",
    "n_distinct_layers",
    "r2",
    "r2_mean",
    "pearson_r",
    "r2_pooled",
    "inner_r2",
    "test_selected_layer",
    "r2_test_selected",
    "pearson_r_test_selected",
    "r2_pooled_test_selected",
    "selection_optimism",
]


def fold_scores(rows: pd.DataFrame) -> dict:
    """The layer summaries of per-(fold, target) rows: r2, r2_mean, pearson_r (per target the
    mean over folds, NaN folds ignored; then the median or mean over targets) and r2_pooled."""
    per_target = rows.groupby("target", sort=True)[["r2", "pearson_r"]].mean()
    sst = float(rows["sst"].sum())
    return {
        "r2": float(per_target["r2"].median()),
        "r2_mean": float(per_target["r2"].mean()),
        "pearson_r": float(per_target["pearson_r"].median()),
        "r2_pooled": 1.0 - float(rows["sse"].sum()) / sst if sst > 0 else np.nan,
    }


def inner_scores(folds: pd.DataFrame) -> pd.DataFrame:
    """Per (layer, fold): ``inner_r2`` = 1 − Σ_targets cv_sse / Σ_targets cv_sst (NaN when the
    training responses have no variance), with ``layer_index``."""
    g = folds.groupby(["layer_index", "layer", "fold"], sort=True)[["cv_sse", "cv_sst"]].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = 1.0 - g["cv_sse"] / g["cv_sst"].where(g["cv_sst"] > 0)
    return inner.rename("inner_r2").reset_index()


def select_layers(folds: pd.DataFrame, exclude=()) -> dict:
    """One network's row of the best-layer table (module docstring), without study, model and
    trained. ``folds``: its per-fold regression table; ``exclude``: layer names that are not
    candidates (its input layers). Raises ``ValueError`` when a column is missing."""
    missing = [c for c in FOLD_COLUMNS if c not in folds.columns]
    if missing:
        raise ValueError(f"per-fold regression table lacks column(s) {missing}")
    exclude = {str(v) for v in exclude}
    cand = folds[~folds["layer"].astype(str).isin(exclude)]
    out = dict.fromkeys(BEST_LAYER_COLUMNS[3:], np.nan)
    out.update(
        n_layers=int(cand["layer"].nunique()),
        n_folds=int(folds["fold"].nunique()),
        n_targets=int(folds["target"].nunique()),
        layer="",
        layer_per_fold="",
        n_distinct_layers=0,
        test_selected_layer="",
    )
    if not len(cand):
        return out
    inner = inner_scores(cand).dropna(subset=["inner_r2"])
    # per fold the highest inner score; sorting by layer_index first makes ties go to the lowest
    inner = inner.sort_values(["fold", "layer_index"], kind="stable")
    best = inner.loc[inner.groupby("fold", sort=True)["inner_r2"].idxmax()]
    if len(best):
        chosen = cand.merge(best[["fold", "layer"]], on=["fold", "layer"], how="inner")
        out.update(fold_scores(chosen))
        names = best["layer"].astype(str).tolist()
        counts = best.groupby(["layer_index", "layer"], sort=True).size()
        modal = counts.index[int(np.argmax(counts.to_numpy()))][1]
        out.update(
            layer=str(modal),
            layer_per_fold=",".join(names),
            n_distinct_layers=len(set(names)),
            inner_r2=float(best["inner_r2"].mean()),
        )
    per_layer = pd.DataFrame(
        [
            {"layer": str(name), "layer_index": idx, **fold_scores(g)}
            for (idx, name), g in cand.groupby(["layer_index", "layer"], sort=True)
        ]
    )
    r2 = per_layer["r2"].to_numpy(dtype=float)
    if np.isfinite(r2).any():
        top = int(np.nanargmax(r2))  # first maximum: the lowest layer_index
        out.update(
            test_selected_layer=per_layer["layer"].iloc[top],
            r2_test_selected=float(r2[top]),
            pearson_r_test_selected=float(per_layer["pearson_r"].max()),
            r2_pooled_test_selected=float(per_layer["r2_pooled"].max()),
        )
        out["selection_optimism"] = out["r2_test_selected"] - out["r2"]
    return out


def best_layer_table(entries: list[dict]) -> pd.DataFrame:
    """The best-layer table: one row per entry, each a dict with ``study``, ``model``,
    ``trained`` (True / False / None), ``folds`` (the model's per-fold regression table) and
    ``exclude`` (layer names that are not candidates), in the given order."""
    rows = []
    for e in entries:
        row = select_layers(e["folds"], e.get("exclude", ()))
        row.update(study=str(e["study"]), model=str(e["model"]), trained=e.get("trained"))
        rows.append(row)
    out = pd.DataFrame(rows, columns=BEST_LAYER_COLUMNS)
    out["trained"] = pd.array(list(out["trained"]), dtype="boolean")
    for c in ("n_layers", "n_folds", "n_targets", "n_distinct_layers"):
        out[c] = out[c].astype("int64")
    for c in ("study", "model", "layer", "layer_per_fold", "test_selected_layer"):
        out[c] = out[c].astype(str)
    return out
