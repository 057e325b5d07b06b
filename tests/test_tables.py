"""The layers-table joins and summaries (stage 7), against direct computations."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from predictivity.aggregate.mec_criteria import mec_criteria_summary
from predictivity.aggregate.metric_agreement import METRIC_AGREEMENT_COLUMNS, metric_agreement
from predictivity.aggregate.tables import (
    LAYER_COLUMNS,
    benchmarks_table,
    join_layer_columns,
    layers_table,
    mec_layer_criteria,
    metric_scores,
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


def _layers(n_models=3, n_layers=5, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for study in ("s1", "s2"):
        for m in range(n_models):
            for k in range(n_layers):
                lp = rng.uniform(0.5, 4.0)
                rows.append(
                    {
                        "study": study,
                        "model": f"m{m}",
                        "layer": f"L{k}",
                        "layer_index": k,
                        "pr": float(np.exp(lp)),
                        "log_pr": lp,
                        "r2": 0.1 + 0.05 * lp + rng.normal(0, 0.02),
                    }
                )
    return pd.DataFrame(rows)


def _metrics_long(layers, names=("pls", "rsa", "cka"), seed=1):
    rng = np.random.default_rng(seed)
    rows = [
        {
            "study": r.study,
            "model": r.model,
            "layer": r.layer,
            "layer_index": r.layer_index,
            "metric": name,
            "score": float(rng.normal()),
        }
        for r in layers.itertuples()
        for name in names
    ]
    return pd.DataFrame(rows)


def test_metric_columns_joined_on_study_model_layer():
    layers = _layers()
    long = _metrics_long(layers)
    # a layer the metrics stage did not score, and one the layers table does not have
    long = long[~((long.study == "s2") & (long.model == "m1") & (long.layer == "L3"))]
    extra = long.iloc[:3].assign(layer="nope")
    wide = metric_scores(pd.concat([long.iloc[::-1], extra], ignore_index=True))
    assert list(wide.columns) == ["study", "model", "layer", "cka", "rsa", "pls"]  # first seen
    out = join_layer_columns(layers, wide, "metrics")
    pd.testing.assert_frame_equal(out[layers.columns], layers)  # existing columns untouched
    assert list(out.columns) == [*layers.columns, "cka", "rsa", "pls"]
    for name in ("pls", "rsa", "cka"):
        direct = long[long.metric == name].set_index(["study", "model", "layer"])["score"]
        key = pd.MultiIndex.from_frame(layers[["study", "model", "layer"]])
        np.testing.assert_array_equal(out[name].to_numpy(), direct.reindex(key).to_numpy())
    missing = (out.study == "s2") & (out.model == "m1") & (out.layer == "L3")
    assert out.loc[missing, ["pls", "rsa", "cka"]].isna().all(axis=None)
    assert out.loc[~missing, ["pls", "rsa", "cka"]].notna().all(axis=None)
    with pytest.raises(ValueError, match="already in the layers table"):
        join_layer_columns(out, wide, "metrics")


def test_mec_criteria_columns_leave_out_the_recordings():
    units = pd.DataFrame(
        {
            "study": "mec",
            "model": ["rnn"] * 4 + ["recordings"] * 2,
            "layer": ["g", "g", "h", "h", "cells", "cells"],
            "gridness": [0.9, 0.1, np.nan, 0.2, 1.0, 1.1],
            "gridness_corrected": [0.9, 0.1, np.nan, 0.2, 1.0, 1.1],
            "spacing": [0.3, 0.5, np.nan, 0.4, 0.3, 0.42],
            "gridness_threshold": 0.3,
            "is_grid": pd.array([True, False, pd.NA, False, True, True], dtype="boolean"),
            "module": pd.array([0, pd.NA, pd.NA, pd.NA, 0, 1], dtype="Int64"),
        }
    )
    summary = mec_criteria_summary(units)
    cols = mec_layer_criteria(summary)
    assert list(cols.columns) == ["study", "model", "layer", "fraction_grid", "n_modules"]
    assert list(cols["layer"]) == ["g", "h"]
    np.testing.assert_allclose(cols["fraction_grid"], [1 / 2, 0 / 1])
    assert list(cols["n_modules"]) == [1, 0]
    layers = pd.DataFrame(
        {"study": ["mec", "mec", "mec", "it"], "model": "rnn", "layer": ["g", "h", "enc", "g"]}
    )
    out = join_layer_columns(layers, cols, "mec_criteria")
    np.testing.assert_allclose(out["fraction_grid"], [0.5, 0.0, np.nan, np.nan])
    assert str(out["n_modules"].dtype) == "Int64"
    assert out["n_modules"].isna().tolist() == [False, False, True, True]


def test_metric_agreement_against_direct_computation():
    layers = _layers()
    wide = metric_scores(_metrics_long(layers))
    layers = join_layer_columns(layers, wide, "metrics")
    layers["cka"] = layers["r2"] * 2 + 1  # ranks layers exactly as r2
    layers.loc[0, "rsa"] = np.nan
    layers["is_input"] = layers["layer"] == "L0"
    out = metric_agreement(layers, ["pls", "rsa", "cka", "cca"], n_boot=200, seed=0)
    assert list(out.columns) == METRIC_AGREEMENT_COLUMNS
    names = ["r2", "pls", "rsa", "cka", "log_pr"]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    assert list(zip(out.metric_a, out.metric_b)) == pairs * 2
    fitted = layers[~layers["is_input"]]
    for row in out.itertuples():
        sub = fitted[fitted.study == row.study]
        a, b = sub[row.metric_a].to_numpy(), sub[row.metric_b].to_numpy()
        ok = np.isfinite(a) & np.isfinite(b)
        ref = scipy.stats.kendalltau(a[ok], b[ok])
        assert row.tau == pytest.approx(ref.statistic, abs=1e-12)
        assert row.p_value == pytest.approx(ref.pvalue, rel=1e-9)
        assert row.n_layers == ok.sum() and row.n_models == 3
        assert row.tau_boot_low <= row.tau_boot_high and row.n_boot > 0
        if row.metric_b == "log_pr":
            slope, _ = np.polyfit(b[ok], a[ok], 1)
            assert row.slope == pytest.approx(slope, rel=1e-9)
            assert row.pearson_r == pytest.approx(np.corrcoef(a[ok], b[ok])[0, 1], rel=1e-9)
        else:
            assert np.isnan(row.slope) and np.isnan(row.pearson_r)
    same = out[(out.metric_a == "r2") & (out.metric_b == "cka")]
    np.testing.assert_allclose(same[["tau", "tau_boot_low", "tau_boot_high"]], 1.0, rtol=1e-12)
    with_inputs = metric_agreement(layers, ["pls"], n_boot=0, include_inputs=True)
    assert (with_inputs["n_layers"] == 15).all() and with_inputs["tau_boot_low"].isna().all()
    assert metric_agreement(layers.iloc[:0], ["pls"]).empty
