"""End-to-end runs of the real workflow on a small precomputed study."""

import numpy as np
import pandas as pd
import pytest
from conftest import run_snakemake, write_study
from sklearn.linear_model import RidgeCV

from predictivity.aggregate.tables import LAYER_COLUMNS
from predictivity.config import load_schema
from predictivity.core.basis import StoredBases
from predictivity.core.ridge import make_folds

pytestmark = pytest.mark.workflow

# the grid the workflow uses when the config gives none: the schema's default
DEFAULT_ALPHAS = load_schema()["definitions"]["regression"]["properties"]["alphas"]["default"]


def test_full_run_tables_and_noop_rerun(study):
    work, cfg = study
    run_snakemake(work, cfg)
    layers = pd.read_parquet(work / "results/tables/layers.parquet")
    assert set(LAYER_COLUMNS) <= set(layers.columns)
    assert list(layers["layer"]) == ["L0", "L1", "L2"]
    assert list(layers["n_units"]) == [40, 90, 30]  # the (5, 6) layer is flattened
    with np.load(work / "results/eigen/toy/m1.npz") as z:  # the shared basis, kept by default
        bases = StoredBases(z)
        assert bases.names() == ["L0", "L1", "L2"]
        assert [len(bases.get(n).folds) for n in bases.names()] == [5, 5, 5]
    assert (layers["n_stimuli"] == 60).all() and (layers["n_targets"] == 8).all()
    np.testing.assert_allclose(layers["log_pr"], np.log(layers["pr"]))
    assert layers[["pr", "r2", "theory_r2", "empirical_r2_all"]].notna().all().all()

    reg = pd.read_parquet(work / "results/regression/toy/m1.parquet")
    assert {"layer", "target", "r2", "pearson_r", "alpha", "ceiling"} <= set(reg.columns)
    assert len(reg) == 3 * 8
    theory = pd.read_parquet(work / "results/theory/toy/m1.parquet")
    assert {
        "layer",
        "p",
        "lambda_reg",
        "kappa",
        "gamma",
        "eg_theory",
        "eg_empirical",
        "eg_empirical_sd",
        "r_em",
        "d_em",
    } <= set(theory.columns)
    # the theory's population is each training fold (48 of 60 stimuli); its reference training
    # size p_ref = ⌊48·4/5⌋ = 38 is always on the grid and marked
    assert (theory["n_population"] == 48).all()
    assert set(theory.loc[theory["at_p_train"], "p"]) == {38}
    spectra = pd.read_parquet(work / "results/spectra/toy/m1.parquet")
    assert {"layer", "rank", "eigenvalue", "alignment"} <= set(spectra.columns)

    # the layer scores are the median over targets of the per-target scores
    np.testing.assert_allclose(
        layers["r2"], reg.groupby("layer")["r2"].median().loc[["L0", "L1", "L2"]]
    )

    again = run_snakemake(work, cfg)
    assert "Nothing to be done" in again.output


def test_workflow_scores_equal_sklearn_on_float32_activations(study):
    work, cfg = study
    cfg["regression"]["alpha_scaling"] = "none"
    run_snakemake(work, cfg, "results/regression/toy/m1.parquet")
    reg = pd.read_parquet(work / "results/regression/toy/m1.parquet")
    Y = np.load(work / "data/rec.npy").mean(axis=2)
    X = np.load(work / "data/m1.npz")["L1"].astype(np.float64)
    folds = make_folds(60, 5, 0)
    r2 = []
    for te in folds:
        tr = np.setdiff1d(np.arange(60), te)
        pred = (
            RidgeCV(alphas=DEFAULT_ALPHAS, alpha_per_target=True).fit(X[tr], Y[tr]).predict(X[te])
        )
        r2.append(1 - ((Y[te] - pred) ** 2).sum(0) / ((Y[te] - Y[te].mean(0)) ** 2).sum(0))
    ours = reg[reg["layer"] == "L1"].sort_values("target")["r2"].to_numpy()
    assert np.max(np.abs(ours - np.mean(r2, 0))) <= 1e-4


def test_constant_target_is_dropped_and_counted(study):
    work, cfg = study
    rec = np.load(work / "data/rec.npy")
    rec[:, 3, :] = 2.5  # a silent neuron
    np.save(work / "data/rec.npy", rec)
    # (this run also checks `eigen.temp`: the shared eigen file is deleted once its readers ran)
    run_snakemake(work, {**cfg, "eigen": {"temp": True}})
    assert not (work / "results/eigen/toy/m1.npz").exists()
    assert (work / "logs/eigen/toy/m1.log").exists()
    layers = pd.read_parquet(work / "results/tables/layers.parquet")
    assert (layers["n_targets"] == 7).all() and (layers["n_targets_dropped"] == 1).all()
    reg = pd.read_parquet(work / "results/regression/toy/m1.parquet")
    assert 3 not in set(reg["target"]) and 7 in set(reg["target"])
    log = (work / "logs/recordings/toy.log").read_text()
    assert "constant" in log and "dropped" in log


