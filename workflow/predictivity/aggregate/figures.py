"""Figures of the report (``results/figures/``). Each function returns a matplotlib
:class:`~matplotlib.figure.Figure` with **one panel (axes) per study** — plus, where noted, one
colorbar axes — and never shows or saves it; the calling script saves it.

Studies are laid out in sorted order (the order of the fits table), at most 4 panels per row.
Figures are plain :class:`matplotlib.figure.Figure` objects, not registered with pyplot, so they
render with the Agg canvas whatever the session's backend, need no ``plt.close`` and leak nothing
when many are made; importing this module does not change the global backend.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from predictivity.aggregate.fits import study_metrics, training_status

MARKERS = {"trained": "o", "untrained": "X", "unknown": "s"}
METRIC_LABEL = {
    "r2": "test R² (median over targets)",
    "pearson_r": "Pearson r (median over targets)",
    "score": "score (from the study's table)",
}
#: Panels show a per-model colour legend only up to this many models.
MAX_MODEL_LEGEND = 8


def _panels(n: int, width: float = 4.2, height: float = 3.6) -> tuple[Figure, list]:
    """A figure with exactly ``n`` axes (at least 1), ≤ 4 per row."""
    n = max(n, 1)
    ncols = min(n, 4)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    axes = list(axes.ravel())
    for ax in axes[n:]:
        fig.delaxes(ax)
    return fig, axes[:n]


def _empty(message: str) -> Figure:
    fig, (ax,) = _panels(1)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def _log_x(ax) -> None:
    """Log x axis labelled at 1, 2, 5 × 10^k in plain numbers (no overlapping minor labels)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _studies(df: pd.DataFrame) -> list[str]:
    return sorted(df["study"].astype(str).unique())


def _model_colours(models) -> dict:
    models = list(models)
    pal = sns.color_palette("tab10" if len(models) <= 10 else "husl", len(models))
    return dict(zip(models, pal))


def _fit_row(fits: pd.DataFrame | None, study: str, metric: str):
    """The fit drawn in a study's panel: scope = study, subset ``all``, convention ``pr``."""
    if fits is None or len(fits) == 0:
        return None
    sel = (fits["scope"].astype(str) == study) & (fits["metric"].astype(str) == metric)
    if "subset" in fits.columns:
        sel &= fits["subset"].astype(str) == "all"
    if "pr_convention" in fits.columns:
        sel &= fits["pr_convention"].astype(str) == "pr"
    r = fits[sel]
    return None if r.empty else r.iloc[0]


def _not_fitted(layers: pd.DataFrame, include_inputs: bool) -> pd.Series:
    """Rows the fits leave out: input layers (unless included) and repeated identical layers."""
    out = pd.Series(False, index=layers.index)
    if "is_input" in layers.columns and not include_inputs:
        out |= layers["is_input"].astype("boolean").fillna(False).astype(bool)
    if "duplicate_of" in layers.columns:
        out |= layers["duplicate_of"].notna()
    return out


