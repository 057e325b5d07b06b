"""Issue "Cross-study aggregate": a `table` study beside a computed one, figures and the report."""

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
    paper = fits[(fits["scope"] == "paper")]
    assert list(paper["metric"]) == ["score"]
    assert int(paper["n"].iloc[0]) == 9  # 3 models × 3 IT layers after the filter
    assert paper["slope"].iloc[0] == pytest.approx(0.05, abs=0.01)
    toy = fits[fits["scope"] == "toy"]
    assert set(toy["metric"]) == {"r2", "pearson_r"}
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
    assert (work / "results/figures/r2_vs_log_pr.png").exists()
