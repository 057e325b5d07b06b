"""Unit tests of predictivity.studies.mec (the `mec` study kind): stimuli, walks, networks, rate
maps, simulated MEC recordings. Tiny networks keep the file fast; one test prints (does not
assert) the demo-size training speed."""

from __future__ import annotations

import inspect
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

torch = pytest.importorskip("torch")

from predictivity.errors import InputError  # noqa: E402
from predictivity.studies.mec import networks  # noqa: E402
from predictivity.studies.mec.arena import arena_bins, bin_index  # noqa: E402
from predictivity.studies.mec.grid import grid_period  # noqa: E402
from predictivity.studies.mec.networks import batch_tensors, build_rnn  # noqa: E402
from predictivity.studies.mec.place_cells import place_cell_targets, place_cells  # noqa: E402
from predictivity.studies.mec.ratemaps import _fill_unvisited, rate_maps  # noqa: E402
from predictivity.studies.mec.simulate import mec_rates, simulate_mec  # noqa: E402
from predictivity.studies.mec.training import chance_error_cm, decoding_error, train_path_integrator  # noqa: E402
from predictivity.studies.mec.walks import SORSCHER_SPEED_SCALE, random_walks  # noqa: E402

SCHEMA = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml").read_text()
)
TINY = dict(n_hidden=32, n_place_cells=64, seed=0)
TINY_TRAIN = {"n_train_steps": 250, "batch_size": 100, "n_validation": 200}


# ---------------------------------------------------------------------------------- stimuli


def test_arena_bins_ids_and_centres():
    b = arena_bins(2.2, 20)
    assert len(b) == 400
    assert list(b.columns[:3]) == ["stimulus_id", "x", "y"]
    assert b["stimulus_id"].is_unique
    assert b["stimulus_id"].iloc[0] == "x00_y00"
    assert b["stimulus_id"].iloc[17 * 20 + 3] == "x03_y17"
    assert b["x"].iloc[17 * 20 + 3] == pytest.approx(-1.1 + 3.5 * 0.11)
    assert b["y"].iloc[17 * 20 + 3] == pytest.approx(-1.1 + 17.5 * 0.11)
    assert b["x"].mean() == pytest.approx(0.0, abs=1e-12)
    pd.testing.assert_frame_equal(b, arena_bins(2.2, 20))
    # wider grids pad further; ids never collide
    assert arena_bins(1.0, 120)["stimulus_id"].iloc[-1] == "x119_y119"
    # bin_index inverts the table
    np.testing.assert_array_equal(bin_index(b[["x", "y"]].to_numpy(), 2.2, 20), np.arange(400))


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"n_bins": 1}, "studies.mec.stimuli.n_bins"),
        ({"n_bins": 2.5}, "studies.mec.stimuli.n_bins"),
        ({"box_width": 0.0}, "studies.mec.stimuli.box_width"),
    ],
)
def test_arena_bins_bad_input(kwargs, key):
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        arena_bins(**kwargs)


# ---------------------------------------------------------------------------------- walks


def test_random_walks_deterministic_and_integrable():
    w1 = random_walks(300, 50, 2.2, np.random.default_rng(3))
    w2 = random_walks(300, 50, 2.2, np.random.default_rng(3))
    for k in w1:
        np.testing.assert_array_equal(w1[k], w2[k])
    pos, vel = w1["positions"], w1["velocities"]
    assert pos.shape == (300, 51, 2) and vel.shape == (300, 50, 2)
    assert w1["head_direction"].shape == (300, 51)
    assert np.abs(pos).max() <= 1.1 + 1e-12
    # exact path integration: positions are the cumulative sum of the velocities
    np.testing.assert_allclose(pos[:, 1:], pos[:, :1] + np.cumsum(vel * 0.02, axis=1), atol=1e-12)
    np.testing.assert_allclose(w1["displacements"], vel * 0.02)
    # velocity = speed · (cos hd, sin hd) away from clipped corner steps
    hd = w1["head_direction"][:, :-1]
    unit = np.stack([np.cos(hd), np.sin(hd)], -1) * w1["speed"][..., None]
    assert np.mean(np.all(np.isclose(unit, vel, atol=1e-9), axis=-1)) > 0.99
    # Rayleigh speed: mean scale·sqrt(π/2), a little lower because of wall slow-down
    expected = SORSCHER_SPEED_SCALE * math.sqrt(math.pi / 2)
    assert 0.8 * expected < w1["speed"].mean() < 1.02 * expected
    assert not np.array_equal(random_walks(300, 50, 2.2, 4)["positions"], pos)


