"""Tests of predictivity.studies.mec.curve: grid criteria at checkpoints of one training run.

Tiny networks and few steps; the reference for each checkpoint is the pipeline's own chain run
directly (build_rnn → train_path_integrator → rate_maps → unit_criteria → summary)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from predictivity.aggregate.mec_criteria import mec_criteria_summary  # noqa: E402
from predictivity.errors import InputError  # noqa: E402
from predictivity.studies.mec import curve as curve_mod  # noqa: E402
from predictivity.studies.mec.arena import arena_bins  # noqa: E402
from predictivity.studies.mec.criteria import unit_criteria  # noqa: E402
from predictivity.studies.mec.curve import (  # noqa: E402
    CURVE_COLUMNS,
    checkpoint_steps,
    criteria_curve,
)
from predictivity.studies.mec.networks import build_rnn  # noqa: E402
from predictivity.studies.mec.ratemaps import rate_maps  # noqa: E402
from predictivity.studies.mec.training import train_path_integrator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NETWORK = dict(cell="rnn", activation="relu", n_hidden=24, n_place_cells=32, seed=3,
               place_cell_kind="dog")  # fmt: skip
TRAINING = dict(n_train_steps=4, batch_size=8, sequence_length=5, learning_rate=1e-2,
                n_validation=20)  # fmt: skip
STIMULI = dict(box_width=2.2, n_bins=10)
RATE_MAPS = dict(n_trajectories=200, n_steps=10, seed=1)
CRITERIA = dict(n_shuffles=3, shuffle_duration_s=100.0, topology={"enabled": False})
CRITERIA_COLS = ["n_units", "n_scored", "n_grid", "fraction_grid", "gridness_median",
                 "gridness_q75", "gridness_q90", "gridness_threshold", "n_modules"]  # fmt: skip


def _direct(model) -> pd.Series:
    """The pipeline's chain on a model, without the curve module."""
    stimuli = arena_bins(**STIMULI)
    maps = rate_maps(model, box_width=2.2, n_bins=10, threads=1, **RATE_MAPS)
    units, topo = unit_criteria({"hidden": maps["hidden"]}, stimuli, 2.2, **CRITERIA)
    units.insert(0, "model", "m")
    units.insert(0, "study", "s")
    return mec_criteria_summary(units, topo).iloc[0]


PARTIAL: list[pd.DataFrame] = []


@pytest.fixture(scope="module")
def curve():
    return criteria_curve(
        NETWORK,
        TRAINING,
        [0, 2, 4],
        stimuli_options=STIMULI,
        rate_map_options=RATE_MAPS,
        criteria_options=CRITERIA,
        threads=1,
        on_checkpoint=PARTIAL.append,
    )


def test_curve_columns_and_steps(curve):
    """Also: on_checkpoint sees the table grow one checkpoint at a time."""
    assert list(curve.columns) == CURVE_COLUMNS
    assert curve["step"].tolist() == [0, 2, 4]
    assert (curve["layer"] == "hidden").all() and (curve["n_units"] == 24).all()
    assert np.isnan(curve["train_loss"].iloc[0]) and np.isfinite(curve["train_loss"].iloc[1:]).all()
    assert np.isfinite(curve[["loss", "decoding_error_cm", "cpu_seconds"]].to_numpy()).all()
    assert curve["cpu_seconds"].is_monotonic_increasing
    assert ((curve["fraction_grid"] >= 0) & (curve["fraction_grid"] <= 1)).all()
    assert [p["step"].tolist() for p in PARTIAL] == [[0], [0, 2], [0, 2, 4]]
    pd.testing.assert_frame_equal(PARTIAL[-1], curve)


def test_checkpoint_0_is_the_untrained_network(curve):
    ref = _direct(build_rnn(**NETWORK))
    row = curve.iloc[0]
    for col in CRITERIA_COLS:
        assert row[col] == pytest.approx(ref[col], nan_ok=True), col


