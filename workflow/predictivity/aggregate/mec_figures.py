"""Figure ``mec_criteria``: MEC models ranked by regression score beside the same models ranked
by each grid-cell criterion (does the most predictive model look most like grid cells?).

Pure: DataFrames in, a matplotlib :class:`~matplotlib.figure.Figure` out (not registered with
pyplot; the caller saves it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from predictivity.aggregate.mec_criteria import model_criteria

#: Criteria columns of :func:`~predictivity.aggregate.mec_criteria.model_criteria` and labels.
CRITERIA = {
    "fraction_grid": "fraction\ngrid",
    "gridness_q90": "gridness\n(90th pct)",
    "n_modules": "modules",
    "torus": "torus",
}


def _ranks(values: pd.Series) -> pd.Series:
    """Rank 1 = highest; ties share the best rank; NaN last."""
    return values.astype(float).rank(ascending=False, method="min", na_option="bottom")


def mec_criteria_figure(layers: pd.DataFrame, summary: pd.DataFrame, metric: str = "r2") -> Figure:
    """One panel per ``mec`` study: each model's rank by its best layer's ``metric`` (left
    column) and by each grid criterion at its most grid-like layer (other columns), one line per
    model; the x labels give Spearman's ρ between the regression score and each criterion
    across models, the title the recordings' own values.

    Parameters
    ----------
    layers : ``layers.parquet`` rows (``study``, ``model``, ``layer``, ``metric``).
    summary : :func:`~predictivity.aggregate.mec_criteria.mec_criteria_summary` output.
    metric : the regression column (default ``r2``).
    """
    from scipy.stats import spearmanr

    per_model = model_criteria(summary)
    studies = sorted(per_model["study"].unique())
    n = max(len(studies), 1)
    fig = Figure(figsize=(5.2 * n, 4.2), layout="constrained")
    axes = [fig.add_subplot(1, n, i + 1) for i in range(n)]
    for ax, study in zip(axes, studies):
        crit = per_model[(per_model["study"] == study) & (per_model["model"] != "recordings")]
        rec = per_model[(per_model["study"] == study) & (per_model["model"] == "recordings")]
        score = layers[layers["study"] == study].groupby("model")[metric].max().rename("score")
        df = crit.set_index("model").join(score, how="inner")
        if df.empty:
            ax.set_title(f"{study}: no models with both scores")
            ax.set_axis_off()
            continue
        cols = ["score", *CRITERIA]
        ranks = pd.DataFrame({c: _ranks(df[c]) for c in cols})
        x = np.arange(len(cols))
        for model, r in ranks.iterrows():
            ax.plot(x, r.to_numpy(), marker="o", label=model)
        labels = [f"{metric}\n(best layer)"]
        for c in CRITERIA:
            a, b = df["score"].astype(float), df[c].astype(float)
            rho = spearmanr(a, b).statistic if len(df) > 2 and b.nunique() > 1 else np.nan
            labels.append(f"{CRITERIA[c]}\nρ = {rho:.2f}" if np.isfinite(rho) else CRITERIA[c])
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_yticks(np.arange(1, len(df) + 1))
        ax.invert_yaxis()
        ax.set_ylabel("rank (1 = highest)")
        title = study
        if len(rec):
            r0 = rec.iloc[0]
            title += (
                f"\nrecordings: fraction grid {r0['fraction_grid']:.2f}, "
                f"{int(r0['n_modules'])} modules, torus {'yes' if r0['torus'] else 'no'}"
            )
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return fig
