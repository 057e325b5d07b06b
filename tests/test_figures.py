"""Figures: one panel per study, saved PNGs are real and non-empty."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from predictivity.aggregate import figures, metric_figures
from predictivity.aggregate.fits import fits_table
from predictivity.aggregate.metric_agreement import metric_agreement

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N_BOOT = 200


def make_layers():
    rng = np.random.default_rng(0)
    rows = []
    for study, n_models, table in (("auditory", 2, False), ("it", 3, False), ("eb", 3, True)):
        for m in range(n_models):
            model = f"{study}_net{m}" + ("_untrained" if m == 1 else "")
            for i in range(5):
                lp = rng.uniform(0.5, 4.0)
                y = 0.1 + 0.05 * lp + rng.normal(0, 0.02)
                row = dict(
                    study=study,
                    model=model,
                    layer=f"layer{i}",
                    layer_index=i,
                    pr=float(np.exp(lp)),
                    log_pr=lp,
                    trained=[True, False, np.nan][m % 3],
                )
                if table:
                    row.update(score=y, r2=np.nan, pearson_r=np.nan)
                else:
                    t = y + 0.15 + rng.normal(0, 0.02)
                    row.update(
                        r2=y,
                        pearson_r=np.sqrt(y),
                        r2_pooled=y + 0.01,
                        theory_r2=t,
                        empirical_r2_all=t + 0.02,
                    )
                rows.append(row)
    return pd.DataFrame(rows)


def make_theory(layers):
    rows = []
    for _, r in layers[~layers.study.eq("eb")].iterrows():
        for p in (10, 20, 40, 80, 160, 320):
            eg = 1 / (1 + 0.01 * p * r.pr)
            rows.append(
                dict(
                    study=r.study,
                    model=r.model,
                    layer=r.layer,
                    p=p,
                    lambda_reg=0.1,
                    kappa=1.0,
                    gamma=0.5,
                    eg_theory=eg,
                    eg_empirical=eg * 1.05,
                    eg_empirical_sd=0.01,
                    r_em=0.3,
                    d_em=4.0,
                )
            )
    return pd.DataFrame(rows)


def make_spectra(layers):
    rows = []
    for _, r in layers[~layers.study.eq("eb")].iterrows():
        a = 1.0 + 1.0 / r.log_pr
        for k in range(1, 51):
            rows.append(
                dict(
                    study=r.study,
                    model=r.model,
                    layer=r.layer,
                    rank=k,
                    eigenvalue=k**-a,
                    alignment=1 / 50,
                )
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def layers():
    return make_layers()


def panels(fig):
    """Axes other than colorbars."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def check_png(fig, path, min_size=5000):
    assert isinstance(fig, Figure)
    fig.savefig(path, dpi=60)
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > min_size


def test_r2_vs_log_pr(layers, tmp_path):
    fits = fits_table(layers, n_boot=N_BOOT)
    fig = figures.r2_vs_log_pr(layers, fits)
    axes = panels(fig)
    assert [ax.get_title() for ax in axes] == ["auditory", "eb", "it"]  # table study included
    eb = axes[1]
    assert "score" in eb.get_ylabel() and eb.get_xscale() == "log"
    assert any("slope" in t.get_text() for t in eb.texts)
    assert len(eb.collections) >= 4  # 3 models' points + the slope interval's wedge
    # fewer than 5 networks everywhere: dashed lines and a note in every panel
    for ax in axes:
        assert [ln.get_linestyle() for ln in ax.get_lines()] == ["--"]
        assert any("fewer than 5 networks" in t.get_text() for t in ax.texts)
    row = fits[(fits.scope == "eb") & (fits.subset == "all") & (fits.pr_convention == "pr")]
    x, y = eb.get_lines()[0].get_data()
    np.testing.assert_allclose(y, row.intercept.iloc[0] + row.slope.iloc[0] * np.log(x))
    check_png(fig, tmp_path / "r2_vs_log_pr.png")


def test_r2_vs_log_pr_marks_layers_left_out(layers, tmp_path):
    lay = layers.copy()
    lay["is_input"] = lay.layer.eq("layer0") & lay.study.eq("it")
    fits = fits_table(lay, n_boot=N_BOOT)
    fig = figures.r2_vs_log_pr(lay, fits)
    it = panels(fig)[2]
    hollow = [c for c in it.collections if len(c.get_facecolors()) == 0]  # facecolor "none"
    assert sum(len(c.get_offsets()) for c in hollow) == 3  # layer0 of 3 networks
    assert any(t.get_text() == "not in the fit" for t in fig.legends[0].get_texts())
    check_png(fig, tmp_path / "left_out.png")


def test_r2_vs_log_pr_without_trained_column_or_fit(layers, tmp_path):
    lay = layers.drop(columns="trained")
    fig = figures.r2_vs_log_pr(lay, fits_table(lay, n_boot=N_BOOT).iloc[:0])
    assert len(panels(fig)) == 3
    check_png(fig, tmp_path / "nofit.png")