def test_random_walks_bad_input():
    with pytest.raises(InputError, match=r"studies\.mec\.trajectories\.wall_slowdown"):
        random_walks(2, 2, 2.2, 0, wall_slowdown=2.0)
    with pytest.raises(InputError, match=r"n_steps"):
        random_walks(2, 0, 2.2, 0)


# ---------------------------------------------------------------------------------- place cells


@pytest.mark.parametrize("kind", ["gaussian", "dog"])
def test_place_cell_targets(kind):
    rng = np.random.default_rng(0)
    c = place_cells(64, 2.2, rng, kind=kind)
    assert c.shape == (64, 2) and np.abs(c).max() <= 1.1
    x = rng.uniform(-1.1, 1.1, size=(5, 7, 2))
    a = place_cell_targets(x, c, 0.12, kind)
    assert a.shape == (5, 7, 64)
    np.testing.assert_allclose(a.sum(-1), 1.0)
    assert (a >= -1e-12).all()
    at = place_cell_targets(torch.as_tensor(x), torch.as_tensor(c), 0.12, kind)
    np.testing.assert_allclose(at.numpy(), a, atol=1e-10)
    # the most active cell is the nearest centre
    d = np.linalg.norm(x[..., None, :] - c, axis=-1)
    np.testing.assert_array_equal(a.argmax(-1), d.argmin(-1))
    if kind == "gaussian":
        ref = np.exp(-(d**2) / (2 * 0.12**2))
        np.testing.assert_allclose(a, ref / ref.sum(-1, keepdims=True), atol=1e-10)


def test_place_cells_bad_input():
    with pytest.raises(InputError, match=r"studies\.mec\.model\.place_cell_kind"):
        place_cells(64, 2.2, 0, kind="mexican_hat")
    with pytest.raises(InputError, match=r"studies\.mec\.model\.n_place_cells"):
        place_cells(2, 2.2, 0)


# ---------------------------------------------------------------------------------- networks


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_build_rnn_seeded_and_shapes(cell):
    state = torch.random.get_rng_state()
    m1 = build_rnn(cell, **TINY)
    assert isinstance(m1, networks.PathIntegratorRNN) and isinstance(m1, torch.nn.Module)
    assert torch.equal(state, torch.random.get_rng_state()), "global torch RNG was touched"
    m2 = build_rnn(cell, **TINY)
    m3 = build_rnn(cell, n_hidden=32, n_place_cells=64, seed=1)
    s1, s2, s3 = m1.state_dict(), m2.state_dict(), m3.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert not torch.equal(s1["encoder.weight"], s3["encoder.weight"])
    # rebuild from config + state dict (what the pipeline does)
    m4 = build_rnn(**{**m1.config, "seed": 5})
    m4.load_state_dict(s1)
    assert all(torch.equal(s1[k], m4.state_dict()[k]) for k in s1)

    w = random_walks(4, 6, 2.2, 0)
    pos, disp, init_pc = batch_tensors(m1, w)
    logits, hidden = m1(disp, init_pc)
    assert logits.shape == (4, 6, 64) and hidden.shape == (4, 6, 32)
    states = m1.states(disp, init_pc)
    torch.testing.assert_close(states["hidden"], hidden)
    torch.testing.assert_close(states["logits"], logits)
    expected = (
        ["encoder", "hidden", "cell", "logits"]
        if cell == "lstm"
        else ["encoder", "hidden", "logits"]
    )
    assert m1.layer_names == expected


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"cell": "transformer"}, "studies.mec.model.cell"),
        ({"cell": "gru", "activation": "relu"}, "studies.mec.model.activation"),
        ({"cell": "rnn", "activation": "sigmoid"}, "studies.mec.model.activation"),
        ({"n_hidden": 0}, "studies.mec.model.n_hidden"),
        ({"place_cell_kind": "box"}, "studies.mec.model.place_cell_kind"),
    ],
)
def test_build_rnn_bad_input(kwargs, key):
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        build_rnn(**kwargs)