def r2_vs_log_pr(layers: pd.DataFrame, fits: pd.DataFrame, include_inputs: bool = False) -> Figure:
    """Layer score vs participation ratio, one panel per study (the paper's Fig. 2 layout).

    x: PR on a log axis; y: ``r2`` (computed studies) or ``score`` (``table`` studies).
    Points are coloured by model and shaped by training status (``trained`` column: o trained,
    X untrained, square unknown); hollow points are layers the fits leave out (input layers
    unless ``include_inputs``, and repeats of an identical layer). The line is the study's fit
    from ``fits`` (scope = study, subset ``all``, convention ``pr``, metric as plotted: the mixed
    model's fixed effects, or least squares where ``inference`` says so). The shaded wedge is
    the slope's 95 % interval: the lines through the fit at the mean ln PR of the fitted layers
    with the interval's two slopes (no band is drawn for the intercept, whose interval was not
    calibrated). A fit on fewer than 5 networks (``few_networks``) is drawn dashed and its
    panel says so. The panel states the layer-level r, the slope with its interval and method,
    and the numbers of layers and networks.
    """
    studies = _studies(layers) if len(layers) else []
    if not studies:
        return _empty("no layers to plot")
    fig, axes = _panels(len(studies))
    status = training_status(layers)
    left_out = _not_fitted(layers, include_inputs)
    seen_status, seen_hollow = set(), False
    for ax, study in zip(axes, studies):
        g = layers[layers["study"].astype(str) == study]
        metric = study_metrics(g)[0]
        y = pd.to_numeric(g[metric], errors="coerce")
        pr = pd.to_numeric(g["pr"], errors="coerce")
        ok = y.notna() & (pr > 0)
        models = list(pd.unique(g.loc[ok, "model"].astype(str)))
        colours = _model_colours(models)
        st = status.loc[g.index]
        out = left_out.loc[g.index]
        for m in models:
            for s, marker in MARKERS.items():
                for hollow in (False, True):
                    sel = ok & (g["model"].astype(str) == m) & (st == s) & (out == hollow)
                    if not sel.any():
                        continue
                    seen_status.add(s)
                    seen_hollow |= hollow
                    ax.scatter(
                        pr[sel],
                        y[sel],
                        marker=marker,
                        s=28,
                        alpha=0.85,
                        facecolor="none" if hollow else colours[m],
                        edgecolor=colours[m] if hollow else "none",
                        linewidth=1.0,
                        label=m,
                        zorder=3,
                    )
        row = _fit_row(fits, study, metric)
        if row is not None and np.isfinite(row["slope"]):
            fitted = ok & ~out
            lx = np.log(pr[fitted] if fitted.any() else pr[ok])
            x = np.linspace(lx.min(), lx.max(), 100)
            few = bool(row.get("few_networks", False))
            ax.plot(
                np.exp(x),
                row["intercept"] + row["slope"] * x,
                color="k",
                lw=1.5,
                ls="--" if few else "-",
                zorder=4,
            )
            lo_s, hi_s = row.get("slope_ci_low", np.nan), row.get("slope_ci_high", np.nan)
            if np.isfinite(lo_s) and np.isfinite(hi_s):
                x0 = float(lx.mean())
                y0 = row["intercept"] + row["slope"] * x0
                a, b = y0 + lo_s * (x - x0), y0 + hi_s * (x - x0)
                ax.fill_between(
                    np.exp(x), np.minimum(a, b), np.maximum(a, b), color="k", alpha=0.15, lw=0
                )
                ci = f" [{lo_s:.3f}, {hi_s:.3f}]"
            else:
                ci = " (no interval)"
            method = row.get("inference", "")
            txt = (
                f"r = {row['pearson_r']:.2f} (layers)\nslope = {row['slope']:.3f}{ci}"
                + (f" {method}" if method and method != "none" else "")
                + f"\nn = {int(row['n'])} layers, {int(row['n_models'])} networks"
                + ("\nfewer than 5 networks" if few else "")
            )
        else:
            txt = f"no fit ({int(ok.sum())} layers)"
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
        _log_x(ax)
        ax.set_xlabel("participation ratio (log scale)")
        ax.set_ylabel(METRIC_LABEL[metric])
        ax.set_title(study)
        if 0 < len(models) <= MAX_MODEL_LEGEND:
            handles = [Line2D([], [], ls="", marker="o", color=colours[m], label=m) for m in models]
            ax.legend(handles=handles, fontsize=7, loc="lower right", frameon=False)
    handles = [
        Line2D([], [], ls="", marker=MARKERS[s], color="grey", label=s)
        for s in MARKERS
        if s in seen_status
    ]
    if seen_hollow:
        handles.append(
            Line2D([], [], ls="", marker="o", mfc="none", color="grey", label="not in the fit")
        )
    if handles:
        fig.legend(handles=handles, loc="outside upper center", ncol=len(handles), frameon=False)
    return fig


#: (theory column, empirical column, label) pairs plotted by :func:`theory_vs_empirical`.
THEORY_PAIRS = [
    ("theory_r2", "empirical_r2_all", "all P stimuli: 1−E_g vs empirical_r2_all", "o"),
]


def _has(df: pd.DataFrame, col: str) -> bool:
    return col in df.columns and pd.to_numeric(df[col], errors="coerce").notna().any()


