"""Toroidal topology of a grid module's population activity (after Gardner et al. 2022).

A grid module's population activity over positions lies on a two-dimensional torus (one circle
per lattice direction), so its persistent homology has Betti numbers (1, 2, 1): one connected
component, two independent loops, one cavity. :func:`torus_evidence` tests that:

1. **Point cloud.** Rows = positions (bins), columns = the module's units. Positions where any
   unit is NaN are dropped; each unit is z-scored over positions; PCA keeps ``n_components``
   (default 6: a hexagonal module's activity is dominated by three cosine/sine pairs); the
   coordinates are divided by their root-mean-square norm, so that lifetimes are comparable
   between the data and its shuffles.
2. **Subsample.** ``ripser``'s greedy max-min (farthest point) subsample of ``max_points``
   points (default 150; ``ripser(..., n_perm=max_points)``), which keeps the shape and bounds the
   cost (H2 on all 400 points of the demo's arena takes ~1 min, on 150 points ~3 s).
3. **Persistent homology** of the Vietoris–Rips filtration (``ripser``, ℤ/2 coefficients,
   dimensions 0–2). Lifetime = death − birth.
4. **Shuffled baseline.** ``n_shuffles`` times, each unit's values are permuted over positions
   independently (seeded), which keeps every unit's rate distribution and destroys the joint
   structure; steps 1–3 are repeated. The threshold of dimension k is the longest dimension-k
   lifetime over all shuffles (finite H0 bars for k = 0).
5. **Betti numbers.** b0 = 1 (the bar that never dies) + the finite H0 bars longer than the H0
   threshold; for k = 1, 2, b_k = the bars longer than the threshold *and* at least
   ``prominence`` (default 0.75) times the longest bar of that dimension. The permutation
   baseline alone is lenient: on a sampled hexagonal torus (and on the demo's simulated modules)
   the third lattice direction and the sampling leave a third and fourth H1 bar at 0.3–0.7 of the
   two longest, above every shuffled bar. ``torus`` = (b0, b1, b2) == (1, 2, 1). The lifetimes
   and thresholds are reported, so a reader can apply another rule.

Gardner et al. denoised with a radial-basis-function fit on 15 000 time points before their
subsample; rate maps are already averages, so no further denoising is applied here.
"""

from __future__ import annotations

import numpy as np

from predictivity.errors import InputError
from predictivity.studies.mec.validate import as_float, as_int

#: Betti numbers of a two-dimensional torus.
TORUS_BETTI = (1, 2, 1)


def point_cloud(activity, n_components: int = 6) -> np.ndarray:
    """Step 1 of :func:`torus_evidence`: (positions × units) → (positions kept × components)."""
    X = np.asarray(activity, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(
            "population activity", f"must be positions × units, got shape {X.shape}.", ""
        )
    X = X[np.isfinite(X).all(axis=1)]
    sd = X.std(axis=0)
    X = X[:, sd > 0]
    if X.shape[0] < 3 or X.shape[1] < 2:
        return np.empty((0, 0))
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    U, S, _ = np.linalg.svd(Z, full_matrices=False)
    k = min(n_components, S.size)
    Y = U[:, :k] * S[:k]
    rms = np.sqrt((Y**2).sum(axis=1).mean())
    return Y / rms if rms > 0 else Y


def longest_lifetimes(points, max_dim: int = 2, max_points: int = 150) -> list[np.ndarray]:
    """Sorted (longest first) finite lifetimes per homology dimension 0…max_dim of the
    Vietoris–Rips persistence of ``points`` (``ripser``, greedy subsample of ``max_points``)."""
    from ripser import ripser

    P = np.asarray(points, dtype=np.float64)
    n_perm = max_points if P.shape[0] > max_points else None
    dgms = ripser(P, maxdim=max_dim, n_perm=n_perm)["dgms"]
    out = []
    for d in dgms:
        life = d[:, 1] - d[:, 0]
        out.append(np.sort(life[np.isfinite(life)])[::-1])
    return out


def torus_evidence(
    activity,
    n_components: int = 6,
    max_points: int = 150,
    n_shuffles: int = 3,
    seed: int = 0,
    prominence: float = 0.75,
    *,
    config_key: str = "studies.mec.criteria.topology",
) -> dict:
    """Persistent homology of a population's activity against a shuffled baseline.

    See the module docstring for the procedure. ``activity`` is positions × units (a module's
    rate maps as columns).

    Returns
    -------
    dict with ``n_units``, ``n_points`` (points after the subsample), ``h0``, ``h1``, ``h2``
    (longest finite lifetime of each dimension; for H1 also ``h1_second``, the second longest),
    ``h0_threshold``, ``h1_threshold``, ``h2_threshold`` (shuffled baseline), ``betti_0``,
    ``betti_1``, ``betti_2`` and ``torus`` (bool). Lifetimes are in units of the point cloud's
    RMS radius. All NaN / False when fewer than 3 units or points remain.
    """
    n_components = as_int(n_components, f"{config_key}.n_components", minimum=2)
    max_points = as_int(max_points, f"{config_key}.max_points", minimum=10)
    n_shuffles = as_int(n_shuffles, f"{config_key}.n_shuffles", minimum=1)
    seed = as_int(seed, f"{config_key}.seed", minimum=0)
    prominence = as_float(prominence, f"{config_key}.prominence", minimum=0.0, maximum=1.0)
    X = np.asarray(activity, dtype=np.float64)
    out = {
        "n_units": int(X.shape[1]) if X.ndim == 2 else 0,
        "n_points": 0,
        **{f"h{k}": np.nan for k in range(3)},
        "h1_second": np.nan,
        **{f"h{k}_threshold": np.nan for k in range(3)},
        **{f"betti_{k}": np.nan for k in range(3)},
        "torus": False,
    }
    cloud = point_cloud(X, n_components)
    if cloud.shape[0] < 3 or X.shape[1] < 3:
        return out
    lives = longest_lifetimes(cloud, 2, max_points)
    rng = np.random.default_rng(seed)
    Xf = X[np.isfinite(X).all(axis=1)]
    thresholds = np.zeros(3)
    for _ in range(n_shuffles):
        shuffled = np.stack([rng.permutation(col) for col in Xf.T], axis=1)
        s_lives = longest_lifetimes(point_cloud(shuffled, n_components), 2, max_points)
        for k in range(3):
            if s_lives[k].size:
                thresholds[k] = max(thresholds[k], s_lives[k][0])

    def first(a, i=0):
        return float(a[i]) if a.size > i else 0.0

    betti = [1 + int((lives[0] > thresholds[0]).sum())]  # + the component that never dies
    for k in (1, 2):
        cut = max(thresholds[k], prominence * first(lives[k]))
        betti.append(int(((lives[k] > thresholds[k]) & (lives[k] >= cut)).sum()))
    out.update(
        n_points=int(min(cloud.shape[0], max_points)),
        h0=first(lives[0]),
        h1=first(lives[1]),
        h1_second=first(lives[1], 1),
        h2=first(lives[2]),
        h0_threshold=float(thresholds[0]),
        h1_threshold=float(thresholds[1]),
        h2_threshold=float(thresholds[2]),
        betti_0=betti[0],
        betti_1=betti[1],
        betti_2=betti[2],
        torus=tuple(betti) == TORUS_BETTI,
    )
    return out