@pytest.fixture(scope="module")
def trained_and_twin():
    trained = build_rnn("rnn", **TINY)
    trained, history = train_path_integrator(trained, **TINY_TRAIN, seed=0, log_every=50, threads=2)
    twin, twin_history = train_path_integrator(
        build_rnn("rnn", **TINY), **{**TINY_TRAIN, "n_train_steps": 0}, seed=0, log_every=50
    )
    return trained, history, twin, twin_history


def test_training_beats_untrained_twin(trained_and_twin):
    trained, history, twin, twin_history = trained_and_twin
    walks = random_walks(300, 20, 2.2, np.random.default_rng(99))
    e_trained = decoding_error(trained, walks)
    e_twin = decoding_error(twin, walks)
    chance = chance_error_cm(2.2)
    print(
        f"\ntiny RNN decoding error: trained {e_trained:.1f} cm, untrained {e_twin:.1f} cm, "
        f"chance {chance:.1f} cm"
    )
    assert e_trained < 0.6 * e_twin
    assert e_trained < 0.6 * chance
    assert list(history.columns) == ["step", "loss", "decoding_error_cm", "train_loss"]
    assert history["step"].tolist() == [0, 50, 100, 150, 200, 250]
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    # the history's validation batch is the documented one
    val_rng = np.random.default_rng(np.random.SeedSequence(0).spawn(2)[1])
    val = random_walks(200, 20, 2.2, val_rng)
    assert history["decoding_error_cm"].iloc[-1] == pytest.approx(decoding_error(trained, val))
    assert np.isnan(history["train_loss"].iloc[0]) and history["train_loss"].iloc[1:].notna().all()
    # the untrained twin: one row at step 0, the same as the trained run's step-0 row
    assert twin_history["step"].tolist() == [0]
    pd.testing.assert_frame_equal(twin_history, history.iloc[:1])
    fresh = build_rnn("rnn", **TINY).state_dict()
    assert all(torch.equal(v, twin.state_dict()[k]) for k, v in fresh.items())


def test_chance_error_matches_monte_carlo():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.1, 1.1, size=(200_000, 2))
    assert chance_error_cm(2.2) == pytest.approx(chance_error_cm(2.2, x), rel=5e-3)
    assert chance_error_cm(2.2) == pytest.approx(84.17, abs=0.01)


def test_training_is_deterministic():
    runs = []
    for _ in range(2):
        m, h = train_path_integrator(
            build_rnn("gru", **TINY),
            n_train_steps=6,
            batch_size=20,
            n_validation=10,
            seed=3,
            log_every=3,
        )
        runs.append((m.state_dict(), h))
    pd.testing.assert_frame_equal(runs[0][1], runs[1][1])
    assert all(torch.equal(v, runs[1][0][k]) for k, v in runs[0][0].items())


def test_dog_targets_train_smoke():
    m, h = train_path_integrator(
        build_rnn("rnn", place_cell_kind="dog", **TINY),
        n_train_steps=3,
        batch_size=10,
        n_validation=10,
        log_every=3,
    )
    assert h["step"].tolist() == [0, 3] and np.isfinite(h["loss"]).all()


@pytest.mark.parametrize(
    "config, key",
    [
        ({"n_train_steps": -1}, "studies.mec.training.n_train_steps"),
        ({"learning_rate": 0}, "studies.mec.training.learning_rate"),
        ({"log_every": 0}, "studies.mec.training.log_every"),
    ],
)
def test_training_bad_input(config, key):
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        train_path_integrator(build_rnn("rnn", **TINY), **config)


