"""The layers-table joins and summaries (stage 7), against direct computations."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from predictivity.aggregate.mec_criteria import mec_criteria_summary
from predictivity.aggregate.metric_agreement import METRIC_AGREEMENT_COLUMNS, metric_agreement
from predictivity.aggregate.presets import PRESET_SCORE_COLUMNS, preset_scores
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


def test_preset_scores_by_hand():
    # r = 0.5, −0.2, 0.3, 0.4; ceilings 0.8, 0.5, none (split-half r ≤ 0), 0.1
    reg = pd.DataFrame(
        {
            "layer": "a",
            "target": range(4),
            "pearson_r": [0.5, -0.2, 0.3, 0.4],
            "ceiling": [0.8, 0.5, np.nan, 0.1],
        }
    )
    s = preset_scores(reg).iloc[0]
    # the target without a ceiling enters the median as 0: median(0.8, 0.5, 0, 0.1) = 0.3
    assert s.ceiling_median == pytest.approx(0.3)
    assert s.pearson_r_over_ceiling == pytest.approx(0.35 / 0.3)
    assert s.pearson_r_over_ceiling_sq == pytest.approx((0.35 / 0.3) ** 2)
    # Tuckute: max(r, 0)² / max(ceiling, 0.182), the missing ceiling floored
    per_target = [0.25 / 0.8, 0.0, 0.09 / 0.182, 0.16 / 0.182]
    assert s.pearson_r2_corrected == pytest.approx(np.median(per_target))
    # one repetition: no ceiling anywhere, every preset score NaN
    none = preset_scores(reg.assign(ceiling=np.nan)).iloc[0]
    assert none[PRESET_SCORE_COLUMNS].isna().all()
    # most targets without a ceiling: the median ceiling is not positive, Brain-Score's is NaN
    few = preset_scores(reg.assign(ceiling=[np.nan, np.nan, np.nan, 0.5])).iloc[0]
    assert np.isnan(few.ceiling_median) and np.isnan(few.pearson_r_over_ceiling)
    few_targets = [0.25 / 0.182, 0.0, 0.09 / 0.182, 0.16 / 0.5]
    assert few.pearson_r2_corrected == pytest.approx(np.median(few_targets))


def test_layers_carry_the_preset_scores():
    reg = _reg()
    out = model_layers("s", "m", reg, _spec(), _theory()).set_index("layer")
    for layer, g in reg.groupby("layer"):
        r2c = np.median(np.maximum(g.pearson_r, 0) ** 2 / np.maximum(g.ceiling, 0.182))
        assert out.loc[layer, "pearson_r2_corrected"] == pytest.approx(r2c)
        assert out.loc[layer, "pearson_r_over_ceiling"] == pytest.approx(
            np.median(g.pearson_r) / np.median(g.ceiling)
        )


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


# --------------------------------------------------------------------------------------------
# best layer per network (docs/design.md#best-layer)
# --------------------------------------------------------------------------------------------


def _folds_table(n_layers=4, n_folds=5, n_targets=6, seed=0, quality=None, noise=0.05):
    """A per-fold regression table of the shape score_layers(..., return_folds=True) writes:
    layer × fold × target; layer L's fold scores scatter around quality[L], its inner error
    independently so."""
    rng = np.random.default_rng(seed)
    quality = np.zeros(n_layers) if quality is None else np.asarray(quality, float)
    rows = []
    for li in range(n_layers):
        for k in range(n_folds):
            for t in range(n_targets):
                sst = rng.uniform(1, 3)
                r2 = quality[li] + rng.normal(0, noise)
                cv_sst = rng.uniform(4, 12)
                rows.append(
                    {
                        "layer": f"L{li}",
                        "layer_index": li,
                        "fold": k,
                        "target": t,
                        "r2": r2,
                        "pearson_r": np.sqrt(max(r2, 0)) + rng.normal(0, 0.01),
                        "sse": (1 - r2) * sst,
                        "sst": sst,
                        "alpha": 1.0,
                        "cv_sse": (1 - quality[li] - rng.normal(0, noise)) * cv_sst,
                        "cv_sst": cv_sst,
                    }
                )
    return pd.DataFrame(rows)


def _brute_force_best_layer(folds, exclude=()):
    layers = sorted(
        {(r.layer_index, r.layer) for r in folds.itertuples() if r.layer not in exclude}
    )
    chosen = {}
    for k in sorted(set(folds.fold)):
        best, best_score = None, -np.inf
        for _, name in layers:
            sel = folds[(folds.fold == k) & (folds.layer == name)]
            score = 1 - sum(sel.cv_sse) / sum(sel.cv_sst)
            if score > best_score:
                best, best_score = name, score
        chosen[k] = best
    per_target_r2, per_target_r, sse, sst = {}, {}, 0.0, 0.0
    for r in folds.itertuples():
        if chosen[r.fold] == r.layer:
            per_target_r2.setdefault(r.target, []).append(r.r2)
            per_target_r.setdefault(r.target, []).append(r.pearson_r)
            sse, sst = sse + r.sse, sst + r.sst
    r2 = np.median([np.mean(v) for v in per_target_r2.values()])
    pr = np.median([np.mean(v) for v in per_target_r.values()])
    layer_r2 = {
        name: np.median([np.mean(g.r2) for _, g in folds[folds.layer == name].groupby("target")])
        for _, name in layers
    }
    return [chosen[k] for k in sorted(chosen)], r2, pr, 1 - sse / sst, layer_r2


def test_best_layer_matches_a_brute_force_loop():
    from predictivity.aggregate.best_layer import BEST_LAYER_COLUMNS, best_layer_table

    folds = _folds_table(quality=[0.1, 0.12, 0.11, 0.3], noise=0.08, seed=3)
    t = best_layer_table(
        [
            {"study": "s", "model": "m", "trained": True, "folds": folds},
            {"study": "s", "model": "m_noinput", "trained": None, "folds": folds,
             "exclude": ["L3"]},
        ]
    )  # fmt: skip
    assert list(t.columns) == BEST_LAYER_COLUMNS
    for row, exclude in zip(t.itertuples(), ((), ("L3",))):
        chosen, r2, pr, pooled, layer_r2 = _brute_force_best_layer(folds, exclude)
        assert row.layer_per_fold.split(",") == chosen
        assert row.n_distinct_layers == len(set(chosen))
        assert row.r2 == pytest.approx(r2) and row.pearson_r == pytest.approx(pr)
        assert row.r2_pooled == pytest.approx(pooled)
        best = max(layer_r2, key=layer_r2.get)
        assert row.test_selected_layer == best
        assert row.r2_test_selected == pytest.approx(layer_r2[best])
        assert row.selection_optimism == pytest.approx(layer_r2[best] - r2)
        assert row.n_layers == 4 - len(exclude) and row.n_folds == 5 and row.n_targets == 6
    assert list(t.trained.astype(object).fillna("na")) == [True, "na"]
    # the test-selected score is the layers table's r2 of that layer
    reg = folds.groupby(["layer", "layer_index", "target"], as_index=False)[["r2", "pearson_r"]]
    reg = reg.mean()
    assert t.r2_test_selected.iloc[0] == pytest.approx(reg.groupby("layer").r2.median().max())


def test_test_selection_is_optimistic_with_many_noise_layers():
    from predictivity.aggregate.best_layer import select_layers

    # 40 layers of equal (zero) true quality: the max of their test scores is a selection effect
    folds = _folds_table(n_layers=40, n_folds=5, n_targets=5, noise=0.1, seed=7)
    row = select_layers(folds)
    assert row["r2_test_selected"] > row["r2"] + 0.03
    assert row["selection_optimism"] == pytest.approx(row["r2_test_selected"] - row["r2"])
    assert row["n_distinct_layers"] >= 3  # the inner choice wanders among equal layers
    # one clearly better layer: chosen in every fold, and no optimism
    q = np.zeros(40)
    q[17] = 0.5
    row = select_layers(_folds_table(n_layers=40, n_folds=5, n_targets=5, quality=q, seed=7))
    assert row["layer_per_fold"] == ",".join(["L17"] * 5) and row["layer"] == "L17"
    assert row["selection_optimism"] == pytest.approx(0.0, abs=1e-12)


def test_best_layer_ties_go_to_the_lowest_layer_and_bad_input_is_named():
    from predictivity.aggregate.best_layer import select_layers

    folds = _folds_table(n_layers=3, quality=[0.2, 0.2, 0.2], noise=0.0)
    folds["cv_sse"] = 0.5 * folds["cv_sst"]  # every layer's inner score is exactly 0.5
    row = select_layers(folds)
    assert row["layer_per_fold"] == "L0,L0,L0,L0,L0" and row["test_selected_layer"] == "L0"
    with pytest.raises(ValueError, match="cv_sse"):
        select_layers(folds.drop(columns="cv_sse"))
    empty = select_layers(folds, exclude=["L0", "L1", "L2"])
    assert empty["n_layers"] == 0 and np.isnan(empty["r2"]) and empty["layer"] == ""


def test_inner_selection_on_the_real_ridge():
    """score_layers(..., return_folds=True) → select_layers: 20 layers of equal true quality
    (each the same latent code plus its own noise) make the test-selected maximum optimistic;
    adding one clearly better layer, inner CV picks it in every fold."""
    from predictivity.aggregate.best_layer import select_layers
    from predictivity.core.ridge import make_folds, score_layers

    rng = np.random.default_rng(1)
    P, N = 80, 6
    Z = rng.standard_normal((P, 5))
    Y = Z @ rng.standard_normal((5, N)) + rng.standard_normal((P, N)) * 2.0
    layers = {
        f"L{i}": Z @ rng.standard_normal((5, 30)) + rng.standard_normal((P, 30)) * 3.0
        for i in range(20)
    }
    folds = make_folds(P, 5, 0)
    alphas = np.logspace(-2, 6, 17)
    table, per_fold = score_layers(layers, Y, folds, alphas, "trace", return_folds=True)
    row = select_layers(per_fold)
    assert row["r2_test_selected"] == pytest.approx(table.groupby("layer").r2.median().max())
    assert row["selection_optimism"] > 0.02 and row["n_distinct_layers"] >= 2
    layers["good"] = Z @ rng.standard_normal((5, 30)) + rng.standard_normal((P, 30)) * 0.1
    _, per_fold = score_layers(layers, Y, folds, alphas, "trace", return_folds=True)
    row = select_layers(per_fold)
    assert row["layer_per_fold"] == ",".join(["good"] * 5)
    assert row["selection_optimism"] == pytest.approx(0.0, abs=1e-12)
