"""The layers-table joins and summaries (stage 7), against direct computations."""

import numpy as np
import pandas as pd
import pytest

from predictivity.aggregate.tables import (
    LAYER_COLUMNS,
    benchmarks_table,
    layers_table,
    model_layers,
    regression_summary,
)
from predictivity.errors import InputError


def _reg():
    rng = np.random.default_rng(0)
    rows = []
    for li, layer in enumerate(["a", "b"]):
        for t in range(5):
            sse, sst = rng.uniform(1, 2), rng.uniform(2, 4)
            rows.append(
                {
                    "layer": layer,
                    "layer_index": li,
                    "target": t,
                    "r2": rng.normal(0.3, 0.1),
                    "pearson_r": rng.normal(0.5, 0.1),
                    "alpha": 10.0 ** rng.integers(-2, 8),
                    "alpha_at_edge": t == 0,
                    "alpha_at_low_edge": t == 0,
                    "alpha_at_high_edge": False,
                    "sse": sse,
                    "sst": sst,
                    "ceiling": 0.5,
                    "r2_ceiled": np.nan,
                    "pearson_r_ceiled": np.nan,
                }
            )
    df = pd.DataFrame(rows)
    df["r2_ceiled"] = df["r2"] / df["ceiling"]
    df["pearson_r_ceiled"] = df["pearson_r"] / np.sqrt(df["ceiling"])
    return df


def test_regression_summary_medians_and_pooled_r2():
    reg = _reg()
    s = regression_summary(reg).set_index("layer")
    for layer, g in reg.groupby("layer"):
        assert s.loc[layer, "r2"] == np.median(g["r2"])
        assert np.isclose(s.loc[layer, "r2_mean"], np.mean(g["r2"]))
        assert np.isclose(s.loc[layer, "r2_pooled"], 1 - g["sse"].sum() / g["sst"].sum())
        assert s.loc[layer, "alpha_edge_fraction"] == 0.2


def _spec():
    return pd.DataFrame(
        {
            "layer": ["a", "a", "b"],
            "rank": [1, 2, 1],
            "eigenvalue": [2.0, 1.0, 3.0],
            "alignment": [0.5, 0.2, 0.9],
            "n_stimuli": 50,
            "n_units": [7, 7, 9],
            "pr": [1.8, 1.8, 1.0],
            "pr_uncentred": 1.0,
            "pr_double_centred": 1.0,
            "powerlaw_alpha": 1.0,
        }
    )


def _theory():
    return pd.DataFrame(
        {
            "layer": ["a", "a", "b", "b"],
            "p": [10, 40, 10, 40],
            "at_p_train": [False, True, False, True],
            "lambda_reg": 0.1,
            "eg_theory": [0.9, 0.6, 0.8, 0.7],
            "eg_empirical": [0.88, 0.55, 0.79, 0.66],
            "r_em": 0.1,
            "d_em": 2.0,
        }
    )


def test_model_layers_joins_theory_at_p_train_and_has_design_columns():
    reg, spec, theory = _reg(), _spec(), _theory()
    out = model_layers("s", "m", reg, spec, theory, trained=False, n_targets_dropped=2)
    assert list(out.columns[: len(LAYER_COLUMNS)]) == LAYER_COLUMNS
    assert list(out["theory_r2"]) == [0.4, 0.30000000000000004]
    assert np.allclose(out["empirical_r2_all"], [0.45, 0.34])
    assert np.allclose(out["log_pr"], np.log([1.8, 1.0]))
    assert list(out["n_units"]) == [7, 9] and (out["n_targets_dropped"] == 2).all()
    assert not out["trained"].any()
    assert "theory_r2_test" not in out.columns  # no held-out theory column (docs/design.md#theory)
    assert not out["is_input"].any()


def test_input_layers_marked_and_checked():
    out = model_layers("s", "m", _reg(), _spec(), _theory(), input_layers=["a"])
    assert list(out["is_input"]) == [True, False]
    with pytest.raises(InputError, match=r"studies\.s\.input_layers\.m.*'zz'"):
        model_layers(
            "s", "m", _reg(), _spec(), _theory(), input_layers=["zz"],
            input_layers_key="studies.s.input_layers.m",
        )  # fmt: skip


def test_identical_layers_are_marked_within_a_study():
    a = model_layers("s", "trained", _reg(), _spec(), _theory(), input_layers=["a"])
    b = model_layers("s", "untrained", _reg(), _spec(), _theory(), input_layers=["a"])
    # the twin's layer b differs in one bit of pr_double_centred: not a duplicate
    b.loc[b.layer == "b", "pr_double_centred"] = np.nextafter(1.0, 2.0)
    c = model_layers("t", "other", _reg(), _spec(), _theory())  # another study: never
    t = layers_table([a, b, c])
    assert list(t["duplicate_of"].fillna("")) == ["", "", "trained/a", "", "", ""]
    assert list(t.columns[-2:]) == ["is_input", "duplicate_of"]
    # existing columns are untouched by the new ones
    pd.testing.assert_frame_equal(
        t.drop(columns=["is_input", "duplicate_of"]),
        pd.concat([a, b, c], ignore_index=True).drop(columns="is_input"),
    )


def test_benchmarks_table_parses_paths_and_sorts():
    def f(s):
        return pd.DataFrame(
            {"s": [s], "cpu_time": [s / 2], "max_rss": [100.0], "mean_load": [50.0]}
        )

    out = benchmarks_table(
        [
            ("regression/mec/gru.tsv", f(3.0)),
            ("train/mec/lstm.tsv", f(9.0)),
            ("misc/all.tsv", f(1.0)),
        ]
    )
    assert list(out["seconds"]) == [9.0, 3.0, 1.0]
    assert out.iloc[0][["stage", "study", "model"]].tolist() == ["train", "mec", "lstm"]
