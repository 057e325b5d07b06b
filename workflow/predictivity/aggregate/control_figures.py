"""Figures of the controls (``docs/controls.md``): ``reshaping`` and ``decomposition``.

Each function returns a matplotlib :class:`~matplotlib.figure.Figure` with one panel per study
(sorted, at most 4 per row) and never shows or saves it; plain Figure objects, not registered
with pyplot (no global backend change, nothing to close).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from predictivity.aggregate.figures import _empty, _log_x, _panels
from predictivity.aggregate.figures import _model_colours as _colours
from predictivity.core.controls.summary import decomposition_shares

__all__ = ["reshaping", "decomposition"]


def _text(ax, txt: str) -> None:
    ax.text(
        0.03,
        0.97,
        txt,
        transform=ax.transAxes,
        va="top",
        ha="left",
        fontsize=8,
        bbox=dict(boxstyle="round", fc="white", alpha=0.8, lw=0),
    )


def reshaping(layers: pd.DataFrame, controls: pd.DataFrame) -> Figure:
    """Per study, each layer's R² vs PR path as the reshaping exponent γ varies, over the
    cross-layer scatter of ``r2_vs_log_pr``.

    ``layers``: the layers table (``study, model, layer, pr, r2``); ``controls``: the controls
    tables of the study's models concatenated with ``study`` and ``model`` columns. The scatter
    is each layer's (``pr``, ``r2``). A path joins the layer's reshaped scores in γ order; its x
    is the layer's ``pr`` times the PR ratio of the reshaped to the unreshaped training
    activations (the controls' PR is measured on the training folds), so every path passes
    through its layer's point at γ = 1. Open circles mark γ = min (whitened at 0), triangles
    γ = max; ``+`` the layer with noise units appended (PR inflation), where present.
    """
    need = {"study", "model", "layer", "pr", "r2"}
    if len(layers) == 0 or not need <= set(layers.columns) or len(controls) == 0:
        return _empty("no controls to plot")
    studies = sorted(set(layers["study"].astype(str)) & set(controls["study"].astype(str)))
    if not studies:
        return _empty("no study has both layers and controls")
    fig, axes = _panels(len(studies))
    keys = ["study", "model", "layer"]
    for ax, study in zip(axes, studies):
        lay = layers[layers["study"].astype(str) == study]
        ctl = controls[controls["study"].astype(str) == study]
        models = list(pd.unique(lay["model"].astype(str)))
        colours = _colours(models)
        ax.scatter(lay["pr"], lay["r2"], color="0.55", s=22, zorder=3, edgecolor="none")
        spread = []
        for (_, model, layer), g in ctl.groupby(keys, sort=False):
            row = lay[(lay["model"].astype(str) == str(model)) & (lay["layer"] == layer)]
            own = g[g["control"] == "layer"]
            if row.empty or own.empty or not own["pr"].iloc[0] > 0:
                continue
            scale = float(row["pr"].iloc[0]) / float(own["pr"].iloc[0])
            rs = g[g["control"] == "reshape"].sort_values("gamma")
            if rs.empty:
                continue
            c = colours.get(str(model), "k")
            x, y = rs["pr"].to_numpy() * scale, rs["r2"].to_numpy()
            ax.plot(x, y, color=c, lw=0.9, alpha=0.7, zorder=2)
            ax.plot(x[0], y[0], "o", mfc="none", mec=c, ms=4, zorder=4)
            ax.plot(x[-1], y[-1], "^", color=c, ms=4, zorder=4)
            spread.append(np.nanmax(y) - np.nanmin(y))
            inf = g[g["control"] == "inflated"]
            if not inf.empty:
                ax.plot(inf["pr"].iloc[0] * scale, inf["r2"].iloc[0], "+", color=c, ms=6, zorder=4)
        if spread:
            _text(
                ax,
                f"{len(spread)} layers\nR² range over γ: median {np.median(spread):.3f}, "
                f"max {np.max(spread):.3f}",
            )
        _log_x(ax)
        ax.set_xlabel("participation ratio (log scale)")
        ax.set_ylabel("test R² (median over targets)")
        ax.set_title(study)
        if 0 < len(models) <= 8:
            handles = [Line2D([], [], color=colours[m], label=m) for m in models]
            ax.legend(handles=handles, fontsize=7, loc="lower right", frameon=False)
    gam = pd.to_numeric(controls.loc[controls["control"] == "reshape", "gamma"], errors="coerce")
    lo, hi = (f"{gam.min():g}", f"{gam.max():g}") if gam.notna().any() else ("min", "max")
    handles = [
        Line2D([], [], ls="", marker="o", color="0.55", label="layer (γ = 1)"),
        Line2D([], [], ls="", marker="o", mfc="none", mec="k", label=f"γ = {lo}"),
        Line2D([], [], ls="", marker="^", color="k", label=f"γ = {hi}"),
        Line2D([], [], ls="", marker="+", color="k", label="PR-inflated"),
    ]
    fig.legend(handles=handles, loc="outside upper center", ncol=len(handles), frameon=False)
    return fig


#: (column, label, marker, colour) of the predictions :func:`decomposition` plots.
PREDICTIONS = [
    ("theory_r2", "theory (own spectrum and alignment)", "o", "k"),
    ("theory_r2_spectrum_only", "spectrum only", "s", "tab:blue"),
    ("theory_r2_alignment_only", "alignment only", "^", "tab:orange"),
]
_SHARE = {
    "theory_r2": "theory_r2_variance_explained",
    "theory_r2_spectrum_only": "spectrum_only_variance_explained",
    "theory_r2_alignment_only": "alignment_only_variance_explained",
}


def decomposition(layers: pd.DataFrame, metric: str = "r2") -> Figure:
    """Per study, the empirical score (``metric``) of each layer against three theory
    predictions: ``theory_r2`` (the layer's own spectrum and alignment), spectrum-only (its own
    spectrum, the study's mean alignment profile) and alignment-only (its own alignment, the
    study's mean spectrum). The panel states each prediction's share of the across-layer
    variance of the score (squared correlation,
    :func:`predictivity.core.controls.summary.decomposition_shares`).
    """
    cols = [c for c, *_ in PREDICTIONS if c in layers.columns]
    if len(layers) == 0 or metric not in layers.columns or not cols:
        return _empty("no decomposition to plot")
    studies = sorted(layers["study"].astype(str).unique())
    fig, axes = _panels(len(studies))
    shares = decomposition_shares(layers, metric).set_index("scope")
    for ax, study in zip(axes, studies):
        g = layers[layers["study"].astype(str) == study]
        y = pd.to_numeric(g[metric], errors="coerce")
        lines = []
        for col, label, marker, colour in PREDICTIONS:
            if col not in g.columns:
                continue
            x = pd.to_numeric(g[col], errors="coerce")
            ax.scatter(x, y, marker=marker, color=colour, s=20, alpha=0.8, edgecolor="none")
            share = shares.loc[study, _SHARE[col]] if study in shares.index else np.nan
            lines.append(f"{label}: {share:.2f}" if np.isfinite(share) else f"{label}: –")
        _text(ax, "variance of the score explained\n" + "\n".join(lines))
        ax.set_xlabel("theory prediction 1 − E_g (training folds)")
        ax.set_ylabel("test R² (median over targets)" if metric == "r2" else metric)
        ax.set_title(study)
    handles = [
        Line2D([], [], ls="", marker=m, color=c, label=lab)
        for col, lab, m, c in PREDICTIONS
        if col in layers.columns
    ]
    fig.legend(handles=handles, loc="outside upper center", ncol=len(handles), frameon=False)
    return fig
