"""The benchmark command runs end to end on tiny sizes. No assertion on time."""

import numpy as np
import pandas as pd
import pytest

from predictivity.bench import regression as benchmark

REQUIRED = [
    "size",
    "P",
    "M",
    "N",
    "method",
    "dtype",
    "seconds",
    "peak_mb",
    "ratio_to_floor",
    "ratio_to_ours",
    "alphas_equal_sklearn",
    "status",
]


def test_benchmark_writes_the_table_on_tiny_sizes(tmp_path, capsys):
    out = tmp_path / "bench" / "regression.parquet"
    code = benchmark.main(
        [
            "--sizes",
            "tinyK=60x200x8,tinyC=60x20x6,tinyM=40x300x10:memmap,tinyT=60x40x4:theory",
            "--methods",
            "predictivity,sklearn_ridgecv",
            "--out",
            str(out),
            "--gemm-size",
            "200",
            "--timeout",
            "300",
        ]
    )
    assert code == 0
    df = pd.read_parquet(out)
    assert set(REQUIRED) <= set(df.columns)
    assert set(df["dtype"]) <= {"float32", "float64"}
    reg = df[df["stage"] == "regression"]
    assert set(reg["method"]) == {"predictivity", "sklearn_ridgecv"}
    assert (reg["status"] == "ok").all(), reg[["size", "method", "status", "note"]]
    assert reg["alphas_equal_sklearn"].astype(bool).all()
    ours = reg[reg["method"] == "predictivity"]
    assert sorted(ours["dtype"].unique()) == ["float32", "float64"]
    np.testing.assert_allclose(ours["ratio_to_ours"], 1.0)
    assert (reg["peak_mb"] > 0).all() and np.isfinite(reg["ratio_to_floor"]).all()
    theory = df[df["size"] == "tinyT"]
    assert set(theory["stage"]) == {"spectra", "theory"}
    assert (theory["status"] == "ok").all()
    printed = capsys.readouterr().out
    assert "GEMM rate" in printed and "alphas_equal_sklearn" in printed


def test_size_parsing():
    assert benchmark.parse_size("A") == benchmark.SIZES["A"]
    s = benchmark.parse_size("x=10x20x3:powerlaw")
    assert (s.name, s.P, s.M, s.N, s.kind) == ("x", 10, 20, 3, "powerlaw")
    with pytest.raises(ValueError):
        benchmark.parse_size("nope")


def test_floor_formula():
    folds = [np.arange(0, 400), np.arange(400, 800)]
    P, M, N = 800, 1000, 10
    expected = P * P * M + 2 * (9 * 400**3 + 20 * 2 * 400 * 400 * N)
    assert benchmark.regression_floor_flops(P, M, N, folds, 20) == expected


def test_controls_benchmark_prints_ratios_at_a_small_size():
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "predictivity.bench.controls",
            "--size",
            "120x60x8",
            "--repeats",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert (
        sum(line.startswith("repeat ") for line in out.splitlines()) == 2
        and "controls, 6 γ (best)" in out
        and "per repeat" in out
    )


def test_layer_benchmark_prints_every_stage_and_the_ratios_at_a_small_size():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "predictivity.bench.layer", "--size", "200x300x20"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    for stage in ("basis", "spectra", "regression", "theory", "controls", "metrics"):
        assert f"  {stage} " in out
    assert "whole layer (shared basis) / regression alone" in out
    assert "whole layer (shared basis) / stages run separately" in out
    assert "floor of the theory's kernel-ridge fits alone" in out


def test_theory_fits_floor_counts_min_n_p_targets_and_the_layer_grid():
    from predictivity.bench.layer import theory_fits_floor
    from predictivity.bench.regression import theory_fits_flops
    from predictivity.core.ridge import make_folds
    from predictivity.core.theory import p_grid

    ps = [5, 20]
    by_hand = 3 * sum(p**3 / 3 + 2 * p * p * 30 + 2 * (50 - p) * p * 30 for p in ps)
    assert theory_fits_flops(50, 30, ps, 3) == pytest.approx(by_hand, rel=1e-14)
    # more targets than stimuli: the fits see P = 50 columns, plus the QR of Yᵀ
    wide = 3 * sum(p**3 / 3 + 2 * p * p * 50 + 2 * (50 - p) * p * 50 for p in ps)
    assert theory_fits_flops(50, 400, ps, 3) == pytest.approx(wide + 2 * 400 * 50 * 50, rel=1e-14)
    # the layer's floor: every training fold on the p grid of the smallest, with p_ref = 40·4/5
    folds = make_folds(50, 5, 0)
    grid = p_grid(40, 12, 5, include=(32,))
    assert theory_fits_floor(50, 30, folds) == sum(theory_fits_flops(40, 30, grid) for _ in folds)
