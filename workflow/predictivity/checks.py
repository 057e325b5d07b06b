"""Validation of recordings, activations and stimulus ids (docs/design.md#bad-input).

Every check raises :class:`~predictivity.errors.InputError` naming the file (``source``), what is
wrong and how to fix it. Pure functions: arrays in, arrays out.
"""

from __future__ import annotations

import logging

import numpy as np

from predictivity.errors import InputError

log = logging.getLogger(__name__)


def check_finite(a: np.ndarray, source: str, what: str) -> None:
    """Raise if ``a`` holds NaN or ±inf, reporting how many and the first offending index."""
    bad = ~np.isfinite(a)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(
            source,
            f"{what} contain {int(bad.sum())} NaN/inf value(s) (first at index {first}).",
            "Remove or impute them before running (the pipeline does not guess).",
        )


#: Usable magnitude of activations (largest range of a unit over the stimuli): beyond it the
#: products of the Gram over- or underflow in float32 (and the alpha grid stops meaning anything).
ACTIVATION_RANGE = (1e-15, 1e15)
#: Usable magnitude of recordings (range of a target over stimuli and repetitions) in float64.
RECORDING_RANGE = (1e-100, 1e100)


def _check_scale(spread: np.ndarray, source: str, what: str, bounds, fix: str) -> None:
    """Refuse spreads (per unit or target; 0 = constant, ignored) outside ``bounds``."""
    lo, hi = bounds
    nz = spread[spread > 0]
    if nz.size == 0:
        return
    big, small = float(nz.max()), float(nz.min())
    if big > hi:
        raise InputError(
            source,
            f"{what} span {big:.3g}, beyond the usable range ≤ {hi:.0e} (squares overflow).",
            fix,
        )
    if big < lo:
        raise InputError(
            source,
            f"{what} span at most {big:.3g}, below the usable range ≥ {lo:.0e} "
            "(squares underflow to 0).",
            fix,
        )
    if what == "recordings" and small < lo:
        raise InputError(
            source,
            f"some targets of the recordings span only {small:.3g}, below the usable range "
            f"≥ {lo:.0e} (squares underflow to 0).",
            fix,
        )


def check_recordings(Y: np.ndarray, source: str) -> np.ndarray:
    """Validate recordings; return them as float64 (P, N, R) (R = 1 for 2-D input).

    Accepted shapes: stimuli × targets, or stimuli × targets × repetitions.
    """
    Y = np.asarray(Y)
    if Y.dtype.kind not in "fiu" or Y.dtype.kind == "b":
        raise InputError(
            source,
            f"recordings have dtype {Y.dtype}, expected a numeric (float) array.",
            "Save a float array of shape stimuli × targets [× repetitions].",
        )
    if Y.ndim == 2:
        Y = Y[:, :, None]
    if Y.ndim != 3:
        raise InputError(
            source,
            f"recordings have shape {Y.shape}, expected stimuli × targets or "
            "stimuli × targets × repetitions.",
            "Reshape the array to 2 or 3 dimensions.",
        )
    if min(Y.shape) < 1 or Y.shape[1] < 1:
        raise InputError(
            source,
            f"recordings have an empty dimension: shape {Y.shape}.",
            "Provide at least one target and one repetition.",
        )
    Y = Y.astype(np.float64, copy=False)
    check_finite(Y, source, "recordings")
    with np.errstate(over="ignore"):
        spread = (Y.max(axis=(0, 2)) - Y.min(axis=(0, 2))).astype(np.float64)
    spread[~np.isfinite(spread)] = np.inf
    _check_scale(
        spread,
        source,
        "recordings",
        RECORDING_RANGE,
        "Rescale the recordings (e.g. to z-scores or to their physical unit); R² and r do not "
        "depend on the scale.",
    )
    return Y


def constant_targets(Y_mean: np.ndarray) -> np.ndarray:
    """Boolean mask of targets whose mean response is constant over stimuli (silent neurons)."""
    Y_mean = np.asarray(Y_mean, dtype=np.float64)
    spread = Y_mean.max(axis=0) - Y_mean.min(axis=0)
    scale = np.maximum(np.abs(Y_mean).max(axis=0), 1e-300)
    return spread <= 1e-12 * scale