def _expect_failure(work, cfg, *needles, absent=("results/tables/layers.parquet",)):
    proc = run_snakemake(work, cfg, check=False)
    assert proc.returncode != 0, proc.output[-3000:]
    for needle in needles:
        assert needle in proc.output, f"{needle!r} not in output:\n{proc.output[-4000:]}"
    for path in absent:
        assert not (work / path).exists(), f"{path} left behind"
    return proc


def test_recordings_with_nan(study):
    work, cfg = study
    rec = np.load(work / "data/rec.npy")
    rec[4, 2, 1] = np.nan
    np.save(work / "data/rec.npy", rec)
    _expect_failure(
        work,
        cfg,
        "data/rec.npy",
        "NaN/inf",
        absent=("results/recordings/toy.npz", "results/tables/layers.parquet"),
    )


def test_activations_with_wrong_stimulus_count(study):
    work, cfg = study
    z = dict(np.load(work / "data/m1.npz"))
    z["L1"] = z["L1"][:-3]
    np.savez(work / "data/m1.npz", **z)
    _expect_failure(
        work,
        cfg,
        "data/m1.npz",
        "layer 'L1' has 57 stimuli but the recordings have 60",
        absent=("results/activations/toy/m1.npz",),
    )


def test_duplicate_stimulus_ids(study):
    work, cfg = study
    ids = [f"s{i}" for i in range(60)]
    ids[10] = "s3"
    (work / "data/ids.txt").write_text("\n".join(ids) + "\n")
    _expect_failure(
        work,
        cfg,
        "data/ids.txt",
        "duplicate stimulus ids",
        "'s3' (lines 4 and 11)",
        absent=("results/stimuli/toy.tsv",),
    )


def test_constant_layer(study):
    work, cfg = study
    z = dict(np.load(work / "data/m1.npz"))
    z["L0"] = np.ones_like(z["L0"])
    np.savez(work / "data/m1.npz", **z)
    _expect_failure(
        work,
        cfg,
        "data/m1.npz",
        "layer 'L0' is constant over all stimuli",
        absent=("results/activations/toy/m1.npz",),
    )


def test_too_few_stimuli(tmp_path):
    work = tmp_path / "w"
    cfg = write_study(work / "data", P=9)
    _expect_failure(
        work,
        cfg,
        "data/rec.npy",
        "9 stimuli is fewer than 2 × folds = 10",
        "regression.folds",
        absent=("results/stimuli/toy.tsv",),
    )


def test_missing_file(study):
    work, cfg = study
    cfg["studies"]["toy"]["models"]["m1"] = "data/nope.npz"
    proc = _expect_failure(work, cfg, "data/nope.npz")
    assert "studies.toy.models" in proc.output or "Missing input files" in proc.output


def test_unreadable_file(study):
    work, cfg = study
    (work / "data/m1.npz").write_bytes(b"this is not a zip file")
    _expect_failure(
        work,
        cfg,
        "data/m1.npz",
        "cannot read activations",
        absent=("results/activations/toy/m1.npz",),
    )


def test_unknown_config_key(study):
    work, cfg = study
    cfg["regression"]["fold"] = 3
    proc = _expect_failure(work, cfg, "fold")
    assert (
        "Additional properties are not allowed" in proc.output
        or "additional" in proc.output.lower()
    )


def test_non_positive_alpha(study):
    work, cfg = study
    cfg["regression"]["alphas"] = [1.0, 0.0, 10.0]
    _expect_failure(work, cfg, "alphas")


def test_stimulus_groups_keep_groups_in_one_fold_and_too_few_groups_fail(study):
    work, cfg = study
    (work / "data/groups.txt").write_text("".join(f"g{i // 6}\n" for i in range(60)))  # 10 groups
    cfg["studies"]["toy"]["stimulus_groups"] = "data/groups.txt"
    run_snakemake(work, cfg, "results/stimuli/toy.tsv")
    stimuli = pd.read_csv(work / "results/stimuli/toy.tsv", sep="\t")
    assert stimuli["group"].nunique() == 10
    (work / "data/groups.txt").write_text(
        "".join(f"g{i // 20}\n" for i in range(60))
    )  # 3 groups < 5 folds
    _expect_failure(
        work,
        cfg,
        "data/groups.txt",
        "3 stimulus groups",
        "regression.folds",
        absent=("results/stimuli/toy.tsv",),
    )