def test_last_checkpoint_is_the_pipeline_model_trained_that_long(curve):
    """Scoring checkpoints during training leaves training unchanged: the last row equals the
    criteria of a model trained for 4 steps without a callback (as train_mec.py does)."""
    model, history = train_path_integrator(
        build_rnn(**NETWORK), **TRAINING, seed=NETWORK["seed"], log_every=2, threads=1
    )
    ref = _direct(model)
    row = curve.iloc[-1]
    for col in CRITERIA_COLS:
        assert row[col] == pytest.approx(ref[col], nan_ok=True), col
    merged = curve.merge(history, on="step", suffixes=("", "_ref"))
    np.testing.assert_array_equal(merged["loss"], merged["loss_ref"])
    np.testing.assert_array_equal(merged["decoding_error_cm"], merged["decoding_error_cm_ref"])


def test_callback_leaves_training_bit_identical():
    seen = []

    def callback(step, model, last):  # does what the curve does: rate maps in inference mode
        seen.append((step, last["step"]))
        rate_maps(model, n_bins=8, n_trajectories=20, n_steps=5, threads=1)

    a, ha = train_path_integrator(build_rnn(**NETWORK), **TRAINING, log_every=1, threads=1)
    b, hb = train_path_integrator(
        build_rnn(**NETWORK), **TRAINING, log_every=1, threads=1, callback=callback
    )
    assert seen == [(s, s) for s in range(5)]  # log_every=1: each step's record is passed
    pd.testing.assert_frame_equal(ha, hb)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_checkpoint_steps():
    assert checkpoint_steps(5000) == [0, 500, 1000, 2000, 4000, 5000]
    assert checkpoint_steps(1000, first=250) == [0, 250, 500, 1000]
    assert checkpoint_steps(0) == [0]


def test_bad_checkpoints_and_layers():
    with pytest.raises(InputError, match="--checkpoints"):
        criteria_curve(NETWORK, TRAINING, [0, 5], stimuli_options=STIMULI)
    with pytest.raises(InputError, match="--layers"):
        criteria_curve(
            NETWORK,
            {**TRAINING, "n_train_steps": 0},
            [0],
            stimuli_options=STIMULI,
            rate_map_options=RATE_MAPS,
            layers=("cell",),  # an RNN has no cell state
        )


def test_main_writes_the_table(tmp_path, capsys):
    out = tmp_path / "curve.parquet"
    argv = ["--config", str(ROOT / "config/mec_grid.yaml"), "--study", "mec_grid",
            "--model", "rnn_relu", "--network", "n_hidden=8", "--network", "n_place_cells=16",
            "--training", "batch_size=4", "--training", "sequence_length=5",
            "--training", "n_validation=10", "--steps", "2",
            "--checkpoints", "0,2", "--out", str(out)]  # fmt: skip
    assert curve_mod.main(argv) == 0
    table = pd.read_parquet(out)
    assert list(table.columns) == CURVE_COLUMNS and table["step"].tolist() == [0, 2]
    assert (table["n_units"] == 8).all()
    assert curve_mod.main([*argv[:4], "--model", "nope", *argv[6:]]) == 2
    assert "studies.mec_grid.models.nope" in capsys.readouterr().err


def test_deterministic_and_independent_of_the_other_checkpoints(curve):
    """Same seed → same rows; scoring fewer checkpoints changes none of the others."""
    again = criteria_curve(
        NETWORK,
        TRAINING,
        [4, 0],
        stimuli_options=STIMULI,
        rate_map_options=RATE_MAPS,
        criteria_options=CRITERIA,
        threads=1,
    )
    cols = [c for c in CURVE_COLUMNS if "seconds" not in c and c != "train_loss"]
    expected = curve[curve["step"] != 2].reset_index(drop=True)
    pd.testing.assert_frame_equal(again[cols], expected[cols])
