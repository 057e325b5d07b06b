"""The simulated recordings of a ``mec`` study: MEC cells from a documented generative model
(grid modules, border, head-direction-like and heterogeneous cells) that is **not** any candidate
network, observed as Poisson spike counts per spatial bin and session."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from predictivity.errors import InputError
from predictivity.studies.mec.validate import as_float, as_int

log = logging.getLogger(__name__)

#: Sharpness β of the grid-cell nonlinearity (see :func:`mec_rates`).
GRID_SHARPNESS = 3.0


def _check_stimuli(stimuli_xy, key="studies.mec.stimuli") -> np.ndarray:
    xy = np.asarray(stimuli_xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] < 1:
        raise InputError(
            key,
            f"stimulus positions must have shape (P, 2), got {xy.shape}.",
            "pass the x, y columns of arena_bins().",
        )
    if not np.isfinite(xy).all():
        raise InputError(key, "stimulus positions contain NaN or inf.", "pass finite bin centres.")
    return xy


def mec_rates(
    stimuli_xy,
    box_width: float = 2.2,
    n_grid: int = 128,
    n_modules: int = 4,
    period_min: float = 0.3,
    period_ratio: float = 1.4,
    n_border: int = 16,
    n_head_direction: int = 16,
    n_heterogeneous: int = 64,
    peak_rate_hz: float = 10.0,
    baseline_rate_hz: float = 0.5,
    seed: int = 0,
    *,
    config_key: str = "studies.mec.recordings",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Noise-free firing rates (Hz) of simulated MEC cells at the given positions.

    The generative model (seeded; each cell type has its own random stream, so changing the
    number of one type does not change the others; rates are a function of position, so the same
    cell can be evaluated on any binning). Every cell has a peak rate
    ``peak_rate_hz · LogNormal(0, 0.3)`` and the common ``baseline_rate_hz``.

    * **grid** cells, ``n_grid`` split evenly over ``n_modules`` modules (remainder to the first).
      Module k has period λ_k = ``period_min · period_ratio**k`` (m) and an orientation θ_k ~
      U[0°, 60°). A cell with phase φ (uniform over the lattice's unit cell) has
      s(x) = Σ_{j=0..2} cos(k_j·(x − φ)), |k_j| = 4π/(√3 λ_k), directions θ_k + 30° + 60°·j
      (peaks on a triangular lattice of spacing λ_k, one lattice vector at θ_k), and rate
      baseline + peak · (e^{βu} − 1)/(e^β − 1) with u = (s + 3/2)/(9/2) ∈ [0, 1], β = 3.
    * **border** cells, ``n_border``: one random wall each; rate baseline + peak · exp(−d/ℓ),
      d = distance to that wall, ℓ ~ U(0.05, 0.15) m.
    * **head-direction**-like cells, ``n_head_direction``: von Mises tuning to heading (κ ~
      U(1, 4)); averaged over headings a bin sees, their mean rate peak·I₀(κ)e^{−κ} is the same
      everywhere, plus a weak position dependence (±10 % of the mean, a smooth random field, for
      the uneven heading sampling near walls). They are spatially (almost) untuned: near-noise
      targets, kept because real MEC recordings contain them.
    * **heterogeneous** cells, ``n_heterogeneous``: white noise on a 96×96 grid over the arena,
      Gaussian-filtered (length ℓ ~ U(0.1, 0.25) m), standardised, rectified at a threshold τ ~
      U(−0.5, 0.5), scaled to max 1; rate baseline + peak · field (linear interpolation).

    Parameters
    ----------
    stimuli_xy : (P, 2) positions in metres (the ``x``, ``y`` columns of
        :func:`~predictivity.studies.mec.arena.arena_bins`).
    box_width : arena side (m; the heterogeneous fields and border distances use it).
    n_grid, n_modules, period_min, period_ratio, n_border, n_head_direction, n_heterogeneous,
    peak_rate_hz, baseline_rate_hz, seed : as above (defaults: the config schema's
    ``recordings`` section).
    config_key : dotted config prefix named in errors.

    Returns
    -------
    rates : (P, N) float64, Hz, N = n_grid + n_border + n_head_direction + n_heterogeneous, cells
        in that type order.
    cells : DataFrame, one row per cell: ``target_name`` (e.g. ``grid_m1_007``, ``border_003``),
        ``cell_type`` (grid | border | head_direction | heterogeneous), ``module`` (Int64, NA for
        non-grid), ``period`` (m, NaN for non-grid), ``orientation`` (degrees in [0, 60), NaN for
        non-grid), ``peak_rate_hz``.
    """
    xy = _check_stimuli(stimuli_xy)
    k = config_key
    box = as_float(box_width, "studies.mec.stimuli.box_width", minimum=0.0, strict=True)
    n_grid = as_int(n_grid, f"{k}.n_grid", minimum=0)
    n_modules = as_int(n_modules, f"{k}.n_modules", minimum=1)
    period_min = as_float(period_min, f"{k}.period_min", minimum=0.0, strict=True)
    period_ratio = as_float(period_ratio, f"{k}.period_ratio", minimum=1.0, strict=True)
    n_border = as_int(n_border, f"{k}.n_border", minimum=0)
    n_hd = as_int(n_head_direction, f"{k}.n_head_direction", minimum=0)
    n_het = as_int(n_heterogeneous, f"{k}.n_heterogeneous", minimum=0)
    peak = as_float(peak_rate_hz, f"{k}.peak_rate_hz", minimum=0.0, strict=True)
    base = as_float(baseline_rate_hz, f"{k}.baseline_rate_hz", minimum=0.0)
    seed = as_int(seed, f"{k}.seed", minimum=0)
    if n_grid and n_grid < n_modules:
        raise InputError(
            f"{k}.n_grid",
            f"{n_grid} grid cells cannot fill {n_modules} modules.",
            f"set n_grid ≥ n_modules ({n_modules}) or n_grid: 0.",
        )
    if n_grid + n_border + n_hd + n_het == 0:
        raise InputError(
            k,
            "no cells to simulate (all cell counts are 0).",
            "set at least one of n_grid, n_border, n_head_direction, n_heterogeneous above 0.",
        )
    ss = np.random.SeedSequence(seed).spawn(5)  # grid, border, hd, heterogeneous, (poisson)
    P = xy.shape[0]
    columns, rows = [], []

    def peaks(rng, n):
        return peak * rng.lognormal(0.0, 0.3, size=n)

    # grid cells
    rng = np.random.default_rng(ss[0])
    sizes = [n_grid // n_modules + (1 if m < n_grid % n_modules else 0) for m in range(n_modules)]
    beta = GRID_SHARPNESS
    for m, size in enumerate(sizes if n_grid else []):
        lam = period_min * period_ratio**m
        theta = rng.uniform(0.0, np.pi / 3)
        e1 = lam * np.array([np.cos(theta), np.sin(theta)])
        e2 = lam * np.array([np.cos(theta + np.pi / 3), np.sin(theta + np.pi / 3)])
        ang = theta + np.pi / 6 + np.arange(3) * np.pi / 3
        kvec = (4 * np.pi / (np.sqrt(3) * lam)) * np.stack([np.cos(ang), np.sin(ang)], -1)
        ab = rng.uniform(0.0, 1.0, size=(size, 2))
        phase = ab[:, :1] * e1 + ab[:, 1:] * e2  # (size, 2)
        pk = peaks(rng, size)
        s = np.cos(np.einsum("pcd,jd->pcj", xy[:, None, :] - phase[None], kvec)).sum(-1)
        u = (s + 1.5) / 4.5
        columns.append(base + pk * (np.expm1(beta * u) / np.expm1(beta)))
        for i in range(size):
            rows.append(
                {
                    "target_name": f"grid_m{m}_{len(rows):03d}",
                    "cell_type": "grid",
                    "module": m,
                    "period": lam,
                    "orientation": np.degrees(theta),
                    "peak_rate_hz": pk[i],
                }
            )
    # border cells
    rng = np.random.default_rng(ss[1])
    half = box / 2
    if n_border:
        wall = rng.integers(0, 4, size=n_border)
        ell = rng.uniform(0.05, 0.15, size=n_border)
        pk = peaks(rng, n_border)
        d_all = np.stack([half - xy[:, 0], half - xy[:, 1], half + xy[:, 0], half + xy[:, 1]], 1)
        d = np.clip(d_all[:, wall], 0.0, None)
        columns.append(base + pk * np.exp(-d / ell))
        for i in range(n_border):
            rows.append(
                {
                    "target_name": f"border_{i:03d}",
                    "cell_type": "border",
                    "module": None,
                    "period": np.nan,
                    "orientation": np.nan,
                    "peak_rate_hz": pk[i],
                }
            )

    grid_n = 96
    grid_c = (np.arange(grid_n) + 0.5) / grid_n * box - half

    def smooth_fields(rng, lengths, transform):
        """Per cell: a standardised Gaussian-filtered white-noise field on the 96×96 grid,
        ``transform(field, i)`` applied on the grid, then linear interpolation at the stimuli."""
        from scipy.interpolate import RegularGridInterpolator
        from scipy.ndimage import gaussian_filter

        out = np.empty((P, len(lengths)))
        q = np.clip(xy[:, ::-1], grid_c[0], grid_c[-1])  # (y, x): fields are indexed [iy, ix]
        for i, length in enumerate(lengths):
            f = gaussian_filter(
                rng.standard_normal((grid_n, grid_n)), length / (box / grid_n), mode="reflect"
            )
            f = transform((f - f.mean()) / f.std(), i)
            out[:, i] = RegularGridInterpolator((grid_c, grid_c), f)(q)
        return out

    # head-direction-like cells
    rng = np.random.default_rng(ss[2])
    if n_hd:
        from scipy.special import i0e

        kappa = rng.uniform(1.0, 4.0, size=n_hd)
        pk = peaks(rng, n_hd)
        mean_rate = pk * i0e(kappa)
        field = smooth_fields(
            rng, rng.uniform(0.2, 0.4, size=n_hd), lambda f, i: f / np.abs(f).max()
        )
        columns.append(base + mean_rate * (1.0 + 0.1 * field))
        for i in range(n_hd):
            rows.append(
                {
                    "target_name": f"head_direction_{i:03d}",
                    "cell_type": "head_direction",
                    "module": None,
                    "period": np.nan,
                    "orientation": np.nan,
                    "peak_rate_hz": pk[i],
                }
            )
    # heterogeneous cells
    rng = np.random.default_rng(ss[3])
    if n_het:
        lengths = rng.uniform(0.1, 0.25, size=n_het)
        tau = rng.uniform(-0.5, 0.5, size=n_het)
        pk = peaks(rng, n_het)

        def rectify(f, i):
            f = np.clip(f - tau[i], 0.0, None)
            return f / max(f.max(), 1e-12)

        field = smooth_fields(rng, lengths, rectify)
        columns.append(base + pk * field)
        for i in range(n_het):
            rows.append(
                {
                    "target_name": f"heterogeneous_{i:03d}",
                    "cell_type": "heterogeneous",
                    "module": None,
                    "period": np.nan,
                    "orientation": np.nan,
                    "peak_rate_hz": pk[i],
                }
            )
    rates = np.concatenate(columns, axis=1)
    cells = pd.DataFrame(
        rows,
        columns=["target_name", "cell_type", "module", "period", "orientation", "peak_rate_hz"],
    )
    cells["module"] = cells["module"].astype("Int64")
    cells["period"] = cells["period"].astype(float)
    cells["orientation"] = cells["orientation"].astype(float)
    return rates, cells


def simulate_mec(
    stimuli_xy,
    n_grid: int = 128,
    n_modules: int = 4,
    period_min: float = 0.3,
    period_ratio: float = 1.4,
    n_border: int = 16,
    n_head_direction: int = 16,
    n_heterogeneous: int = 64,
    n_sessions: int = 2,
    peak_rate_hz: float = 10.0,
    baseline_rate_hz: float = 0.5,
    dwell_s: float = 2.0,
    seed: int = 0,
    box_width: float = 2.2,
    *,
    config_key: str = "studies.mec.recordings",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Simulated MEC recordings: Poisson spike counts per spatial bin and session.

    The noise-free rates r (Hz) come from :func:`mec_rates` (grid modules, border,
    head-direction-like, heterogeneous cells; see there for the generative model — it is not any
    candidate network). Each session s is an independent draw
    ``counts[p, n, s] ~ Poisson(r[p, n] · dwell_s)`` (the same dwell time in every bin), from the
    fifth child of ``SeedSequence(seed)``, so the rates do not depend on ``n_sessions`` and
    ``counts.mean(-1) / dwell_s`` → r as the number of sessions grows.

    Parameters
    ----------
    stimuli_xy : (P, 2) bin centres in metres (``arena_bins()[["x", "y"]]``).
    n_grid : grid cells (default 128), split evenly over ``n_modules`` (default 4) modules.
    period_min : grid period of module 0 in metres (default 0.3; note that with the demo's 0.11 m
        bins the finest module has only ~2.7 bins per period).
    period_ratio : ratio between successive module periods, > 1 (default 1.4).
    n_border, n_head_direction, n_heterogeneous : numbers of those cells (16, 16, 64).
    n_sessions : independent Poisson sessions (repetitions), ≥ 2 for split-half reliability.
    peak_rate_hz : median peak rate (default 10 Hz). baseline_rate_hz : added everywhere (0.5 Hz).
    dwell_s : seconds per bin per session (default 2 s).
    seed : everything is a deterministic function of it.
    box_width : arena side in metres (default 2.2).
    config_key : dotted config prefix named in errors.

    Returns
    -------
    counts : (P, N, n_sessions) float32 spike counts.
    cells : the cell table of :func:`mec_rates` (``target_name``, ``cell_type``, ``module``,
        ``period``, ``orientation``, ``peak_rate_hz``), one row per target, in column order.
    """
    n_sessions = as_int(n_sessions, f"{config_key}.n_sessions", minimum=2)
    dwell_s = as_float(dwell_s, f"{config_key}.dwell_s", minimum=0.0, strict=True)
    rates, cells = mec_rates(
        stimuli_xy,
        box_width=box_width,
        n_grid=n_grid,
        n_modules=n_modules,
        period_min=period_min,
        period_ratio=period_ratio,
        n_border=n_border,
        n_head_direction=n_head_direction,
        n_heterogeneous=n_heterogeneous,
        peak_rate_hz=peak_rate_hz,
        baseline_rate_hz=baseline_rate_hz,
        seed=seed,
        config_key=config_key,
    )
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(5)[4])
    counts = rng.poisson(rates * dwell_s, size=(n_sessions,) + rates.shape)
    counts = np.ascontiguousarray(np.moveaxis(counts, 0, -1), dtype=np.float32)
    log.info(
        "simulated MEC: %d bins × %d cells (%s) × %d sessions, mean %.2f spikes per bin",
        counts.shape[0],
        counts.shape[1],
        ", ".join(f"{n} {t}" for t, n in cells["cell_type"].value_counts(sort=False).items()),
        n_sessions,
        float(counts.mean()),
    )
    return counts, cells
