"""Time the controls of one layer against the regression alone (size A of the regression
benchmark: P = 2000, M = 4096, N = 1000; 6 γ), one BLAS thread, same data, folds and grid;
prints CPU seconds and the ratio of each part to the regression.

    python -m predictivity.bench.controls [--size 2000x4096x1000] [--repeats 3]
        [--n-null-probe 2] [--noise-units 4000]

Both sides run alone, as without the shared eigen basis: each forms the Gram and runs one
``eigh`` per fold. The controls get the regression's per-fold results for the layer's own row
and γ = 1, as the pipeline hands them the regression stage's ``.folds.parquet``; the line
"computing γ = 1 again" shows what they would cost without.

The regression and the 6-γ controls are timed ``--repeats`` times, alternately, and the ratio
is reported per repeat and as best ÷ best (the least disturbed run of each: on a shared
machine single runs vary by ±10 %). The other lines are single runs.
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from predictivity.core.controls.scoring import layer_controls
from predictivity.core.ridge import _cross_validated_ridge, default_alphas, make_folds


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="2000x4096x1000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-null-probe", type=int, default=2)
    ap.add_argument("--noise-units", type=int, default=4000)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    P, M, N = (int(v) for v in a.size.split("x"))
    rng = np.random.default_rng([0, P, M, N])  # the bench's dense generator (size A)
    X = rng.standard_normal((P, M)) * np.linspace(1.0, 0.1, M) + rng.uniform(-2, 2, M)
    W = rng.standard_normal((M, N)) / np.sqrt(M)
    Y = X @ W * rng.uniform(0, 2, N) + rng.standard_normal((P, N))
    X = X.astype(np.float32)
    folds = make_folds(P, 5, 0)
    grid = default_alphas()
    gam = (0, 0.25, 0.5, 1, 1.5, 2)
    kw = dict(alphas=grid, alpha_scaling="trace")
    regs, ctls = [], []
    print(f"size P={P} M={M} N={N}, {a.threads} thread(s); CPU seconds (wall in brackets)")
    with threadpool_limits(a.threads):
        for r in range(max(1, a.repeats)):
            reg, w_reg, c_reg = timed(
                lambda: _cross_validated_ridge(X, Y, folds, grid, "trace", return_folds=True)
            )
            own = reg[2]  # the regression's FoldResult per fold
            _, w_rs, c_rs = timed(
                lambda own=own: layer_controls(
                    X, Y, folds, gammas=gam, n_null=0, noise_units=0, layer_folds=own, **kw
                )
            )
            regs.append(c_reg)
            ctls.append(c_rs)
            print(
                f"repeat {r + 1}: regression {c_reg:.1f} ({w_reg:.1f}), controls 6 γ "
                f"{c_rs:.1f} ({w_rs:.1f}), ratio {c_rs / c_reg:.2f}",
                flush=True,
            )
        c_reg, c_rs = min(regs), min(ctls)
        _, w_again, c_again = timed(
            lambda: layer_controls(X, Y, folds, gammas=gam, n_null=0, noise_units=0, **kw)
        )
        _, w_nl, c_nl = timed(
            lambda: layer_controls(
                X, Y, folds, gammas=[1], n_null=a.n_null_probe, noise_units=0, **kw
            )
        )
        _, w_l1, c_l1 = timed(
            lambda: layer_controls(X, Y, folds, gammas=[1], n_null=0, noise_units=0, **kw)
        )
        _, w_inf, c_inf = timed(
            lambda: layer_controls(
                X, Y, folds, gammas=[1], n_null=0, noise_units=a.noise_units, **kw
            )
        )
    per_draw = (c_nl - c_l1) / a.n_null_probe
    inflation = c_inf - c_l1
    print(f"regression alone (best)          {c_reg:7.1f}")
    print(
        f"controls, 6 γ (best)             {c_rs:7.1f}   ratio {c_rs / c_reg:.2f} (target ≤ 2);"
        f" per repeat {', '.join(f'{c / r:.2f}' for c, r in zip(ctls, regs))}"
    )
    print(f"  computing γ = 1 again           {c_again:7.1f}   ratio {c_again / c_reg:.2f}")
    print(f"controls, γ=1 computed            {c_l1:7.1f}   ratio {c_l1 / c_reg:.2f}")
    print(f"null, per draw                   {per_draw:7.1f}   ratio {per_draw / c_reg:.2f}")
    print(
        f"PR inflation ({a.noise_units} units)       {inflation:7.1f}   ratio {inflation / c_reg:.2f}"
    )
    for n_null in (0, 5, 20):
        tot = c_rs + n_null * per_draw + inflation
        print(
            f"controls job, 6 γ, n_null={n_null:2d}, noise   {tot:7.1f}   ratio {tot / c_reg:.2f}"
        )


if __name__ == "__main__":
    main()