def test_theory_vs_empirical(layers, tmp_path):
    fig = figures.theory_vs_empirical(layers)
    assert [ax.get_title() for ax in panels(fig)] == ["auditory", "it"]  # no theory: no panel
    check_png(fig, tmp_path / "theory_vs_empirical.png")
    labels = [t.get_text() for t in panels(fig)[0].get_legend().get_texts()]
    assert any("empirical_r2_all" in t for t in labels)
    fig = figures.theory_vs_empirical(layers[layers.study == "eb"].dropna(axis=1, how="all"))
    assert len(fig.axes) == 1
    check_png(fig, tmp_path / "empty.png", min_size=1000)


def test_learning_curves(layers, tmp_path):
    fig = figures.learning_curves(make_theory(layers), layers)
    axes = panels(fig)
    assert [ax.get_title() for ax in axes] == ["auditory", "it"]
    assert all(ax.get_xscale() == "log" for ax in axes)
    assert len(axes[1].get_lines()) >= 3  # lowest, median, highest PR layers
    check_png(fig, tmp_path / "learning_curves.png")


def test_spectra(layers, tmp_path):
    fig = figures.spectra(make_spectra(layers), layers)
    axes = panels(fig)
    assert [ax.get_title() for ax in axes] == ["auditory", "it"]
    assert len(fig.axes) == 3  # plus one shared colorbar
    assert all(ax.get_xscale() == ax.get_yscale() == "log" for ax in axes)
    check_png(fig, tmp_path / "spectra.png")


def test_many_studies_grid(tmp_path):
    lay = pd.concat(
        [make_layers().assign(study=lambda d, k=k: d.study + str(k)) for k in range(2)],
        ignore_index=True,
    )
    fig = figures.r2_vs_log_pr(lay, fits_table(lay, n_boot=20))
    assert len(panels(fig)) == 6  # 4 + 2 in a 2×4 grid, empty slots removed
    check_png(fig, tmp_path / "grid.png")


def _with_metrics(layers):
    rng = np.random.default_rng(3)
    lay = layers[layers.study != "eb"].copy()
    for name in ("pls", "rsa", "cka"):
        lay[name] = lay["r2"] + rng.normal(0, 0.05, len(lay))
    lay["is_input"] = lay["layer"] == "layer0"
    return lay


def test_metric_agreement_heatmap(layers, tmp_path):
    lay = _with_metrics(layers)
    agreement = metric_agreement(lay, ["pls", "rsa", "cka"], n_boot=50)
    m = metric_figures.tau_matrix(agreement, "it")
    assert list(m.index) == ["r2", "pls", "rsa", "cka", "log_pr"]
    np.testing.assert_array_equal(m.to_numpy(), m.to_numpy().T)
    row = agreement[(agreement.study == "it") & (agreement.metric_a == "pls")].iloc[-1]
    assert row.metric_b == "log_pr" and m.loc["log_pr", "pls"] == row.tau
    fig = metric_figures.metric_agreement_figure(agreement)
    axes = panels(fig)
    assert [ax.get_title().split("\n")[0] for ax in axes] == ["auditory", "it"]
    assert len(fig.axes) == 3  # plus the shared colorbar
    assert f"{row.tau:.2f}" in [t.get_text().split("\n")[0] for t in axes[1].texts]
    check_png(fig, tmp_path / "metric_agreement.png")
    empty = metric_figures.metric_agreement_figure(agreement.iloc[:0])
    assert len(empty.axes) == 1
    check_png(empty, tmp_path / "empty.png", min_size=1000)


def test_metrics_vs_log_pr(layers, tmp_path):
    lay = _with_metrics(layers)
    agreement = metric_agreement(lay, ["pls", "rsa", "cka", "cca"], n_boot=0)
    fig = metric_figures.metrics_vs_log_pr(lay, agreement, ["pls", "rsa", "cka", "cca"])
    axes = panels(fig)
    assert [ax.get_title() for ax in axes] == [
        metric_figures.LABELS[m] for m in ("r2", "pls", "rsa", "cka")
    ]  # cca absent from the table: no panel
    assert all(ax.get_xscale() == "log" for ax in axes)
    assert len(axes[1].get_lines()) == 2  # one line per study
    # the drawn line has the table's slope
    line = axes[1].get_lines()[1]
    x, y = np.log(line.get_xdata()), line.get_ydata()
    row = agreement[(agreement.study == "it") & (agreement.metric_a == "pls")].iloc[-1]
    assert (y[-1] - y[0]) / (x[-1] - x[0]) == pytest.approx(row.slope)
    assert f"it: r = {row.pearson_r:.2f}" in axes[1].texts[0].get_text()
    check_png(fig, tmp_path / "metrics_vs_log_pr.png")
    empty = metric_figures.metrics_vs_log_pr(lay[["study", "model", "layer", "pr"]], agreement, [])
    assert len(empty.axes) == 1
