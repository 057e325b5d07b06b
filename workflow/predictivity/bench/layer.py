"""Time every per-layer stage of one layer, each on its own (as the stages ran before the shared
basis) and all from one shared basis (:mod:`predictivity.core.basis`, what the pipeline does now),
against the regression alone. One BLAS thread, CPU seconds of this process (``time.process_time``,
less sensitive to other jobs on the machine than wall time; wall seconds in brackets).

    python -m predictivity.bench.layer [--size 2000x4096x1000] [--threads 1]

Default size: the regression benchmark's size A (P = 2000 stimuli, M = 4096 units, N = 1000
targets, float32 activations, K = 5 folds, the default alpha grid scaled by the trace). Stages
and their settings:

- spectra: PRs, eigenspectrum, alignment (:func:`predictivity.core.spectra.layer_spectrum`);
- regression: :func:`predictivity.core.ridge.cross_validated_ridge`;
- theory: :func:`predictivity.core.theory.layer_theory` with the schema's defaults (n_p = 12,
  n_subsets = 5), λ_reg from the regression's median alpha;
- controls: spectral reshaping with the default 6 γ, no null draws and no PR inflation (each
  null draw and the inflation cost about one regression each; ``--null`` adds draws); from the
  shared basis they also get the regression's per-fold results for the layer and γ = 1, as the
  pipeline hands them the regression's ``.folds.parquet`` (alone, they compute γ = 1 again, as
  before);
- metrics: CKA, Procrustes and SVCCA (the measures that use the layer's Gram and eigenbases;
  ``--metrics`` chooses).

Printed: the seconds of each stage, the sum of the stages run separately ("before"), the basis
plus every stage handed it ("shared"), and the ratios shared / regression alone and
shared / before; then the FLOP floor of the theory's kernel-ridge fits (:func:`theory_fits_floor`)
in seconds at this machine's float64 GEMM rate, as a ratio to the regression alone: work no
sharing removes, so the whole layer costs at least 1 + that ratio times the regression alone.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from predictivity.bench.regression import _gemm_rates, theory_fits_flops
from predictivity.core.basis import layer_basis
from predictivity.core.controls.scoring import layer_controls
from predictivity.core.metrics.measures import score_metrics
from predictivity.core.ridge import _cross_validated_ridge, default_alphas, make_folds
from predictivity.core.spectra import layer_spectrum
from predictivity.core.theory import layer_p_grid, layer_theory


def dense_layer(P: int, M: int, N: int, seed: int = 0):
    """The regression benchmark's dense generator (size A): unit scales decaying linearly from 1
    to 0.1, unit means in [−2, 2], targets a random linear readout × gain in [0, 2] + unit noise."""
    rng = np.random.default_rng([seed, P, M, N])
    X = rng.standard_normal((P, M)) * np.linspace(1.0, 0.1, M) + rng.uniform(-2, 2, M)
    W = rng.standard_normal((M, N)) / np.sqrt(M)
    Y = X @ W * rng.uniform(0, 2, N) + rng.standard_normal((P, N))
    return X, Y


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.process_time() - c, time.perf_counter() - w


def stage_calls(X, Y, folds, gammas, n_null, metrics, basis=None):
    """The stage functions of one layer (name → zero-argument callable), all handed ``basis``."""
    Yc = Y - Y.mean(axis=0)
    grid = default_alphas()
    P = X.shape[0]
    p_train = (P * (len(folds) - 1)) // len(folds)
    state = {}

    def regression():
        df, _, results = _cross_validated_ridge(
            X, Y, folds, grid, "trace", basis=basis, return_folds=True
        )
        state["lambda_reg"] = float(df["alpha"].median()) / p_train
        state["folds"] = results if basis is not None else None
        return df

    return {
        "spectra": lambda: layer_spectrum(X, Yc, basis=basis),
        "regression": regression,
        "theory": lambda: layer_theory(X, Yc, state["lambda_reg"], folds, basis=basis),
        "controls": lambda: layer_controls(
            X,
            Y,
            folds,
            alphas=grid,
            alpha_scaling="trace",
            gammas=gammas,
            n_null=n_null,
            noise_units=0,
            basis=basis,
            layer_folds=state["folds"],
        ),
        "metrics": lambda: score_metrics(
            {"x": X}, Y, folds, enabled=metrics, bases=None if basis is None else {"x": basis}
        ),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="2000x4096x1000", help="PxMxN (default: size A)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--null", type=int, default=0, help="null draws in the controls (default 0)")
    ap.add_argument("--metrics", default="cka,procrustes,cca")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    P, M, N = (int(v) for v in a.size.split("x"))
    X, Y = dense_layer(P, M, N, a.seed)
    X = X.astype(np.float32)
    folds = make_folds(P, 5, 0)
    gammas = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)
    metrics = [m for m in a.metrics.split(",") if m]
    before, shared = {}, {}
    with threadpool_limits(a.threads):
        for name, fn in stage_calls(X, Y, folds, gammas, a.null, metrics).items():
            _, c, w = timed(fn)
            before[name] = (c, w)
        basis, c, w = timed(lambda: layer_basis(X, folds))
        shared["basis"] = (c, w)
        for name, fn in stage_calls(X, Y, folds, gammas, a.null, metrics, basis).items():
            _, c, w = timed(fn)
            shared[name] = (c, w)
    reg = before["regression"][0]
    print(
        f"one layer, P={P} M={M} N={N}, float32, {a.threads} BLAS thread(s), 5 folds; "
        f"controls: {len(gammas)} γ, {a.null} null draws; metrics: {', '.join(metrics)}"
    )
    print("CPU seconds (wall in brackets)      each stage alone   with the shared basis")
    for name in ["basis", *before]:
        b = before.get(name)
        s = shared[name]
        left = f"{b[0]:8.1f} ({b[1]:6.1f})" if b else " " * 17
        print(f"  {name:<32} {left}   {s[0]:8.1f} ({s[1]:6.1f})")
    tot_b = sum(c for c, _ in before.values())
    tot_s = sum(c for c, _ in shared.values())
    print(f"  {'whole layer':<32} {tot_b:8.1f}            {tot_s:8.1f}")
    print(f"whole layer (shared basis) / regression alone      {tot_s / reg:.2f}")
    print(f"whole layer (shared basis) / stages run separately {tot_s / tot_b:.2f}")
    core = sum(shared[k][0] for k in ("basis", "spectra", "regression", "theory"))
    print(f"basis + spectra + regression + theory / regression alone  {core / reg:.2f}")
    with threadpool_limits(a.threads):
        rate = _gemm_rates(2000, 2)["float64"]
    fits = theory_fits_floor(P, N, folds)
    print(
        f"floor of the theory's kernel-ridge fits alone: {fits / 1e9:.0f} GFLOP = "
        f"{fits / rate / 1e9:.1f} s at {rate:.0f} GFLOP/s (float64 GEMM) = "
        f"{fits / rate / 1e9 / reg:.2f}× the regression alone"
    )
    return before, shared


def theory_fits_floor(P: int, N: int, folds, n_p: int = 12, n_subsets: int = 5) -> float:
    """FLOPs of the theory stage's empirical kernel-ridge fits at their floor
    (:func:`predictivity.bench.regression.theory_fits_flops` on every training fold, on the p grid
    :func:`predictivity.core.theory.layer_theory` uses, :func:`~predictivity.core.theory.layer_p_grid`): work the whole layer
    cannot avoid beside the regression's own, whatever is shared."""
    trains = [P - len(te) for te in folds]
    _, p_values = layer_p_grid(min(trains), len(folds), n_p)
    return sum(theory_fits_flops(n, N, p_values, n_subsets) for n in trains)


if __name__ == "__main__":
    main()