# ---------------------------------------------------------------------------------- rate maps


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_rate_maps_shapes_and_determinism(cell, trained_and_twin):
    model = trained_and_twin[0] if cell == "rnn" else build_rnn("lstm", **TINY)
    maps = rate_maps(model, n_bins=12, n_trajectories=300, n_steps=20, seed=2)
    again = rate_maps(model, n_bins=12, n_trajectories=300, n_steps=20, seed=2, batch_size=64)
    assert list(maps) == model.layer_names
    units = {"encoder": 64 if cell == "lstm" else 32, "hidden": 32, "cell": 32, "logits": 64}
    for name, m in maps.items():
        assert m.shape == (144, units[name]) and m.dtype == np.float32
        assert np.isfinite(m).all()
        np.testing.assert_allclose(again[name], m, rtol=1e-5, atol=1e-6)
    other = rate_maps(model, n_bins=12, n_trajectories=300, n_steps=20, seed=3)
    assert not np.array_equal(other["hidden"], maps["hidden"])
    assert np.array_equal(
        rate_maps(model, n_bins=12, n_trajectories=300, n_steps=20, seed=2)["hidden"],
        maps["hidden"],
    )


def test_rate_maps_trained_hidden_codes_position(trained_and_twin):
    """The trained logits layer peaks where its place cell sits (sanity of the binning)."""
    trained = trained_and_twin[0]
    maps = rate_maps(trained, n_bins=10, n_trajectories=500, n_steps=20, seed=0)
    bins = arena_bins(2.2, 10)[["x", "y"]].to_numpy()
    peak_xy = bins[maps["logits"].argmax(0)]
    dist = np.linalg.norm(peak_xy - trained.centres.numpy(), axis=1)
    assert np.median(dist) < 0.35


def test_rate_maps_fill_unvisited_bins():
    model = build_rnn("rnn", **TINY)
    maps = rate_maps(model, n_bins=20, n_trajectories=3, n_steps=10, seed=0)
    assert all(np.isfinite(m).all() and m.shape[0] == 400 for m in maps.values())
    # nearest-visited fill, checked directly
    vals = np.arange(9.0)[:, None]
    visited = np.zeros(9, bool)
    visited[[0, 8]] = True
    filled = _fill_unvisited(vals, visited, 3)
    assert filled[1, 0] == 0 and filled[7, 0] == 8 and filled[0, 0] == 0 and filled[8, 0] == 8


# ---------------------------------------------------------------------------------- recordings


@pytest.fixture(scope="module")
def demo_recordings():
    xy = arena_bins()[["x", "y"]].to_numpy()
    return xy, *simulate_mec(xy, seed=0)


def test_simulate_mec_shapes_table_determinism(demo_recordings):
    xy, counts, cells = demo_recordings
    rec = _schema_defaults("recordings")
    n = rec["n_grid"] + rec["n_border"] + rec["n_head_direction"] + rec["n_heterogeneous"]
    assert counts.shape == (400, n, 2) and counts.dtype == np.float32
    assert (counts >= 0).all() and np.array_equal(counts, np.round(counts))
    assert list(cells.columns[:5]) == [
        "target_name",
        "cell_type",
        "module",
        "period",
        "orientation",
    ]
    assert cells["target_name"].is_unique and len(cells) == n
    assert cells["cell_type"].value_counts().to_dict() == {
        "grid": 128,
        "heterogeneous": 64,
        "border": 16,
        "head_direction": 16,
    }
    grid = cells[cells.cell_type == "grid"]
    assert grid.groupby("module")["period"].first().to_numpy() == pytest.approx(
        0.3 * 1.4 ** np.arange(4)
    )
    assert grid.groupby("module")["orientation"].nunique().eq(1).all()
    assert cells.loc[cells.cell_type != "grid", "module"].isna().all()
    again, cells2 = simulate_mec(xy, seed=0)
    np.testing.assert_array_equal(again, counts)
    pd.testing.assert_frame_equal(cells, cells2)
    assert not np.array_equal(simulate_mec(xy, seed=1)[0], counts)
    # no target is constant within a session (the regression rejects zero-variance targets)
    assert (counts.std(axis=0) > 0).all()


def test_poisson_sessions_differ_but_average_to_rate():
    xy = arena_bins(2.2, 10)[["x", "y"]].to_numpy()
    kw = dict(n_grid=8, n_modules=2, n_border=4, n_head_direction=4, n_heterogeneous=8, seed=4)
    rates, _ = mec_rates(xy, **kw)
    counts, _ = simulate_mec(xy, n_sessions=400, dwell_s=2.0, **kw)
    assert not np.array_equal(counts[..., 0], counts[..., 1])
    mean_rate = counts.mean(-1) / 2.0
    # each entry: sd of the mean = sqrt(rate / (dwell · n_sessions))
    z = (mean_rate - rates) / np.sqrt(rates / (2.0 * 400))
    assert abs(z.mean()) < 0.1 and 0.85 < z.std() < 1.15
    # the rates do not depend on the number of sessions
    two, _ = simulate_mec(xy, n_sessions=2, **kw)
    assert two.shape[-1] == 2


