"""Grid modules: clusters of grid units by spacing, and the period ratios between them.

Method (deterministic, no random start): the log spacings of the grid units are sorted, and the
sorted list is cut wherever two neighbours differ by more than ``log(gap_ratio)`` (default 1.2: a
20 % jump in spacing that no unit fills). Clusters with fewer than ``min_size`` units are left
unassigned (module NA): a few outliers do not make a module. Modules are numbered by increasing
spacing (0 = the finest), their spacing is the median of their units' spacings, and the period
ratios are the ratios of consecutive module spacings. Real modules differ in orientation too
(Stensola et al. 2012), but a spacing gap is what defines them; each module's orientation is
reported (circular mean modulo 60°), not used to cut.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from predictivity.studies.mec.validate import as_float, as_int


def find_modules(
    spacing,
    gap_ratio: float = 1.2,
    min_size: int = 3,
    *,
    config_key: str = "studies.mec.criteria.modules",
) -> np.ndarray:
    """Module label of each unit from its grid spacing (see the module docstring).

    Parameters
    ----------
    spacing : (n,) spacings (any positive unit); NaN or ≤ 0 → unassigned.
    gap_ratio : a cut between sorted neighbours whose spacings differ by more than this factor
        (> 1).
    min_size : least number of units of a module (≥ 1).

    Returns
    -------
    (n,) int64 labels, −1 = unassigned, modules 0, 1, … in order of increasing spacing.
    """
    gap_ratio = as_float(gap_ratio, f"{config_key}.gap_ratio", minimum=1.0, strict=True)
    min_size = as_int(min_size, f"{config_key}.min_size", minimum=1)
    s = np.asarray(spacing, dtype=np.float64).ravel()
    labels = np.full(s.size, -1, dtype=np.int64)
    ok = np.flatnonzero(np.isfinite(s) & (s > 0))
    if ok.size == 0:
        return labels
    order = ok[np.argsort(np.log(s[ok]), kind="stable")]
    cuts = np.flatnonzero(np.diff(np.log(s[order])) > np.log(gap_ratio)) + 1
    module = 0
    for group in np.split(order, cuts):
        if group.size >= min_size:
            labels[group] = module
            module += 1
    return labels


def module_table(labels, spacing, orientation=None) -> pd.DataFrame:
    """One row per module: ``module``, ``n_units``, ``spacing`` (median), ``orientation``
    (circular mean modulo 60°, degrees; NaN without orientations) and ``ratio`` (this module's
    spacing / the previous module's; NaN for module 0)."""
    labels = np.asarray(labels)
    spacing = np.asarray(spacing, dtype=np.float64)
    orient = (
        np.full(spacing.shape, np.nan)
        if orientation is None
        else np.asarray(orientation, dtype=np.float64)
    )
    rows = []
    for m in sorted(set(labels[labels >= 0].tolist())):
        sel = labels == m
        o = orient[sel]
        o = o[np.isfinite(o)]
        mean_o = (
            float(np.degrees(np.angle(np.exp(6j * np.radians(o)).mean()) / 6) % 60)
            if o.size
            else np.nan
        )
        rows.append(
            {
                "module": int(m),
                "n_units": int(sel.sum()),
                "spacing": float(np.median(spacing[sel])),
                "orientation": mean_o,
            }
        )
    table = pd.DataFrame(rows, columns=["module", "n_units", "spacing", "orientation"])
    table["ratio"] = table["spacing"] / table["spacing"].shift(1)
    return table
