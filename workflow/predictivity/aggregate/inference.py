"""Network-level inference for the layer score ~ ln PR relation: the mixed model, its cluster
bootstrap fallback and the permutation test of equal slopes.

Layers of one network are not independent: they share the network's architecture, training and
offset. Every interval and p-value here therefore treats the **network** as the unit of
replication. Their calibration (coverage of the 95 % intervals, rejection rate of the test at
5 %) is measured by :mod:`predictivity.aggregate.calibration` and written in
``docs/calibration.md``; nothing here reports a number whose calibration was not measured there.

Arrays in, plain dicts out; no file I/O.

Mixed model (:func:`mixed_slope`)
---------------------------------
``y = β₀ (one per study when pooled) + β₁·x + u₀ₙ + u₁ₙ·x + ε`` with a random intercept ``u₀ₙ``
and a random slope ``u₁ₙ`` per network ``n`` (independent, i.e. a diagonal random-effects
covariance — what 2–8 networks can estimate), fitted by REML with statsmodels
:class:`~statsmodels.regression.mixed_linear_model.MixedLM` (``method=["lbfgs"]``). The fit runs on
standardised variables (x and y centred on their means over the fitted rows and divided by their
population standard deviations; the fit is equivariant, so this changes nothing but the
optimiser's conditioning), and the fixed effects and their standard errors are mapped back.
The 95 % interval of the slope is ``β₁ ± t₀.₉₇₅(df)·SE`` with ``df = networks − 1`` (one study)
or ``networks − studies`` (pooled): a Wald interval with a t quantile whose degrees of freedom
count networks, not layers.

The model **cannot be fitted** — and the caller falls back to the cluster bootstrap — when there
are fewer than :data:`MIN_MIXED_NETWORKS` networks, when statsmodels raises, when the optimiser
does not converge (``converged`` false, or a ``ConvergenceWarning`` saying that the optimisation
failed or that the Hessian is not positive definite), or when the slope's standard error is not a
positive finite number. A fit on the boundary (a random-effect variance estimated as ~0) is kept:
its calibration is part of what was measured.

Rounding. The standardised x and y are rounded to :data:`DESIGN_DECIMALS` = 9 decimals (10⁻⁹ of
their standard deviation, far below any score's sampling error) before the fit. Near a zero
variance component the REML surface is flat and the optimiser's path, its stopping point and its
convergence flag depend on the last bits of the data: two runs of the demo whose scores differed
by ≤ 6·10⁻¹⁴ relative (another BLAS blocking of one product) moved 15 of its 480 mixed-model fits
between ``mixed`` and ``bootstrap`` and the slopes of others by up to 2·10⁻³; on the rounded design,
none moved (the slopes agreed to 4·10⁻¹⁶). Scores that differ by more than the rounding are
different data and may still fit differently.

Cluster bootstrap (:func:`bootstrap_interval`)
----------------------------------------------
Replicate slopes come from resampling whole networks with replacement (within each study when
pooled; :func:`predictivity.aggregate.fits.bootstrap_lines`). The interval is
``b_OLS ± t₀.₉₇₅(df)·c·sd(replicates)`` with the same ``df`` as the mixed model and the small-sample
factor ``c = √(G/(G−1))`` (G = networks; pooled: the smallest study's G) that undoes the
bootstrap's ``(G−1)/G`` shrinkage of the variance. The plain percentile interval of the same
replicates under-covers badly with few networks (measured in ``docs/calibration.md``), so it is
not used.

Equal slopes (:func:`equal_slopes_test`)
----------------------------------------
Null hypothesis: the studies share one slope, i.e. the study × ln PR interaction is zero; study
intercepts are free. Each network's own least-squares slope ``bₙ`` (its layers only, so every
intercept — the study's and the network's — drops out) is one observation. The statistic is the
between-study sum of squares ``T = Σ_s G_s (b̄_s − b̄)²`` (equivalent, under permutation, to the
one-way ANOVA F of the network slopes, because the total sum of squares does not change). Under
the null the networks' slopes are exchangeable between studies, so the study labels of whole
networks are permuted (study sizes kept). When the number of distinct relabellings
``G!/∏G_s!`` is at most ``n_perm + 1`` all of them are enumerated (an exact test,
``p = #{T* ≥ T}/#relabellings``); otherwise ``n_perm`` random relabellings from
``numpy.random.default_rng(seed)`` give ``p = (1 + #{T* ≥ T})/(1 + n_perm)``. Networks with fewer
than 2 distinct x values have no slope and are left out. Caveat (measured in
``docs/calibration.md``): exchangeability assumes the network slopes of all studies are equally
noisy; studies whose networks have very different numbers or spreads of layers make the test
approximate.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams
from statsmodels.tools.sm_exceptions import ConvergenceWarning

#: Fewer networks than this: no mixed model (the random-slope variance would rest on one df).
MIN_MIXED_NETWORKS = 3
#: Fits with fewer networks than this are flagged ``few_networks`` (their interval's coverage
#: was measured to differ from nominal, or rests on too few networks to trust; see the docs).
MIN_CALIBRATED_NETWORKS = 5
#: Decimals of the standardised x and y the mixed model is fitted on (module docstring).
DESIGN_DECIMALS = 9
#: Failed-fit markers in statsmodels' ConvergenceWarning messages.
_FAILED = ("failed", "Hessian")


def _standardise(v: np.ndarray) -> tuple[np.ndarray, float, float]:
    mean, sd = float(v.mean()), float(v.std())
    return (v - mean) / sd, mean, sd


def mixed_design(
    x: np.ndarray, y: np.ndarray, strata: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """The standardised design the mixed model is fitted on.

    Returns ``(ys, exog, exog_re, scale)``: ``ys = (y − ȳ)/s_y`` rounded to
    :data:`DESIGN_DECIMALS` decimals (as is ``xs``; see the module docstring); ``exog`` = a column of ones
    (one study) or one indicator column per stratum in sorted order (pooled), then
    ``xs = (x − x̄)/s_x``; ``exog_re = [1, xs]``; ``scale`` holds ``x_mean, x_sd, y_mean, y_sd``
    and ``strata`` (the sorted stratum labels, or None).
    """
    xs, xm, xsd = _standardise(np.asarray(x, float))
    ys, ym, ysd = _standardise(np.asarray(y, float))
    xs, ys = np.round(xs, DESIGN_DECIMALS), np.round(ys, DESIGN_DECIMALS)
    if strata is None:
        fixed = np.ones((len(xs), 1))
        labels = None
    else:
        labels, codes = np.unique(np.asarray(strata).astype(str), return_inverse=True)
        fixed = np.eye(len(labels))[codes]
    exog = np.column_stack([fixed, xs])
    exog_re = np.column_stack([np.ones_like(xs), xs])
    return (
        ys,
        exog,
        exog_re,
        {"x_mean": xm, "x_sd": xsd, "y_mean": ym, "y_sd": ysd, "strata": labels},
    )


def diagonal_free(k_fe: int) -> MixedLMParams:
    """The ``free`` pattern of :meth:`MixedLM.fit` for ``k_fe`` fixed effects and independent
    random intercept and slope (a diagonal random-effects covariance)."""
    return MixedLMParams.from_components(np.ones(k_fe), np.eye(2))


def _failed(reason: str) -> dict:
    return {"ok": False, "reason": reason}


def mixed_slope(
    x: np.ndarray, y: np.ndarray, networks: np.ndarray, strata: np.ndarray | None = None
) -> dict:
    """REML mixed model of ``y`` on ``x`` with a random intercept and slope per network.

    ``networks``: a label per row (unique across strata when pooled); ``strata``: a study label
    per row for the pooled model (one fixed intercept per study), or None. See the module
    docstring for the model, the interval and when a fit counts as failed.

    Returns ``{"ok": True, slope, intercept, se, df, ci_low, ci_high, n_networks}`` — for the
    pooled model ``intercept`` is the mean of the study intercepts — or
    ``{"ok": False, "reason": ...}``.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    networks = np.asarray(networks).astype(str)
    g = len(np.unique(networks))
    n_strata = 1 if strata is None else len(np.unique(np.asarray(strata).astype(str)))
    if g < MIN_MIXED_NETWORKS:
        return _failed(f"{g} network(s); the mixed model needs {MIN_MIXED_NETWORKS}")
    df = g - n_strata
    if df < 1:
        return _failed("no more networks than studies")
    if not (np.std(x) > 0 and np.std(y) > 0):
        return _failed("no spread in x or y")
    ys, exog, exog_re, sc = mixed_design(x, y, strata)
    try:
        with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
            warnings.simplefilter("always")
            res = MixedLM(ys, exog, groups=networks, exog_re=exog_re).fit(
                reml=True, method=["lbfgs"], free=diagonal_free(exog.shape[1])
            )
            fe, bse = np.asarray(res.fe_params, float), np.asarray(res.bse_fe, float)
    except (np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError) as e:
        return _failed(f"statsmodels raised {type(e).__name__}: {e}")
    msgs = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    bad = [m for m in msgs if any(k in m for k in _FAILED)]
    if not res.converged or bad:
        return _failed("did not converge" + (f" ({bad[0]})" if bad else ""))
    k = sc["y_sd"] / sc["x_sd"]
    slope = float(fe[-1]) * k
    se = float(bse[-1]) * k
    if not (np.isfinite(se) and se > 0 and np.isfinite(slope)):
        return _failed("the slope's standard error is not finite")
    # back to the original units: y = ȳ + s_y·(β_s + β₁·(x − x̄)/s_x)
    intercepts = sc["y_mean"] + sc["y_sd"] * fe[:-1] - slope * sc["x_mean"]
    q = float(stats.t.ppf(0.975, df))
    return {
        "ok": True,
        "slope": slope,
        "intercept": float(np.mean(intercepts)),
        "se": se,
        "df": int(df),
        "ci_low": slope - q * se,
        "ci_high": slope + q * se,
        "n_networks": int(g),
    }


