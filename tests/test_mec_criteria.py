"""Grid-cell criteria of mec studies (predictivity/studies/mec/criteria.py, grid.py, modules.py,
topology.py; aggregate/mec_criteria.py, mec_figures.py): known answers."""

import inspect
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from predictivity.aggregate.mec_criteria import (
    SUMMARY_COLUMNS,
    mec_criteria_summary,
    model_criteria,
)
from predictivity.studies.mec.arena import arena_bins
from predictivity.studies.mec.criteria import (
    TOPOLOGY_COLUMNS,
    TOPOLOGY_DEFAULTS,
    UNIT_COLUMNS,
    grid_measures,
    unit_criteria,
)
from predictivity.studies.mec.grid import pearson_autocorrelogram
from predictivity.studies.mec.modules import find_modules, module_table
from predictivity.studies.mec.simulate import mec_rates, simulate_mec
from predictivity.studies.mec.topology import torus_evidence

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def lattice_map(n=40, size=2.0, lam=0.4, theta=20.0, squeeze=1.0, kind="hex", field_sd=None):
    """A rate map made of Gaussian bumps on a lattice (not the plane waves of the simulation):
    triangular (``hex``) or ``square`` lattice of spacing ``lam`` (m) with one lattice vector at
    ``theta`` degrees; ``squeeze`` < 1 compresses the lattice along y (an elliptic grid)."""
    c = (np.arange(n) + 0.5) / n * size - size / 2
    X, Y = np.meshgrid(c, c)  # [iy, ix]
    t = np.radians(theta)
    second = t + (np.pi / 3 if kind == "hex" else np.pi / 2)
    e1 = lam * np.array([np.cos(t), np.sin(t)])
    e2 = lam * np.array([np.cos(second), np.sin(second)])
    sd = field_sd or 0.16 * lam
    m = np.zeros_like(X)
    reach = int(np.ceil(2 * size / lam)) + 2
    for i in range(-reach, reach + 1):
        for j in range(-reach, reach + 1):
            p = i * e1 + j * e2
            p = p * np.array([1.0, squeeze])
            m += np.exp(-((X - p[0]) ** 2 + (Y - p[1]) ** 2) / (2 * sd**2))
    return m


def angle_diff60(a, b):
    d = (a - b) % 60.0
    return min(d, 60.0 - d)


def stimuli_table(n, box=2.2):
    return arena_bins(box, n)


def as_columns(maps):
    """(K, n, n) maps → (n², K) columns in arena_bins order (row = iy·n + ix)."""
    K = maps.shape[0]
    return maps.reshape(K, -1).T


# ------------------------------------------------------------------------ single-map known answers


@pytest.mark.parametrize("lam, theta", [(0.4, 20.0), (0.55, 7.0), (0.3, 45.0), (0.7, 33.0)])
def test_hexagonal_map_has_high_gridness_and_its_spacing_and_orientation(lam, theta):
    size, n = 2.0, 40
    m = lattice_map(n, size, lam, theta)
    r = grid_measures(m[None], size / n).iloc[0]
    assert r["gridness"] > 1.0
    assert r["gridness_corrected"] >= r["gridness"]
    assert r["spacing"] == pytest.approx(lam, rel=0.05)
    assert angle_diff60(r["orientation"], theta) < 3.0  # 5 % of the 60° range


def test_sheared_hexagonal_map_keeps_high_corrected_gridness():
    size, n = 2.0, 40
    plain = grid_measures(lattice_map(n, size, 0.5, 0.0)[None], size / n).iloc[0]
    sheared = grid_measures(lattice_map(n, size, 0.5, 0.0, squeeze=0.7)[None], size / n).iloc[0]
    assert plain["gridness"] > 1.0
    assert sheared["gridness"] < 0.6  # the ellipse breaks the 60° symmetry …
    assert sheared["gridness_corrected"] > 1.0  # … which the correction restores
    assert sheared["ellipse_aspect"] == pytest.approx(1 / 0.7, rel=0.1)


def test_square_grid_and_random_fields_score_low():
    from scipy.ndimage import gaussian_filter

    size, n = 2.0, 40
    square = grid_measures(lattice_map(n, size, 0.5, 10.0, kind="square")[None], size / n)
    assert square["gridness"].iloc[0] < 0.0
    rng = np.random.default_rng(0)
    fields = np.stack([gaussian_filter(rng.standard_normal((30, 30)), 2.0) for _ in range(40)])
    g = grid_measures(fields, 0.05)["gridness"]
    assert g.median() < 0.2
    hexes = np.stack([lattice_map(30, 1.5, 0.35, 11.0 * k) for k in range(5)])
    assert grid_measures(hexes, 0.05)["gridness"].min() > g.quantile(0.9)