def check_n_stimuli(P: int, n_folds: int, source: str) -> None:
    """At least 2 × folds stimuli are needed for the outer CV to leave ≥ 2 stimuli per test fold."""
    if P < 2 * n_folds:
        raise InputError(
            source,
            f"{P} stimuli is fewer than 2 × folds = {2 * n_folds}.",
            "Provide more stimuli or lower `regression.folds`.",
        )


def check_stimulus_ids(ids: list[str], n_stimuli: int, source: str) -> list[str]:
    """Ids must be one per stimulus row, non-empty and unique (a UTF-8 byte-order mark is dropped)."""
    ids = [str(i).replace("\ufeff", "").strip() for i in ids]
    if len(ids) != n_stimuli:
        raise InputError(
            source,
            f"{len(ids)} stimulus ids for {n_stimuli} stimuli (rows of the recordings).",
            "Write exactly one id per line, in the row order of the recordings.",
        )
    empty = [k + 1 for k, i in enumerate(ids) if not i]
    if empty:
        raise InputError(
            source, f"empty stimulus id on line(s) {empty[:10]}.", "Give every stimulus an id."
        )
    seen: dict[str, int] = {}
    dups = []
    for k, i in enumerate(ids):
        if i in seen:
            dups.append(f"{i!r} (lines {seen[i] + 1} and {k + 1})")
        else:
            seen[i] = k
    if dups:
        raise InputError(
            source,
            f"duplicate stimulus ids: {', '.join(dups[:5])}"
            + (f" and {len(dups) - 5} more" if len(dups) > 5 else "")
            + ".",
            "Make every stimulus id unique.",
        )
    return ids


def check_layer(
    name: str, A: np.ndarray, n_stimuli: int, source: str, dtype: str = "float32"
) -> np.ndarray:
    """Validate one layer; return it as a 2-D array of ``dtype`` (extra dims flattened)."""
    A = np.asarray(A)
    if A.dtype.kind not in "fiu":
        raise InputError(
            source,
            f"layer {name!r} has dtype {A.dtype}, expected numeric.",
            "Save each layer as a float array (stimuli × units).",
        )
    if A.ndim < 2:
        raise InputError(
            source,
            f"layer {name!r} has shape {A.shape}, expected stimuli × units (× …).",
            "Save each layer with the stimuli on the first axis.",
        )
    if A.shape[0] != n_stimuli:
        raise InputError(
            source,
            f"layer {name!r} has {A.shape[0]} stimuli but the recordings have {n_stimuli}.",
            "Activations and recordings must list the same stimuli in the same order.",
        )
    A = A.reshape(A.shape[0], -1)
    if A.shape[1] == 0:
        raise InputError(
            source, f"layer {name!r} has no units.", "Remove the layer or fix its extraction."
        )
    check_finite(A, source, f"activations of layer {name!r}")
    A64 = A.astype(np.float64, copy=False)
    spread = A64.max(axis=0) - A64.min(axis=0)
    _check_scale(
        np.where(np.isfinite(spread), spread, np.inf),
        source,
        f"activations of layer {name!r}",
        ACTIVATION_RANGE,
        "Multiply the layer by a power of ten before saving it (PR does not depend on the "
        "scale; with `regression.alpha_scaling: trace` neither does R²).",
    )
    if np.all(spread == 0):
        raise InputError(
            source,
            f"layer {name!r} is constant over all stimuli (no unit varies).",
            "Remove the layer, or check the extraction (a dead layer carries no information).",
        )
    return A.astype(dtype, copy=False)


def check_groups(stimuli, n_folds: int, source: str) -> None:
    """Grouped CV (a `group` column in the stimulus table) needs at least as many groups as folds."""
    if "group" in getattr(stimuli, "columns", ()):
        n = stimuli["group"].nunique()
        if n < n_folds:
            raise InputError(
                source,
                f"{n} stimulus groups (e.g. stories, passages or source images) cannot "
                f"fill {n_folds} cross-validation folds (a group stays in one fold).",
                f"Lower `regression.folds` to at most {n}, or give more groups.",
            )