def bootstrap_interval(slope: float, replicates: np.ndarray, df: int, g: int) -> dict:
    """The fallback interval: ``slope ± t₀.₉₇₅(df)·√(g/(g−1))·sd(replicates)`` (module docstring).

    ``replicates``: bootstrap slopes (NaN = degenerate replicate, ignored); ``g``: networks (the
    smallest study's when pooled). NaN interval when fewer than 2 finite replicates, ``g < 2``
    or ``df < 1``.
    """
    r = np.asarray(replicates, float)
    r = r[np.isfinite(r)]
    if r.size < 2 or g < 2 or df < 1 or not np.isfinite(slope):
        return {"se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "df": int(max(df, 0))}
    se = float(np.std(r, ddof=1)) * math.sqrt(g / (g - 1))
    q = float(stats.t.ppf(0.975, df))
    return {"se": se, "ci_low": slope - q * se, "ci_high": slope + q * se, "df": int(df)}


# --------------------------------------------------------------------------------------------
# equal slopes: permutation of networks between studies
# --------------------------------------------------------------------------------------------


def network_slopes(
    x: np.ndarray, y: np.ndarray, networks: np.ndarray, strata: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each network's own OLS slope and its study label, networks in sorted order; networks
    with fewer than 2 distinct x values are left out."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    networks = np.asarray(networks).astype(str)
    strata = np.asarray(strata).astype(str)
    slopes, labels = [], []
    for n in np.unique(networks):
        sel = networks == n
        xn, yn = x[sel], y[sel]
        sxx = float(np.sum((xn - xn.mean()) ** 2))
        if len(np.unique(xn)) < 2 or not sxx > 0:
            continue
        slopes.append(float(np.sum((xn - xn.mean()) * (yn - yn.mean())) / sxx))
        labels.append(strata[sel][0])
    return np.asarray(slopes), np.asarray(labels, dtype=str)


def _between_ss(b: np.ndarray, codes: np.ndarray, n_studies: int) -> np.ndarray:
    """T = Σ_s G_s (b̄_s − b̄)² for each row of study codes ``codes`` (..., G)."""
    t = np.zeros(codes.shape[:-1])
    for s in range(n_studies):
        mask = codes == s
        size = mask.sum(axis=-1)
        t += (mask @ b) ** 2 / size
    return t - b.sum() ** 2 / len(b)


def _relabellings(codes: np.ndarray) -> np.ndarray:
    """Every distinct assignment of the multiset of labels ``codes`` to positions (rows)."""
    g = len(codes)
    sizes = np.bincount(codes)
    out = []

    def rec(free: tuple, s: int, cur: np.ndarray):
        if s == len(sizes) - 1:
            cur = cur.copy()
            cur[list(free)] = s
            out.append(cur)
            return
        for chosen in itertools.combinations(free, int(sizes[s])):
            nxt = cur.copy()
            nxt[list(chosen)] = s
            rest = tuple(i for i in free if i not in chosen)
            rec(rest, s + 1, nxt)

    rec(tuple(range(g)), 0, np.full(g, -1))
    return np.asarray(out)


def n_relabellings(sizes) -> int:
    """G!/∏G_s!: the number of distinct study relabellings of the networks."""
    sizes = [int(s) for s in sizes]
    return math.factorial(sum(sizes)) // math.prod(math.factorial(s) for s in sizes)


def equal_slopes_test(
    x: np.ndarray,
    y: np.ndarray,
    networks: np.ndarray,
    strata: np.ndarray,
    n_perm: int = 9999,
    seed: int = 0,
) -> dict:
    """Permutation test that all studies share one slope (module docstring).

    Returns ``{"p": ..., "n_relabellings": ..., "exact": bool}``; ``p`` is NaN (and
    ``n_relabellings`` 0) with fewer than 2 studies that have a network slope, or fewer than 3
    network slopes in all.
    """
    b, lab = network_slopes(x, y, networks, strata)
    studies, codes = np.unique(lab, return_inverse=True)
    if len(studies) < 2 or len(b) < 3:
        return {"p": np.nan, "n_relabellings": 0, "exact": False}
    k = len(studies)
    t_obs = float(_between_ss(b, codes, k))
    tol = 1e-10 * max(abs(t_obs), float(np.sum((b - b.mean()) ** 2)), 1e-300)
    total = n_relabellings(np.bincount(codes))
    if total <= n_perm + 1:
        perms = _relabellings(codes)
        t = _between_ss(b, perms, k)
        return {"p": float(np.mean(t >= t_obs - tol)), "n_relabellings": int(total), "exact": True}
    rng = np.random.default_rng(seed)
    perms = rng.permuted(np.tile(codes, (n_perm, 1)), axis=1)
    t = _between_ss(b, perms, k)
    p = (1.0 + float(np.sum(t >= t_obs - tol))) / (1.0 + n_perm)
    return {"p": p, "n_relabellings": int(n_perm), "exact": False}