def theory_vs_empirical(layers: pd.DataFrame) -> Figure:
    """Per study, each layer's empirical score against the theory's prediction, identity line.

    The matched pair is plotted (docs/design.md#theory): ``empirical_r2_all`` vs ``theory_r2``
    (both 1 − error over the training folds' stimuli at the same p: the like-for-like
    comparison). If the empirical column is absent, ``r2`` vs ``theory_r2`` is plotted instead.
    Colours are models. Studies without ``theory_r2`` (e.g. ``table`` studies) get no panel.
    The panel states the Spearman rank correlation of the first pair (the theory must get the
    ordering of layers right).
    """
    if not len(layers) or "theory_r2" not in layers.columns:
        return _empty("no study has theory predictions (theory_r2)")
    studies = [
        s for s in _studies(layers) if _has(layers[layers["study"].astype(str) == s], "theory_r2")
    ]
    if not studies:
        return _empty("no study has theory predictions (theory_r2)")
    fig, axes = _panels(len(studies))
    for ax, study in zip(axes, studies):
        g = layers[layers["study"].astype(str) == study]
        pairs = [p for p in THEORY_PAIRS if _has(g, p[0]) and _has(g, p[1])]
        if not pairs:
            pairs = [("theory_r2", "r2", "theory_r2 vs r2 (median test R²)", "o")]
        models = list(pd.unique(g["model"].astype(str)))
        colours = _model_colours(models)
        vals = []
        for tcol, ecol, _label, marker in pairs:
            t = pd.to_numeric(g[tcol], errors="coerce")
            e = pd.to_numeric(g[ecol], errors="coerce")
            ok = t.notna() & e.notna()
            vals += [t[ok].to_numpy(), e[ok].to_numpy()]
            ax.scatter(
                t[ok],
                e[ok],
                c=[colours[m] for m in g.loc[ok, "model"].astype(str)],
                marker=marker,
                s=26,
                alpha=0.85,
                edgecolor="none",
                zorder=3,
            )
        allv = np.concatenate(vals) if vals else np.array([0.0, 1.0])
        lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (0.0, 1.0)
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], ls="--", color="grey", lw=1)
        t0, e0 = (pd.to_numeric(g[c], errors="coerce") for c in pairs[0][:2])
        ok = t0.notna() & e0.notna()
        rho = t0[ok].rank().corr(e0[ok].rank()) if ok.sum() >= 3 else np.nan
        ax.text(
            0.03,
            0.97,
            f"Spearman ρ = {rho:.2f} (n = {int(ok.sum())})",
            transform=ax.transAxes,
            va="top",
            fontsize=8,
        )
        handles = [
            Line2D([], [], ls="", marker=mk, color="grey", label=lab) for _, _, lab, mk in pairs
        ]
        if len(models) <= MAX_MODEL_LEGEND:
            handles += [
                Line2D([], [], ls="", marker="o", color=colours[m], label=m) for m in models
            ]
        ax.legend(handles=handles, fontsize=6.5, loc="lower right", frameon=False)
        ax.set_xlabel("theory prediction (1 − E_g)")
        ax.set_ylabel("empirical R²")
        ax.set_title(study)
    return fig


def _layer_key(df: pd.DataFrame) -> pd.Series:
    return df["model"].astype(str) + "\x1f" + df["layer"].astype(str)


def _with_pr(df: pd.DataFrame, layers: pd.DataFrame, study: str) -> pd.Series:
    """PR per (model, layer) key of ``df`` for one study, NaN where unknown."""
    lay = layers[layers["study"].astype(str) == study] if len(layers) else layers
    if lay is None or not len(lay) or "pr" not in lay.columns:
        return pd.Series(np.nan, index=pd.unique(_layer_key(df)))
    pr = pd.Series(pd.to_numeric(lay["pr"], errors="coerce").to_numpy(), index=_layer_key(lay))
    pr = pr[~pr.index.duplicated()]
    return pr.reindex(pd.unique(_layer_key(df)))


