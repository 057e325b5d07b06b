"""Named per-paper presets: each cited paper's score, PR convention and summary over targets
(docs/design.md#fits, "Presets").

A preset is a named combination (score column of the layers table, PR convention). The fits
table (:func:`predictivity.aggregate.fits.fits_table`) adds, for every preset in
``fits.presets``, the rows of that one combination for every scope and subset, labelled in its
``preset`` column. The scores the presets need beyond the layers table's usual ones are computed
per layer by :func:`preset_scores` from the regression table (one row per layer × target: the
fold-mean Pearson r and the noise ceiling of each target):

* ``ceiling_median``: the median over targets of the ceiling ρ_n (the Spearman–Brown reliability
  of the mean of all repetitions, docs/design.md#noise-ceiling). A target without a ceiling
  (split-half r ≤ 0, ceiling NaN) enters as 0 when the layer has at least one ceiling — its
  Spearman–Brown value would be ≤ 0, so the median is exact whenever it is positive; a median
  ≤ 0, or no ceiling at all (one repetition), gives NaN.
* ``pearson_r_over_ceiling`` = median_n r_n / ``ceiling_median`` (Brain-Score's ceiled score:
  the median Pearson r divided by the median split-half consistency).
* ``pearson_r_over_ceiling_sq`` = (median_n r_n / ``ceiling_median``)²: Brain-Score's
  "explained variance" of its neural benchmarks (``explained_variance(score, ceiling)``:
  (r / ceiling)², the sign of r lost as in Brain-Score).
* ``pearson_r2_corrected`` = median_n max(r_n, 0)² / max(ρ_n, 0.182): Tuckute et al.'s
  noise-corrected R² (r < 0 set to 0, squared, divided by the voxel's Spearman–Brown reliability
  floored at 0.182; a target without a ceiling gets the floor when the layer has any ceiling,
  as their ``nanmax([rv, 0.182])`` does; NaN with no ceiling at all).

Here r_n is the regression table's ``pearson_r``: the mean over the outer folds of the test-fold
Pearson r of target n.

The presets (:data:`PRESETS`):

``tuckute2023``
    Tuckute, Feather, Boebinger & McDermott (2023), "Many but not all deep neural network audio
    models capture brain responses and exhibit correspondence between model stages and brain
    regions", PLoS Biology 21(12): e3002366. Score ``pearson_r2_corrected``; PR
    ``pr_double_centred`` (their effective dimensionality: ``np.cov`` of the mean-subtracted
    activations, sounds as variables). Differences from their code: they use 10 random 83/82
    splits and take the median over splits of each voxel's corrected r², and their denominator is
    r_v·r_v̂ with r_v̂ the reliability of predictions fitted to single scans (floored at 0.183);
    here r is averaged over the K outer folds before it is clipped and squared, and the
    denominator is the data's reliability alone (r_v̂ = 1), so the preset's score is ≤ theirs
    when r_v̂ < 1.
``schrimpf2021``
    Schrimpf, Blank, Tuckute et al. (2021), "The neural architecture of language: Integrative
    modeling converges on predictive processing", PNAS 118(45): e2105646118 (Brain-Score
    convention). Score ``pearson_r_over_ceiling``; PR ``pr`` (the paper fits no PR; the centred
    covariance is the default). Differences: Brain-Score takes the median over neuroids per split
    and then the mean over splits (here the mean over folds per target, then the median), and
    its language ceiling is extrapolated from subsets of participants (here the split-half
    reliability).
``elmoznino_bonner``
    Elmoznino & Bonner (2024), "High-performing neural network models of visual cortex benefit
    from high latent dimensionality", PLoS Computational Biology 20(1): e1011792 — the paper this
    pipeline replicates. Their encoding score is Brain-Score's MajajHong2015 IT benchmark with
    ridge regression (``scripts/fit_encoding_models.py`` of their code), i.e. Brain-Score's
    explained variance (median r / median ceiling)²: score ``pearson_r_over_ceiling_sq``; PR
    ``pr`` (their effective dimensionality: the PR of the centred covariance). Difference: their
    ED is computed on 10 000 ImageNet images, here on the study's stimuli.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Tuckute et al.'s floor on a voxel's Spearman–Brown reliability (``utils.ridgeCV_correctedR2``).
TUCKUTE_RELIABILITY_FLOOR = 0.182

#: name → score column of the layers table, PR convention, citation (module docstring).
PRESETS = {
    "tuckute2023": {
        "metric": "pearson_r2_corrected",
        "pr_convention": "pr_double_centred",
        "citation": "Tuckute et al. (2023) PLoS Biol 21(12): e3002366",
    },
    "schrimpf2021": {
        "metric": "pearson_r_over_ceiling",
        "pr_convention": "pr",
        "citation": "Schrimpf et al. (2021) PNAS 118(45): e2105646118",
    },
    "elmoznino_bonner": {
        "metric": "pearson_r_over_ceiling_sq",
        "pr_convention": "pr",
        "citation": "Elmoznino & Bonner (2024) PLoS Comput Biol 20(1): e1011792",
    },
}

#: The per-layer columns :func:`preset_scores` adds to the layers table, in order.
PRESET_SCORE_COLUMNS = [
    "ceiling_median",
    "pearson_r_over_ceiling",
    "pearson_r_over_ceiling_sq",
    "pearson_r2_corrected",
]


def _layer_scores(r: np.ndarray, ceiling: np.ndarray) -> dict:
    """The preset scores of one layer from its targets' fold-mean r and ceilings."""
    r = np.asarray(r, dtype=np.float64)
    c = np.asarray(ceiling, dtype=np.float64)
    nan = dict.fromkeys(PRESET_SCORE_COLUMNS, np.nan)
    has = np.isfinite(c)
    if not has.any():
        return nan
    out = dict(nan)
    med_c = float(np.median(np.where(has, c, 0.0)))
    ok_r = np.isfinite(r)
    med_r = float(np.median(r[ok_r])) if ok_r.any() else np.nan
    if med_c > 0:
        out["ceiling_median"] = med_c
        out["pearson_r_over_ceiling"] = med_r / med_c
        out["pearson_r_over_ceiling_sq"] = (med_r / med_c) ** 2
    floored = np.maximum(np.where(has, c, TUCKUTE_RELIABILITY_FLOOR), TUCKUTE_RELIABILITY_FLOOR)
    corrected = np.maximum(r, 0.0) ** 2 / floored
    if ok_r.any():
        out["pearson_r2_corrected"] = float(np.median(corrected[ok_r]))
    return out


def preset_scores(reg: pd.DataFrame) -> pd.DataFrame:
    """Per layer of a regression table (one row per layer × target, with ``pearson_r`` and
    ``ceiling``): ``layer`` and :data:`PRESET_SCORE_COLUMNS` (module docstring). Targets whose r
    is NaN are left out of the medians of r; a table without a ``ceiling`` column gives NaN."""
    rows = []
    for layer, g in reg.groupby("layer", sort=False):
        c = g["ceiling"].to_numpy() if "ceiling" in g.columns else np.full(len(g), np.nan)
        rows.append({"layer": layer, **_layer_scores(g["pearson_r"].to_numpy(), c)})
    return pd.DataFrame(rows, columns=["layer", *PRESET_SCORE_COLUMNS])
