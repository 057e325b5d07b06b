"""Figures of the similarity measures (docs/metrics.md): ``metric_agreement`` (Kendall τ between
the layer rankings of every pair of measures, one heatmap per study) and ``metrics_vs_log_pr``
(each measure against PR, one panel per measure, points coloured by study).

Pure: DataFrames in, a matplotlib :class:`~matplotlib.figure.Figure` out (not registered with
pyplot; the caller saves it), like :mod:`predictivity.aggregate.figures`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from predictivity.aggregate.figures import _empty, _log_x, _not_fitted, _panels, _studies
from predictivity.aggregate.metric_agreement import LOG_PR

LABELS = {
    "r2": "ridge R²",
    "pls": "PLS r",
    "rsa": "RSA ρ",
    "cka": "linear CKA",
    "procrustes": "Procrustes similarity",
    "cca": "SVCCA",
    LOG_PR: "ln PR",
}


def tau_matrix(agreement: pd.DataFrame, study: str) -> pd.DataFrame:
    """A study's τ as a symmetric matrix over its quantities (order of first appearance in the
    table), 1 on the diagonal, NaN where a pair has no τ."""
    rows = agreement[agreement["study"].astype(str) == study]
    names = list(dict.fromkeys([*rows["metric_a"], *rows["metric_b"]]))
    names = [n for n in names if n != LOG_PR] + ([LOG_PR] if LOG_PR in names else [])
    m = pd.DataFrame(np.nan, index=names, columns=names)
    for r in rows.itertuples():
        m.loc[r.metric_a, r.metric_b] = m.loc[r.metric_b, r.metric_a] = r.tau
    for n in names:
        m.loc[n, n] = 1.0
    return m


def metric_agreement_figure(agreement: pd.DataFrame) -> Figure:
    """One heatmap per study of Kendall τ between the layer rankings of every pair of
    quantities (``r2``, the measures, ``log_pr``), from ``metric_agreement.parquet``. Each cell
    prints τ and, below it, the spread of τ over resampled models (``tau_boot_low`` to
    ``tau_boot_high``; not a calibrated interval). The panel title gives the layers and models."""
    if agreement is None or not len(agreement):
        return _empty("no measures to compare (metric_agreement.parquet is empty)")
    studies = _studies(agreement)
    size = max(len(tau_matrix(agreement, s)) for s in studies)
    fig, axes = _panels(len(studies), width=0.8 * size + 1.6, height=0.8 * size + 1.2)
    cmap = sns.color_palette("vlag", as_cmap=True)
    image = None
    for ax, study in zip(axes, studies):
        m = tau_matrix(agreement, study)
        rows = agreement[agreement["study"].astype(str) == study]
        spread = {}
        for r in rows.itertuples():
            if np.isfinite(r.tau_boot_low) and np.isfinite(r.tau_boot_high):
                spread[(r.metric_a, r.metric_b)] = (r.tau_boot_low, r.tau_boot_high)
        image = ax.imshow(m.to_numpy(dtype=float), cmap=cmap, vmin=-1, vmax=1)
        for i, a in enumerate(m.index):
            for j, b in enumerate(m.columns):
                v = m.iat[i, j]
                if i == j or not np.isfinite(v):
                    continue
                lo_hi = spread.get((a, b)) or spread.get((b, a))
                txt = f"{v:.2f}" + (f"\n{lo_hi[0]:.2f}…{lo_hi[1]:.2f}" if lo_hi else "")
                ax.text(j, i, txt, ha="center", va="center", fontsize=6.5)
        labels = [LABELS.get(n, n) for n in m.index]
        ax.set_xticks(range(len(m)), labels, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(m)), labels, fontsize=7)
        n_layers = int(rows["n_layers"].max()) if len(rows) else 0
        n_models = int(rows["n_models"].max()) if len(rows) else 0
        ax.set_title(f"{study}\n{n_layers} layers, {n_models} models", fontsize=9)
    fig.colorbar(image, ax=axes, label="Kendall τ (layer rankings)", shrink=0.8)
    return fig


def metrics_vs_log_pr(
    layers: pd.DataFrame,
    agreement: pd.DataFrame,
    metrics: list[str],
    include_inputs: bool = False,
) -> Figure:
    """One panel per measure (``r2`` first, then ``metrics`` present in ``layers``): each
    layer's score against its PR (log axis), coloured by study; hollow points are layers the
    fits leave out (input layers unless ``include_inputs``, repeats of an identical layer). Each
    study's least-squares line over the fitted layers is drawn with the ``slope`` of the
    agreement table's ``(measure, log_pr)`` row through the fitted layers' means, and the
    panel lists each study's layer-level r (no interval)."""
    names = [m for m in ["r2", *[m for m in metrics if m != "r2"]] if m in layers.columns]
    names = [m for m in names if pd.to_numeric(layers[m], errors="coerce").notna().any()]
    if not len(layers) or not names:
        return _empty("no layer has a similarity measure to plot")
    fig, axes = _panels(len(names))
    studies = _studies(layers)
    pal = sns.color_palette("tab10" if len(studies) <= 10 else "husl", len(studies))
    colours = dict(zip(studies, pal))
    left_out = _not_fitted(layers, include_inputs)
    pr = pd.to_numeric(layers["pr"], errors="coerce")
    for ax, name in zip(axes, names):
        y = pd.to_numeric(layers[name], errors="coerce")
        ok = y.notna() & (pr > 0)
        lines = []
        for study in studies:
            sel = ok & (layers["study"].astype(str) == study)
            if not sel.any():
                continue
            for hollow in (False, True):
                s = sel & (left_out == hollow)
                if s.any():
                    ax.scatter(
                        pr[s],
                        y[s],
                        s=22,
                        alpha=0.8,
                        facecolor="none" if hollow else colours[study],
                        edgecolor=colours[study] if hollow else "none",
                        linewidth=1.0,
                        zorder=3,
                    )
            row = agreement[
                (agreement["study"].astype(str) == study)
                & (agreement["metric_a"] == name)
                & (agreement["metric_b"] == LOG_PR)
            ]
            fitted = sel & ~left_out
            if len(row) and np.isfinite(row["slope"].iloc[0]) and fitted.sum() >= 3:
                lx = np.log(pr[fitted].to_numpy())
                x = np.linspace(lx.min(), lx.max(), 50)
                slope = float(row["slope"].iloc[0])
                ax.plot(
                    np.exp(x),
                    y[fitted].mean() + slope * (x - lx.mean()),
                    color=colours[study],
                    lw=1.3,
                    zorder=4,
                )
                lines.append(f"{study}: r = {row['pearson_r'].iloc[0]:.2f}")
        if lines:
            ax.text(
                0.03,
                0.97,
                "\n".join(lines),
                transform=ax.transAxes,
                va="top",
                fontsize=7,
                bbox=dict(boxstyle="round", fc="white", alpha=0.8, lw=0),
            )
        _log_x(ax)
        ax.set_xlabel("participation ratio (log scale)")
        ax.set_ylabel(LABELS.get(name, name))
        ax.set_title(LABELS.get(name, name))
    handles = [
        Line2D([], [], ls="", marker="o", color=colours[s], label=s)
        for s in studies
        if s in set(layers.loc[pr > 0, "study"].astype(str))
    ]
    if left_out.any():
        handles.append(
            Line2D([], [], ls="", marker="o", mfc="none", color="grey", label="not in the fit")
        )
    fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 6))
    return fig
