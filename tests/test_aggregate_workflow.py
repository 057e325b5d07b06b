"""The aggregate stages end to end: a `table` study beside a computed one, input layers and
identical layers, the fits table's scopes and conventions, figures and the report."""

import runpy
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import yaml
from conftest import REPO, run_snakemake, write_study

from predictivity.core.controls.summary import LAYER_CONTROL_COLUMNS, layer_control_columns
from predictivity.scripting import mock_snakemake

pytestmark = pytest.mark.workflow


def _table(path, n_models=3, n_layers=4, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(n_models):
        for k in range(n_layers):
            ed = float(np.exp(rng.uniform(0.5, 3.0)))
            rows.append(
                {
                    "arch": f"net{m}|{'Untrained' if m == 0 else 'Supervised'}",
                    "layer_name": f"l{k}",
                    "ED": ed,
                    "encoding_score": 0.1 + 0.05 * np.log(ed) + rng.normal(0, 0.01),
                    "region": "IT" if k < 3 else "V4",
                }
            )
    pd.DataFrame(rows).to_csv(path, index=False)


def test_table_study_enters_fits_figures_and_report(tmp_path):
    work = tmp_path / "w"
    cfg = write_study(work / "data", models=("m1", "m2"))
    # m2's L1 is m1's L1 (identical activations); L0 is declared the input of both
    m1, m2 = (dict(np.load(work / f"data/{m}.npz")) for m in ("m1", "m2"))
    m2["L1"] = m1["L1"]
    np.savez(work / "data/m2.npz", **m2)
    cfg["studies"]["toy"]["input_layers"] = {"m1": ["L0"], "m2": ["L0"]}
    _table(work / "data/published.csv")
    cfg["studies"]["paper"] = {
        "kind": "table",
        "path": "data/published.csv",
        "columns": {"model": "arch", "layer": "layer_name", "pr": "ED", "score": "encoding_score"},
        "filter": {"region": "IT"},
    }
    cfg["fits"] = {"n_boot": 50, "seed": 0}
    run_snakemake(work, cfg)
    fits = pd.read_parquet(work / "results/tables/fits.parquet")
    paper = fits[(fits["scope"] == "paper") & (fits["subset"] == "all")]
    assert list(paper["metric"]) == ["score"] and list(paper["pr_convention"]) == ["pr"]
    assert int(paper["n"].iloc[0]) == 9  # 3 models × 3 IT layers after the filter
    assert paper["slope"].iloc[0] == pytest.approx(0.05, abs=0.01)
    layers = pd.read_parquet(work / "results/tables/layers.parquet")
    assert list(layers["is_input"]) == [True, False, False, True, False, False]
    assert list(layers["duplicate_of"].fillna("")) == ["", "", "", "", "m1/L1", ""]
    toy = fits[(fits["scope"] == "toy") & (fits["preset"] == "")]
    assert set(toy["metric"]) == {"r2", "r2_mean", "r2_pooled", "pearson_r"}
    assert set(toy["pr_convention"]) == {"pr", "pr_uncentred", "pr_double_centred"}
    assert list(dict.fromkeys(toy["subset"])) == [
        "all",
        "without:m1",
        "without:m2",
        "model:m1",
        "model:m2",
    ]
    main = toy[(toy["subset"] == "all") & (toy["pr_convention"] == "pr")]
    assert (main["n"] == 3).all() and main["few_networks"].all()  # m1 L1, L2; m2 L2
    # without m1, m2's copy of L1 counts
    assert (toy[toy["subset"] == "without:m1"]["n"] == 2).all()
    assert set(fits["inference"]) <= {"mixed", "bootstrap", "none"}
    _check_metrics(work, layers)
    _check_controls(work, layers, fits)
    _check_presets(layers, fits)
    _check_best_layer(work, layers)
    for name in (
        "r2_vs_log_pr",
        "theory_vs_empirical",
        "learning_curves",
        "spectra",
        "metric_agreement",
        "metrics_vs_log_pr",
        "mec_criteria",  # no mec study: a placeholder
        "reshaping",
        "decomposition",
    ):
        png = (work / f"results/figures/{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
        assert (work / f"results/figures/{name}.svg").stat().st_size > 1000
    report = run_snakemake(work, cfg, "--report", "results/report.html")
    html = work / "results/report.html"
    assert html.exists() and html.stat().st_size > 10000, report.output[-2000:]


MEASURES = ["pls", "rsa", "cka", "procrustes", "cca"]


def _check_metrics(work, layers):
    """layers.parquet has one column per measure (its score) and metric_agreement.parquet the
    rank agreement of r2, the measures and ln PR over the layers the fits use."""
    for model in ("m1", "m2"):
        long = pd.read_parquet(work / f"results/metrics/toy/{model}.parquet")
        mine = layers[layers["model"] == model].set_index("layer")
        for name in MEASURES:
            score = long[long["metric"] == name].set_index("layer")["score"]
            np.testing.assert_array_equal(mine[name], score.reindex(mine.index))
    agreement = pd.read_parquet(work / "results/tables/metric_agreement.parquet")
    fitted = layers[~layers["is_input"] & layers["duplicate_of"].isna()]
    names = ["r2", *MEASURES, "log_pr"]
    assert len(agreement) == len(names) * (len(names) - 1) // 2
    for row in agreement.itertuples():
        a, b = fitted[row.metric_a].to_numpy(), fitted[row.metric_b].to_numpy()
        ok = np.isfinite(a) & np.isfinite(b)
        assert row.n_layers == ok.sum() == 3 and row.n_models == 2
        assert row.tau == pytest.approx(scipy.stats.kendalltau(a[ok], b[ok]).statistic)
        if row.metric_b == "log_pr":
            assert row.slope == pytest.approx(np.polyfit(b[ok], a[ok], 1)[0])
    assert {"tau_boot_low", "tau_boot_high"} <= set(agreement.columns)


def _check_presets(layers, fits):
    """Each paper preset has its rows (its score as metric, its PR convention) for the computed
    study and none for the table study; the scores are the regression table's."""
    from predictivity.aggregate.presets import PRESETS

    for name, p in PRESETS.items():
        rows = fits[fits["preset"] == name]
        assert set(rows["scope"]) == {"toy", "pooled"}
        assert set(rows["metric"]) == {p["metric"]}
        assert set(rows["pr_convention"]) == {p["pr_convention"]}
        toy = rows[rows["scope"] == "toy"]
        assert list(toy["subset"]) == ["all", "without:m1", "without:m2", "model:m1", "model:m2"]
        assert layers[p["metric"]].notna().all()


def _check_best_layer(work, layers):
    """best_layer.parquet: per network, the layer chosen on inner folds; its test-selected score
    is the layers table's best r2 (inputs left out), and the per-fold table averages to the
    regression table."""
    best = pd.read_parquet(work / "results/tables/best_layer.parquet")
    assert list(best["model"]) == ["m1", "m2"] and (best["study"] == "toy").all()
    for row in best.itertuples():
        mine = layers[(layers["model"] == row.model) & ~layers["is_input"]]
        assert row.n_layers == len(mine) == 2 and row.n_folds == 5
        assert row.r2_test_selected == pytest.approx(mine["r2"].max(), abs=1e-12)
        assert row.test_selected_layer == mine.loc[mine["r2"].idxmax(), "layer"]
        assert set(row.layer_per_fold.split(",")) <= set(mine["layer"])
        assert row.r2 <= row.r2_test_selected + 1e-12
        assert row.selection_optimism == pytest.approx(row.r2_test_selected - row.r2)
        folds = pd.read_parquet(work / f"results/regression/toy/{row.model}.folds.parquet")
        reg = pd.read_parquet(work / f"results/regression/toy/{row.model}.parquet")
        assert folds[["cv_sse", "cv_sst"]].notna().all(axis=None)
        assert (folds["cv_sse"] >= 0).all() and (folds["cv_sst"] > 0).all()
        mean = folds.groupby(["layer", "target"])["r2"].mean()
        np.testing.assert_allclose(mean.to_numpy(), reg.set_index(["layer", "target"])["r2"]
                                   .reindex(mean.index).to_numpy(), rtol=1e-12)  # fmt: skip


def _check_controls(work, layers, fits):
    """layers.parquet has the controls' per-layer columns and the decomposition; the
    decomposition table's theory share is the fits table's (same layers)."""
    frames = []
    for model in ("m1", "m2"):
        df = pd.read_parquet(work / f"results/controls/toy/{model}.parquet")
        frames.append(df.assign(study="toy", model=model))
    direct = layer_control_columns(pd.concat(frames, ignore_index=True))
    got = layers.merge(direct, on=["study", "model", "layer"], suffixes=("", "_direct"))
    assert len(got) == len(layers) == 6
    for c in LAYER_CONTROL_COLUMNS:
        np.testing.assert_array_equal(got[c], got[f"{c}_direct"])
    # theory_r2_profile reproduces the theory stage's theory_r2 (docs/controls.md)
    np.testing.assert_allclose(layers["theory_r2_profile"], layers["theory_r2"], rtol=1e-6)
    assert layers[["theory_r2_spectrum_only", "theory_r2_alignment_only"]].notna().all(axis=None)
    dec = pd.read_parquet(work / "results/tables/decomposition.parquet")
    assert list(dec["scope"]) == ["toy"]
    main = fits[
        (fits.scope == "toy")
        & (fits.subset == "all")
        & (fits.pr_convention == "pr")
        & (fits.metric == "r2")
    ]
    assert dec["theory_r2_variance_explained"].iloc[0] == pytest.approx(
        main["theory_r2_variance_explained"].iloc[0]
    )


def _script_main(name):
    return runpy.run_path(str(REPO / "scripts" / name))["main"]


def test_mec_criteria_table_and_layer_columns(tmp_path):
    """scripts/mec_criteria_table.py summarises per-unit tables; scripts/layers_table.py joins
    fraction_grid and n_modules onto the matching layers (the recordings left out) and leaves
    every other column as the workflow wrote it."""
    work = tmp_path / "w"
    cfg = write_study(work / "data", models=("m1",))
    cfg["fits"] = {"n_boot": 20}
    run_snakemake(work, cfg, "results/tables/layers.parquet")
    units = {
        "m1": pd.DataFrame(
            {
                "layer": ["L1", "L1", "L1", "L2"],
                "gridness": [0.9, 0.8, 0.1, np.nan],
                "gridness_corrected": [0.9, 0.8, 0.1, np.nan],
                "spacing": [0.3, 0.6, 0.5, np.nan],
                "gridness_threshold": 0.3,
                "is_grid": pd.array([True, True, False, pd.NA], dtype="boolean"),
                "module": pd.array([0, 1, pd.NA, pd.NA], dtype="Int64"),
            }
        ),
        "recordings": pd.DataFrame(
            {
                "layer": ["cells"] * 2,
                "gridness": [1.0, 1.2],
                "gridness_corrected": [1.0, 1.2],
                "spacing": [0.3, 0.42],
                "gridness_threshold": 0.3,
                "is_grid": pd.array([True, True], dtype="boolean"),
                "module": pd.array([0, 0], dtype="Int64"),
            }
        ),
    }
    topo_cols = ["layer", "module", "h0", "h1", "h1_second", "h2", "betti_0", "betti_1"]
    topology = pd.DataFrame(columns=[*topo_cols, "betti_2", "torus"])
    paths = {}
    for model, df in units.items():
        paths[model] = (work / f"{model}.parquet", work / f"{model}.topology.parquet")
        df.to_parquet(paths[model][0])
        topology.to_parquet(paths[model][1])
    summary_path = work / "mec_criteria.parquet"
    _script_main("mec_criteria_table.py")(
        SimpleNamespace(
            input=SimpleNamespace(
                units=[str(p[0]) for p in paths.values()],
                topology=[str(p[1]) for p in paths.values()],
            ),
            params=SimpleNamespace(entries=[{"study": "toy", "model": m} for m in paths]),
            output=[str(summary_path)],
        )
    )
    summary = pd.read_parquet(summary_path)
    assert list(zip(summary["model"], summary["layer"])) == [
        ("m1", "L1"),
        ("m1", "L2"),
        ("recordings", "cells"),
    ]
    assert list(summary["n_modules"]) == [2, 0, 1]
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    smk = mock_snakemake("layers_table", configfiles=work / "config.yaml", workdir=work)
    out = work / "layers_mec.parquet"
    _script_main("layers_table.py")(
        SimpleNamespace(
            input=SimpleNamespace(
                **{k: list(smk.input[k]) for k in smk.input.keys()}
                | {"mec_criteria": [str(summary_path)]}
            ),
            params=smk.params,
            output=[str(out)],
        )
    )
    before = pd.read_parquet(work / "results/tables/layers.parquet")
    after = pd.read_parquet(out)
    pd.testing.assert_frame_equal(after[before.columns], before)
    assert list(after.columns) == [*before.columns, "fraction_grid", "n_modules"]
    np.testing.assert_allclose(after["fraction_grid"], [np.nan, 2 / 3, np.nan])
    assert after["n_modules"].tolist()[1:] == [2, 0] and pd.isna(after["n_modules"].iloc[0])


def test_table_study_with_missing_column_fails_cleanly(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    (work / "data").mkdir()
    _table(work / "data/published.csv")
    cfg = {
        "studies": {
            "paper": {
                "kind": "table",
                "path": "data/published.csv",
                "columns": {
                    "model": "arch",
                    "layer": "layer_name",
                    "pr": "EDX",
                    "score": "encoding_score",
                },
            }
        }
    }
    proc = run_snakemake(work, cfg, check=False)
    assert proc.returncode != 0
    assert "data/published.csv" in proc.output and "EDX" in proc.output
    assert not (work / "results/tables/studies/paper.parquet").exists()


def test_only_a_table_study_runs(tmp_path):
    work = tmp_path / "w"
    (work / "data").mkdir(parents=True)
    _table(work / "data/published.csv", n_models=4)
    cfg = {
        "studies": {
            "paper": {
                "kind": "table",
                "path": "data/published.csv",
                "columns": {
                    "model": "arch",
                    "layer": "layer_name",
                    "pr": "ED",
                    "score": "encoding_score",
                },
            }
        },
        "fits": {"n_boot": 50},
    }
    run_snakemake(work, cfg)
    fits = pd.read_parquet(work / "results/tables/fits.parquet")
    assert set(fits["scope"]) == {"paper"}
    main = fits[fits["subset"] == "all"]
    assert len(main) == 1 and main["n_models"].iloc[0] == 4 and main["few_networks"].iloc[0]
    assert (work / "results/figures/r2_vs_log_pr.png").exists()
