"""Calibration of the fits table's intervals and tests on simulated null layer tables.

    python -m predictivity.aggregate.calibration --replicates 500 --seed 0
    python -m predictivity.aggregate.calibration --replicates 300 --seed 0 --networks 5 --heterogeneous

simulates layer tables in which every study has the **same** true slope of score on ln PR and
each network has its own random intercept and random slope, runs the code that builds the fits
table on them (:func:`predictivity.aggregate.fits.fit_study` and
:func:`~predictivity.aggregate.fits.fit_pooled`, the mixed model with its cluster-bootstrap
fallback and the permutation test of equal slopes) and reports, per number of networks per study:

* ``coverage``: share of per-study 95 % intervals that contain the true slope (split by the
  inference actually used: ``coverage_mixed``, ``coverage_bootstrap``, with ``share_mixed``);
* ``pooled_coverage``: the same for the pooled slope (``pooled_share_mixed``);
* ``equal_slopes_rejection``: share of pooled fits whose equal-slopes p-value is ≤ 0.05 (the
  null is true, so nominal is 5 %), and ``equal_slopes_ks_p``: the Kolmogorov–Smirnov p-value of
  those p-values against the uniform distribution;
* for comparison, what the previous methods give on the same tables:
  ``coverage_percentile`` (percentile interval of the cluster bootstrap) and
  ``f_test_rejection`` (the layer-level F-test of the study × ln PR interaction).

The generative model (:func:`simulate_null_layers`): network ``n`` of study ``s`` has ``L``
layers (uniform integer in ``layers``), ln PR values ``x`` sorted from
``uniform(lo, lo + width, L)`` with ``lo ~ U(0.5, 2.5)``, ``width ~ U(1, 3)``, and scores
``y = intercept + u₀ₙ + (slope + u₁ₙ)·x + ε`` with ``u₀ₙ ~ N(0, sd_intercept²)``,
``u₁ₙ ~ N(0, sd_slope²)``, ``ε ~ N(0, sd_noise²)`` independently. With ``heterogeneous=True``
the studies differ in design (study 0: 3–4 layers over a width of 0.5–1.5; study 1: 6–10 layers
over 2–4; others as above), which strains the permutation test's exchangeability. Replicate
``r`` with ``G`` networks per study draws from ``numpy.random.default_rng([seed, G, r])`` and
uses ``r`` as the seed of its bootstrap and permutations, so every number is reproducible.
The result goes in ``docs/calibration.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.anova import anova_lm
from threadpoolctl import threadpool_limits

from predictivity.aggregate.fits import bootstrap_lines, fit_pooled, fit_study

NETWORKS = (2, 3, 5, 8)


def simulate_null_layers(
    n_studies: int,
    n_networks: int,
    rng: np.random.Generator,
    slope: float = 0.05,
    intercept: float = 0.1,
    sd_intercept: float = 0.05,
    sd_slope: float = 0.02,
    sd_noise: float = 0.03,
    layers: tuple[int, int] = (3, 8),
    heterogeneous: bool = False,
) -> pd.DataFrame:
    """A layers table (study, model, layer, layer_index, pr, log_pr, r2) under the null of one
    common slope, with network random effects (module docstring)."""
    rows = []
    for s in range(n_studies):
        lay, width = layers, (1.0, 3.0)
        if heterogeneous and s == 0:
            lay, width = (3, 4), (0.5, 1.5)
        elif heterogeneous and s == 1:
            lay, width = (6, 10), (2.0, 4.0)
        for n in range(n_networks):
            k = int(rng.integers(lay[0], lay[1] + 1))
            lo = rng.uniform(0.5, 2.5)
            x = np.sort(rng.uniform(lo, lo + rng.uniform(*width), k))
            u0, u1 = rng.normal(0, sd_intercept), rng.normal(0, sd_slope)
            y = intercept + u0 + (slope + u1) * x + rng.normal(0, sd_noise, k)
            for i in range(k):
                rows.append(
                    {
                        "study": f"s{s}",
                        "model": f"net{n}",
                        "layer": f"l{i}",
                        "layer_index": i,
                        "pr": float(np.exp(x[i])),
                        "log_pr": float(x[i]),
                        "r2": float(y[i]),
                    }
                )
    return pd.DataFrame(rows)


def _f_test_p(layers: pd.DataFrame) -> float:
    d = layers.rename(columns={"log_pr": "x", "r2": "y", "study": "g"})
    fe = smf.ols("y ~ x + C(g)", data=d).fit()
    full = smf.ols("y ~ x * C(g)", data=d).fit()
    return float(anova_lm(fe, full)["Pr(>F)"].iloc[1])


def replicate(
    n_networks: int,
    r: int,
    seed: int = 0,
    n_studies: int = 3,
    slope: float = 0.05,
    n_boot: int = 1000,
    n_perm: int = 999,
    heterogeneous: bool = False,
) -> dict:
    """One simulated table and what the fits make of it (per-study lists and pooled numbers)."""
    rng = np.random.default_rng([seed, n_networks, r])
    layers = simulate_null_layers(
        n_studies, n_networks, rng, slope=slope, heterogeneous=heterogeneous
    )
    out = {"covered": [], "inference": [], "percentile_covered": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _, g in layers.groupby("study", sort=True):
            f = fit_study(g, "r2", n_boot=n_boot, seed=r, warn=False)
            out["covered"].append(bool(f["slope_ci_low"] <= slope <= f["slope_ci_high"]))
            out["inference"].append(f["inference"])
            _, reps = bootstrap_lines(g, "r2", n_boot=n_boot, seed=r)
            reps = reps[np.isfinite(reps)]
            lo, hi = np.percentile(reps, [2.5, 97.5])
            out["percentile_covered"].append(bool(lo <= slope <= hi))
        p = fit_pooled(layers, "r2", n_boot=n_boot, seed=r, n_perm=n_perm, warn=False)
        out["pooled_covered"] = bool(p["slope_ci_low"] <= slope <= p["slope_ci_high"])
        out["pooled_inference"] = p["inference"]
        out["equal_slopes_p"] = p["equal_slopes_p"]
        out["f_test_p"] = _f_test_p(layers)
    return out


def calibrate(
    networks=NETWORKS,
    replicates: int = 500,
    seed: int = 0,
    n_studies: int = 3,
    n_boot: int = 1000,
    n_perm: int = 999,
    heterogeneous: bool = False,
    progress=None,
) -> tuple[pd.DataFrame, dict]:
    """Run :func:`replicate` ``replicates`` times per number of networks per study.

    Returns the summary table (one row per number of networks; columns in the module docstring)
    and the raw equal-slopes p-values per number of networks.
    """
    rows, pvals = [], {}
    for g in networks:
        t0 = time.perf_counter()
        reps = [
            replicate(
                g, r, seed, n_studies, n_boot=n_boot, n_perm=n_perm, heterogeneous=heterogeneous
            )
            for r in range(replicates)
        ]
        cov = np.concatenate([x["covered"] for x in reps])
        inf = np.concatenate([x["inference"] for x in reps])
        pct = np.concatenate([x["percentile_covered"] for x in reps])
        p = np.array([x["equal_slopes_p"] for x in reps])
        fp = np.array([x["f_test_p"] for x in reps])
        pooled = np.array([x["pooled_covered"] for x in reps])
        pooled_inf = np.array([x["pooled_inference"] for x in reps])
        pvals[g] = p
        rows.append(
            {
                "networks_per_study": g,
                "studies": n_studies,
                "replicates": replicates,
                "coverage": cov.mean(),
                "share_mixed": np.mean(inf == "mixed"),
                "coverage_mixed": cov[inf == "mixed"].mean() if (inf == "mixed").any() else np.nan,
                "coverage_bootstrap": (
                    cov[inf == "bootstrap"].mean() if (inf == "bootstrap").any() else np.nan
                ),
                "pooled_coverage": pooled.mean(),
                "pooled_share_mixed": np.mean(pooled_inf == "mixed"),
                "equal_slopes_rejection": np.mean(p <= 0.05),
                "equal_slopes_ks_p": stats.kstest(p, "uniform").pvalue,
                "coverage_percentile": pct.mean(),
                "f_test_rejection": np.mean(fp <= 0.05),
                "seconds": time.perf_counter() - t0,
            }
        )
        if progress:
            progress(rows[-1])
    return pd.DataFrame(rows), pvals


def to_markdown(table: pd.DataFrame) -> str:
    """The summary as a Markdown table (shares in %, one decimal)."""
    cols = [
        ("networks_per_study", "networks / study", "{:d}"),
        ("coverage", "study CI coverage", "{:.1%}"),
        ("share_mixed", "mixed used", "{:.0%}"),
        ("coverage_mixed", "coverage (mixed)", "{:.1%}"),
        ("coverage_bootstrap", "coverage (bootstrap)", "{:.1%}"),
        ("pooled_coverage", "pooled CI coverage", "{:.1%}"),
        ("pooled_share_mixed", "pooled: mixed used", "{:.0%}"),
        ("equal_slopes_rejection", "equal-slopes rejection at 5 %", "{:.1%}"),
        ("equal_slopes_ks_p", "KS p (uniform p-values)", "{:.3f}"),
        ("coverage_percentile", "old: percentile CI coverage", "{:.1%}"),
        ("f_test_rejection", "old: layer-level F-test rejection", "{:.1%}"),
    ]
    lines = ["| " + " | ".join(c[1] for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, r in table.iterrows():
        cells = []
        for key, _, fmt in cols:
            v = r[key]
            cells.append("—" if pd.isna(v) else fmt.format(int(v) if fmt == "{:d}" else v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicates", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--networks", default=",".join(map(str, NETWORKS)))
    ap.add_argument("--studies", type=int, default=3)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--n-perm", type=int, default=999)
    ap.add_argument("--heterogeneous", action="store_true")
    ap.add_argument("--out", help="also write the summary table here (CSV)")
    a = ap.parse_args(argv)
    with threadpool_limits(limits=1):  # the fits are tiny; BLAS threads only contend
        table, _ = _run(a)
    print(to_markdown(table))
    if a.out:
        table.to_csv(a.out, index=False)
    return 0


def _run(a):
    return calibrate(
        [int(v) for v in a.networks.split(",")],
        a.replicates,
        a.seed,
        a.studies,
        a.n_boot,
        a.n_perm,
        a.heterogeneous,
        progress=lambda row: print(
            f"{row['networks_per_study']} networks: coverage {row['coverage']:.3f}, pooled "
            f"{row['pooled_coverage']:.3f}, equal-slopes rejection "
            f"{row['equal_slopes_rejection']:.3f} ({row['seconds']:.0f} s)",
            file=sys.stderr,
            flush=True,
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