def test_grid_modules_have_configured_periods():
    """Period measured from the maps (autocorrelogram), not read back from the parameters."""
    n = 64
    xy = arena_bins(2.2, n)[["x", "y"]].to_numpy()
    rates, cells = mec_rates(
        xy, n_grid=32, n_border=0, n_head_direction=0, n_heterogeneous=0, period_ratio=1.4, seed=7
    )
    counts, _ = simulate_mec(
        xy,
        n_grid=32,
        n_border=0,
        n_head_direction=0,
        n_heterogeneous=0,
        period_ratio=1.4,
        seed=7,
        dwell_s=20.0,
    )
    for m in range(4):
        cols = np.nonzero(cells["module"].eq(m).fillna(False).to_numpy())[0]
        configured = 0.3 * 1.4**m
        noise_free = np.median([grid_period(rates[:, j].reshape(n, n), 2.2 / n) for j in cols])
        noisy = np.median([grid_period(counts[:, j].sum(-1).reshape(n, n), 2.2 / n) for j in cols])
        assert noise_free == pytest.approx(configured, rel=0.10), m
        assert noisy == pytest.approx(configured, rel=0.10), m


def test_grid_period_on_an_independent_lattice_and_degenerate_maps():
    n, size = 80, 2.0
    c = (np.arange(n) + 0.5) / n * size - size / 2
    X, Y = np.meshgrid(c, c)
    lam, theta = 0.37, np.radians(20)
    # a lattice built by placing Gaussian bumps (not plane waves)
    e1 = lam * np.array([np.cos(theta), np.sin(theta)])
    e2 = lam * np.array([np.cos(theta + np.pi / 3), np.sin(theta + np.pi / 3)])
    m = np.zeros_like(X)
    for i in range(-12, 13):
        for j in range(-12, 13):
            p = i * e1 + j * e2
            m += np.exp(-((X - p[0]) ** 2 + (Y - p[1]) ** 2) / (2 * 0.06**2))
    assert grid_period(m, size / n) == pytest.approx(lam, rel=0.05)
    assert math.isnan(grid_period(np.ones((10, 10)), 0.1))
    with pytest.raises(InputError):
        grid_period(np.ones(10), 0.1)


def test_head_direction_cells_are_nearly_flat_and_heterogeneous_are_not(demo_recordings):
    xy, _, cells = demo_recordings
    rates, _ = mec_rates(xy, seed=0)
    cv = rates.std(0) / rates.mean(0)
    types = cells["cell_type"].to_numpy()
    assert cv[types == "head_direction"].max() < 0.1
    assert cv[types == "heterogeneous"].min() > 0.2
    assert cv[types == "grid"].min() > 0.3


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"period_ratio": 1.0}, "studies.mec.recordings.period_ratio"),
        ({"period_ratio": 0.7}, "studies.mec.recordings.period_ratio"),
        ({"period_min": -0.3}, "studies.mec.recordings.period_min"),
        ({"n_modules": 0}, "studies.mec.recordings.n_modules"),
        ({"n_grid": 3, "n_modules": 4}, "studies.mec.recordings.n_grid"),
        ({"n_sessions": 1}, "studies.mec.recordings.n_sessions"),
        ({"dwell_s": 0}, "studies.mec.recordings.dwell_s"),
        ({"n_border": -1}, "studies.mec.recordings.n_border"),
        ({"peak_rate_hz": float("nan")}, "studies.mec.recordings.peak_rate_hz"),
        (
            {"n_grid": 0, "n_border": 0, "n_head_direction": 0, "n_heterogeneous": 0},
            "studies.mec.recordings",
        ),
    ],
)
def test_simulate_mec_bad_input(kwargs, key):
    xy = arena_bins(2.2, 4)[["x", "y"]].to_numpy()
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        simulate_mec(xy, **kwargs)