def test_nan_bins_are_masked_not_filled():
    size, n = 2.0, 40
    m = lattice_map(n, size, 0.45, 25.0)
    holes = m.copy()
    rng = np.random.default_rng(3)
    holes[rng.random(m.shape) < 0.15] = np.nan  # 15 % unvisited bins
    holes[:6, :6] = np.nan  # and an unvisited corner
    r = grid_measures(holes[None], size / n).iloc[0]
    assert r["gridness"] > 1.0
    assert r["spacing"] == pytest.approx(0.45, rel=0.05)
    assert angle_diff60(r["orientation"], 25.0) < 3.0


def test_small_constant_and_mostly_empty_maps_give_nan_rows_with_a_reason(caplog):
    ok = lattice_map(12, 2.2, 0.5, 0.0)
    constant = np.full((12, 12), 3.0)
    empty = ok.copy()
    empty[:, :9] = np.nan
    maps = np.stack([ok, constant, empty])
    units, _ = unit_criteria({"L": as_columns(maps)}, stimuli_table(12), 2.2, n_shuffles=2)
    assert units["reason"].tolist()[0] == ""
    assert "no spatial variance" in units["reason"][1]
    assert "of bins finite" in units["reason"][2]
    assert units["gridness"][1:].isna().all() and units["is_grid"][1:].isna().all()
    assert "2 of 3 maps not scored" in caplog.text
    tiny, _ = unit_criteria(
        {"L": as_columns(np.stack([lattice_map(5, 2.2, 0.5, 0.0)]))}, stimuli_table(5), 2.2
    )
    assert tiny["gridness"].isna().all()
    assert "smaller than 8×8" in tiny["reason"][0]


# --------------------------------------------------------------- agreement with opexebo (BNT port)


def _opexebo():
    opexebo = pytest.importorskip("opexebo")
    import sys

    gs = sys.modules["opexebo.analysis.grid_score"]
    # opexebo 0.7.2 calls int() on a 1-element array, an error under numpy ≥ 2.4; same value
    if not getattr(gs._findCentreRadius, "_patched", False):
        original = gs._findCentreRadius

        def centre_radius(*a, **k):
            return float(np.ravel(original(*a, **k))[0])

        centre_radius._patched = True
        gs._findCentreRadius = centre_radius
    return opexebo


def test_autocorrelogram_equals_opexebo():
    opexebo = _opexebo()
    rng = np.random.default_rng(0)
    m = lattice_map(20, 2.2, 0.5, 10.0) + 0.3 * rng.standard_normal((20, 20))
    ours = pearson_autocorrelogram(m, min_overlap=1)
    theirs = opexebo.analysis.autocorrelation(m)
    c = (ours.shape[0] - theirs.shape[0]) // 2
    crop = ours[c : c + theirs.shape[0], c : c + theirs.shape[1]]
    np.testing.assert_allclose(crop, theirs, atol=1e-10)