def learning_curves(theory: pd.DataFrame, layers: pd.DataFrame) -> Figure:
    """Theory (lines) and empirical (points ± s.d. over training subsets) learning curves.

    ``theory``: the concatenated ``results/theory/{study}/{model}.parquet`` with ``study`` and
    ``model`` columns (layer, p, eg_theory, eg_empirical, eg_empirical_sd, ...). One panel per
    study; three layers per study: the lowest, median and highest PR (PR from ``layers``; if it
    is unknown, the first, middle and last layer in table order). x = train size p (log).
    """
    if theory is None or not len(theory):
        return _empty("no learning curves to plot")
    studies = _studies(theory)
    fig, axes = _panels(len(studies))
    for ax, study in zip(axes, studies):
        g = theory[theory["study"].astype(str) == study].copy()
        g["_key"] = _layer_key(g).to_numpy()
        pr = _with_pr(g, layers, study)
        if pr.notna().any():
            order = list(pr.dropna().sort_values(kind="stable").index)
        else:
            order = list(pr.index)
        picks = list(dict.fromkeys([order[0], order[len(order) // 2], order[-1]]))
        colours = sns.color_palette("viridis", len(picks))
        for c, key in zip(colours, picks):
            d = g[g["_key"] == key].sort_values("p")
            model, layer = key.split("\x1f", 1)
            lab = f"{model} / {layer}" + (f" (PR {pr[key]:.1f})" if np.isfinite(pr[key]) else "")
            p = pd.to_numeric(d["p"], errors="coerce")
            ax.plot(p, d["eg_theory"], color=c, lw=1.5, label=lab)
            if "eg_empirical" in d.columns:
                sd = d["eg_empirical_sd"] if "eg_empirical_sd" in d.columns else None
                ax.errorbar(
                    p, d["eg_empirical"], yerr=sd, color=c, ls="", marker="o", ms=3.5, capsize=2
                )
        _log_x(ax)
        ax.set_xlabel("training stimuli p (log scale)")
        ax.set_ylabel("E_g (error / variance, all P stimuli)")
        ax.set_title(study)
        handles, labels = ax.get_legend_handles_labels()
        handles += [
            Line2D([], [], color="grey", lw=1.5),
            Line2D([], [], color="grey", ls="", marker="o", ms=3.5),
        ]
        labels += ["theory", "empirical ± s.d."]
        ax.legend(handles, labels, fontsize=6.5, frameon=False)
    return fig


def spectra(spectra: pd.DataFrame, layers: pd.DataFrame) -> Figure:
    """Eigenvalue spectra, log-log, one curve per layer, coloured by the layer's PR.

    ``spectra``: the concatenated ``results/spectra/{study}/{model}.parquet`` with ``study`` and
    ``model`` columns (layer, rank, eigenvalue, alignment). Eigenvalues are divided by their sum
    per layer (PR is scale-free, and untrained deep layers shrink in overall scale), so the
    curves compare shapes; non-positive eigenvalues are not drawn. One colorbar (PR, log
    scale, shared by all panels) is added as an extra axes; layers with unknown PR are grey.
    """
    if spectra is None or not len(spectra):
        return _empty("no spectra to plot")
    studies = _studies(spectra)
    fig, axes = _panels(len(studies))
    all_pr = pd.to_numeric(layers["pr"], errors="coerce") if len(layers) else pd.Series([])
    all_pr = all_pr[all_pr > 0]
    norm = (
        LogNorm(vmin=float(all_pr.min()), vmax=float(max(all_pr.max(), all_pr.min() * 1.01)))
        if len(all_pr)
        else LogNorm(vmin=1, vmax=10)
    )
    cmap = matplotlib.colormaps["viridis"]
    for ax, study in zip(axes, studies):
        g = spectra[spectra["study"].astype(str) == study].copy()
        g["_key"] = _layer_key(g).to_numpy()
        pr = _with_pr(g, layers, study)
        segs, cols = [], []
        for key, d in g.groupby("_key", sort=False):
            d = d.sort_values("rank")
            ev = pd.to_numeric(d["eigenvalue"], errors="coerce").to_numpy(dtype=float)
            rank = pd.to_numeric(d["rank"], errors="coerce").to_numpy(dtype=float)
            tot = np.nansum(ev[ev > 0])
            ok = (ev > 0) & np.isfinite(ev) & (rank > 0)
            if tot <= 0 or ok.sum() < 2:
                continue
            segs.append(np.column_stack([rank[ok], ev[ok] / tot]))
            v = pr.get(key, np.nan)
            cols.append(cmap(norm(v)) if np.isfinite(v) and v > 0 else (0.6, 0.6, 0.6, 1.0))
        if segs:
            ax.add_collection(LineCollection(segs, colors=cols, linewidths=1.0, alpha=0.8))
            pts = np.vstack(segs)
            ax.set_xlim(pts[:, 0].min() * 0.8, pts[:, 0].max() * 1.25)
            ax.set_ylim(pts[:, 1].min() * 0.5, pts[:, 1].max() * 2.0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rank i")
        ax.set_ylabel("λ_i / Σλ")
        ax.set_title(study)
    sm_ = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm_, ax=axes, label="participation ratio", shrink=0.9)
    return fig