def test_simulate_mec_bad_stimuli():
    with pytest.raises(InputError, match="shape"):
        simulate_mec(np.zeros((5, 3)))
    with pytest.raises(InputError, match="NaN"):
        simulate_mec(np.full((5, 2), np.nan))


def test_custom_config_key_is_named():
    with pytest.raises(InputError, match=r"studies\.mec_big\.recordings\.period_ratio"):
        simulate_mec(np.zeros((4, 2)), period_ratio=1.0, config_key="studies.mec_big.recordings")


# ---------------------------------------------------------------------------------- defaults


def _schema_defaults(section):
    mec_study = SCHEMA["definitions"]["mec_study"]["properties"]
    if section == "model":
        props = next(iter(mec_study["models"]["patternProperties"].values()))["properties"]
    else:
        props = mec_study[section]["properties"]
    return {k: v.get("default") for k, v in props.items() if k != "training"}


def _keyword_defaults(func, exclude):
    return {
        k: p.default
        for k, p in inspect.signature(func).parameters.items()
        if p.default is not inspect.Parameter.empty and k not in exclude
    }


@pytest.mark.parametrize(
    "section, func, exclude",
    [
        ("stimuli", arena_bins, set()),
        ("recordings", simulate_mec, {"box_width"}),
        ("model", build_rnn, {"box_width"}),
        ("trajectories", random_walks, {"box_width", "rng"}),
        (
            "training",
            train_path_integrator,
            {"threads", "trajectory_options", "trajectories_key", "callback"},
        ),
        (
            "rate_maps",
            rate_maps,
            {"box_width", "n_bins", "threads", "trajectory_options", "batch_size"},
        ),
    ],
)
def test_keyword_defaults_equal_schema_defaults(section, func, exclude):
    """The config schema holds the defaults; the functions' keyword defaults must equal them."""
    assert _keyword_defaults(func, exclude | {"config_key"}) == _schema_defaults(section)


def test_speed_scale_default_is_sorschers():
    assert _schema_defaults("trajectories")["speed_scale"] == SORSCHER_SPEED_SCALE
    assert (
        inspect.signature(rate_maps).parameters["n_bins"].default
        == _schema_defaults("stimuli")["n_bins"]
    )


# ---------------------------------------------------------------------------------- timing


def test_print_demo_training_speed():
    """Not an assertion: seconds per 100 training steps at the demo size (Np 256, Ng 128,
    batch 200, 20 steps, 2 threads). Timings are noisy when other work shares the CPUs."""
    steps = 8
    lines = []
    for cell in ("rnn", "gru", "lstm"):
        model = build_rnn(cell)
        # warm-up: the first calls of a process build oneDNN primitives (tens of ms each)
        train_path_integrator(model, n_train_steps=4, n_validation=1, threads=2)
        t0 = time.perf_counter()
        train_path_integrator(
            model, n_train_steps=steps, n_validation=1, log_every=10**6, threads=2
        )
        lines.append(f"{cell}: {100 * (time.perf_counter() - t0) / steps:.1f} s / 100 steps")
    print("\ndemo-size path-integrator training (2 threads): " + "; ".join(lines))


def test_spatial_blocks_group_contiguous_regions():
    from predictivity.core.ridge import make_folds
    from predictivity.studies.mec.arena import arena_bins

    plain = arena_bins(2.2, 20)
    assert "group" not in plain
    t = arena_bins(2.2, 20, blocks=4)
    assert t["group"].nunique() == 16
    # every block is a contiguous 5 × 5 square of bins
    for _, g in t.groupby("group"):
        assert len(g) == 25
        assert g["ix"].max() - g["ix"].min() == 4 and g["iy"].max() - g["iy"].min() == 4
    folds = make_folds(len(t), 5, 0, t["group"].to_numpy())
    for te in folds:  # a test fold holds whole blocks only
        held = set(t["group"].iloc[te])
        assert sum((t["group"] == g).sum() for g in held) == len(te)


@pytest.mark.parametrize("blocks", [1, 21, -1])
def test_spatial_blocks_bad_values_name_the_key(blocks):
    from predictivity.errors import InputError
    from predictivity.studies.mec.arena import arena_bins

    with pytest.raises(InputError, match="studies.mec.stimuli.blocks"):
        arena_bins(2.2, 20, blocks=blocks)