def test_gridness_agrees_with_opexebo():
    import warnings

    from scipy.ndimage import gaussian_filter
    from scipy.stats import spearmanr

    opexebo = _opexebo()
    rng = np.random.default_rng(1)
    maps = [lattice_map(20, 2.2, lam, th) for lam, th in [(0.5, 5), (0.6, 20), (0.75, 40)]]
    maps += [lattice_map(40, 2.0, 0.45, 12.0), lattice_map(20, 2.2, 0.6, 0.0, squeeze=0.75)]
    maps += [lattice_map(20, 2.2, 0.6, 15.0, kind="square")]
    maps += [gaussian_filter(rng.standard_normal((20, 20)), s) for s in (1.0, 1.5, 2.0, 2.5)]
    ours, theirs = [], []
    for m in maps:
        ours.append(grid_measures(m[None], 1.0)["gridness"].iloc[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs.append(opexebo.analysis.grid_score(opexebo.analysis.autocorrelation(m))[0])
    ours, theirs = np.array(ours), np.array(theirs)
    # the clear grids: the same score within 0.15 (BNT's central-field detection differs)
    np.testing.assert_allclose(ours[:5], theirs[:5], atol=0.15)
    assert spearmanr(ours, theirs).statistic > 0.8
    assert (ours[:4] > 1).all() and (theirs[:4] > 1).all()
    assert (ours[5:] < 0.5).all() and (theirs[5:] < 0.5).all()


# ------------------------------------------------------------------------------------- modules


def test_three_synthetic_modules_with_ratio_1_4():
    rng = np.random.default_rng(0)
    true = np.repeat([0, 1, 2], [20, 15, 25])
    spacing = 0.35 * 1.4**true * (1 + 0.03 * rng.standard_normal(true.size))
    perm = rng.permutation(true.size)
    labels = find_modules(spacing[perm])
    assert (labels == true[perm]).all()
    table = module_table(labels, spacing[perm])
    assert list(table["n_units"]) == [20, 15, 25]
    np.testing.assert_allclose(table["ratio"].iloc[1:], 1.4, atol=0.05)


def test_module_outliers_stay_unassigned():
    spacing = np.array([0.3, 0.31, 0.29, 0.3, 0.8, np.nan, 0.42, 0.43, 0.41])
    labels = find_modules(spacing, min_size=3)
    assert labels.tolist() == [0, 0, 0, 0, -1, -1, 1, 1, 1]


def test_three_simulated_modules_through_the_rate_maps():
    n = 30
    st = stimuli_table(n)
    rates, cells = mec_rates(
        st[["x", "y"]].to_numpy(),
        n_grid=60,
        n_modules=3,
        period_min=0.35,
        n_border=0,
        n_head_direction=0,
        n_heterogeneous=0,
        seed=4,
    )
    units, _ = unit_criteria({"grid": rates}, st, 2.2, topology={"enabled": False})
    assert units["is_grid"].all()
    assert (units["module"].to_numpy() == cells["module"].to_numpy()).all()
    table = module_table(units["module"].astype(int), units["spacing"], units["orientation"])
    np.testing.assert_allclose(table["ratio"].iloc[1:], 1.4, atol=0.05)
    truth = cells.groupby("module")["orientation"].first().to_numpy()
    for got, want in zip(table["orientation"], truth):
        assert angle_diff60(got, want) < 3.0


# ------------------------------------------------------------------------------------ topology


def test_ripser_on_a_flat_torus_and_a_circle():
    rng = np.random.default_rng(0)
    theta, phi = rng.uniform(0, 2 * np.pi, (2, 400))
    torus = np.stack([np.cos(theta), np.sin(theta), np.cos(phi), np.sin(phi)], 1)
    circle = torus[:, :2]
    noise = 0.05 * rng.standard_normal((400, 30))
    t = torus_evidence(torus @ rng.standard_normal((4, 30)) + noise)
    c = torus_evidence(circle @ rng.standard_normal((2, 30)) + noise)
    assert (t["betti_0"], t["betti_1"], t["betti_2"]) == (1, 2, 1) and t["torus"]
    assert (c["betti_0"], c["betti_1"], c["betti_2"]) == (1, 1, 0) and not c["torus"]
    assert t["h2"] > t["h2_threshold"] > c["h2"]


# ----------------------------------------------------------------------- the demo's recordings


@pytest.fixture(scope="module")
def demo_units():
    demo = yaml.safe_load((REPO / "config/config.yaml").read_text())["studies"]["mec"]
    st = arena_bins(**demo["stimuli"])
    counts, cells = simulate_mec(
        st[["x", "y"]].to_numpy(), **demo["recordings"], box_width=demo["stimuli"]["box_width"]
    )
    units, topology = unit_criteria(
        {"cells": counts.mean(-1)},
        st,
        demo["stimuli"]["box_width"],
        names={"cells": cells["target_name"]},
    )
    return units, topology, cells


def test_demo_recordings_recovered_as_four_modules_with_ratio_1_4(demo_units):
    units, topology, cells = demo_units
    assert list(units.columns) == UNIT_COLUMNS
    grid = cells["cell_type"].eq("grid").to_numpy()
    assert units["is_grid"][grid].all()
    assert units["is_grid"][~grid].mean() < 0.1
    table = module_table(
        units["module"].dropna().astype(int), units["spacing"][units["module"].notna()]
    )
    assert len(table) == 4
    np.testing.assert_allclose(table["ratio"].iloc[1:], 1.4, atol=0.1)
    np.testing.assert_allclose(table["spacing"], 0.3 * 1.4 ** np.arange(4), rtol=0.05)
    # every simulated grid cell lands in its own module
    assert (units["module"][grid].to_numpy() == cells["module"][grid].to_numpy()).all()
    # the largest module's population activity is a torus
    assert list(topology.columns) == TOPOLOGY_COLUMNS and len(topology) == 1
    assert bool(topology["torus"].iloc[0])


def test_summary_and_figure(demo_units):
    units, topology, _ = demo_units
    rec = units.assign(study="mec", model="recordings")
    model = units.assign(study="mec", model="m1", layer="hidden")
    model.loc[model.index % 2 == 0, "is_grid"] = False
    model["module"] = pd.NA
    summary = mec_criteria_summary(
        pd.concat([rec, model], ignore_index=True), topology.assign(study="mec", model="recordings")
    )
    assert list(summary.columns) == SUMMARY_COLUMNS
    r = summary.set_index("model").loc["recordings"]
    assert r["n_units"] == 224 and r["n_modules"] == 4 and bool(r["torus"])
    assert r["period_ratio_median"] == pytest.approx(1.4, abs=0.1)
    assert r["fraction_grid"] == pytest.approx(units["is_grid"].mean())
    m = summary.set_index("model").loc["m1"]
    assert m["n_modules"] == 0 and pd.isna(m["torus"])
    per_model = model_criteria(summary)
    assert set(per_model["model"]) == {"recordings", "m1"}

    from predictivity.aggregate.mec_figures import mec_criteria_figure

    layers = pd.DataFrame(
        {"study": "mec", "model": ["m1", "m2", "m3"], "layer": "hidden", "r2": [0.3, 0.5, 0.1]}
    )
    extra = [summary[summary["model"] == "m1"].assign(model=m) for m in ("m2", "m3")]
    fig = mec_criteria_figure(layers, pd.concat([summary, *extra], ignore_index=True))
    assert len(fig.axes) == 1


# ------------------------------------------------------------------------- config and closure


def test_keyword_defaults_equal_schema_defaults():
    props = SCHEMA["definitions"]["mec_study"]["properties"]["criteria"]["properties"]
    schema = {k: v["default"] for k, v in props.items() if k != "topology"}
    params = inspect.signature(unit_criteria).parameters
    exclude = {"layers", "stimuli", "box_width", "trajectory_options", "names", "topology"}
    ours = {
        k: p.default
        for k, p in params.items()
        if k not in exclude | {"config_key"} and p.default is not inspect.Parameter.empty
    }
    assert ours == schema
    topo = {k: v["default"] for k, v in props["topology"]["properties"].items()}
    assert topo == TOPOLOGY_DEFAULTS
    te = inspect.signature(torus_evidence).parameters
    for k in ("n_components", "max_points", "n_shuffles", "prominence", "seed"):
        assert te[k].default == TOPOLOGY_DEFAULTS[k]


def test_criteria_stage_imports_no_network_or_simulation_code():
    from predictivity.codehash import import_closure

    closure = import_closure(REPO / "scripts/mec_criteria.py", REPO / "workflow/predictivity")
    for module in ("networks", "training", "ratemaps", "simulate", "noise", "torch_utils"):
        assert not any(m.endswith(f".{module}") for m in closure), module


# ------------------------------------------------------------------------------- end to end


@pytest.mark.workflow
def test_rule_on_a_tiny_mec_study(tmp_path):
    from conftest import run_snakemake

    work = tmp_path / "w"
    work.mkdir()
    config = {
        "studies": {
            "mec": {
                "kind": "mec",
                "stimuli": {"n_bins": 12},
                "recordings": {
                    "n_grid": 24,
                    "n_modules": 2,
                    "period_min": 0.5,
                    "n_border": 4,
                    "n_head_direction": 2,
                    "n_heterogeneous": 6,
                },
                "training": {"n_train_steps": 5, "batch_size": 20, "n_validation": 20},
                "rate_maps": {"n_trajectories": 200},
                "criteria": {"n_shuffles": 3, "topology": {"min_units": 5, "max_points": 60}},
                "models": {
                    "rnn": {"cell": "rnn", "n_hidden": 16, "n_place_cells": 32},
                },
            }
        }
    }
    targets = [f"results/mec_criteria/mec/{m}.parquet" for m in ("rnn", "recordings")]
    run_snakemake(work, config, *targets)
    model = pd.read_parquet(work / targets[0])
    rec = pd.read_parquet(work / targets[1])
    assert list(model.columns) == UNIT_COLUMNS == list(rec.columns)
    assert list(model["layer"].unique()) == ["encoder", "hidden", "logits"]
    assert len(model) == 16 + 16 + 32 and len(rec) == 36
    assert rec["name"].iloc[0] == "grid_m0_000"
    assert rec["module"].nunique() == 2
    topo = pd.read_parquet(work / "results/mec_criteria/mec/recordings.topology.parquet")
    assert list(topo.columns) == TOPOLOGY_COLUMNS
    assert (work / "benchmarks/mec_criteria/mec/rnn.tsv").exists()
    assert "grid" in (work / "logs/mec_criteria/mec/recordings.log").read_text()
    assert math.isfinite(rec["gridness_threshold"].iloc[0])
