"""The aggregate stages end to end: a `table` study beside a computed one, input layers and
identical layers, the fits table's scopes and conventions, figures and the report."""

import numpy as np
import pandas as pd
import pytest
from conftest import run_snakemake, write_study

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
    toy = fits[fits["scope"] == "toy"]
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
    for name in ("r2_vs_log_pr", "theory_vs_empirical", "learning_curves", "spectra"):
        png = (work / f"results/figures/{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
        assert (work / f"results/figures/{name}.svg").stat().st_size > 1000
    report = run_snakemake(work, cfg, "--report", "results/report.html")
    html = work / "results/report.html"
    assert html.exists() and html.stat().st_size > 10000, report.output[-2000:]


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
