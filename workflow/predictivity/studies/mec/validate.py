"""Checks of the ``mec`` study kind's options: each bad value is an
:class:`~predictivity.errors.InputError` naming its dotted config key (``studies.mec.recordings.
period_ratio``) and how to fix it."""

from __future__ import annotations

import math

import numpy as np

from predictivity.errors import InputError


def as_int(value, key: str, minimum: int | None = None) -> int:
    """``value`` as an int (a whole float is accepted), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise InputError(
                key, f"must be an integer, got {value!r}.", f"set {key} to a whole number."
            )
    value = int(value)
    if minimum is not None and value < minimum:
        raise InputError(
            key, f"must be ≥ {minimum}, got {value}.", f"set {key} to at least {minimum}."
        )
    return value


def as_float(
    value,
    key: str,
    *,
    minimum: float | None = None,
    strict: bool = False,
    maximum: float | None = None,
) -> float:
    """``value`` as a finite float, ≥ ``minimum`` (> with ``strict``) and ≤ ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(key, f"must be a number, got {value!r}.", f"set {key} to a number.")
    value = float(value)
    if not math.isfinite(value):
        raise InputError(key, f"must be finite, got {value}.", f"set {key} to a finite number.")
    if minimum is not None:
        if strict and value <= minimum:
            raise InputError(
                key, f"must be > {minimum}, got {value}.", f"set {key} to a value above {minimum}."
            )
        if not strict and value < minimum:
            raise InputError(
                key, f"must be ≥ {minimum}, got {value}.", f"set {key} to at least {minimum}."
            )
    if maximum is not None and value > maximum:
        raise InputError(
            key, f"must be ≤ {maximum}, got {value}.", f"set {key} to at most {maximum}."
        )
    return value


def as_choice(value, key: str, choices) -> str:
    """``value`` lower-cased, one of ``choices``."""
    if not isinstance(value, str) or value.lower() not in choices:
        raise InputError(key, f"unknown value {value!r}.", f"use one of: {', '.join(choices)}.")
    return value.lower()


def as_rng(rng) -> np.random.Generator:
    """A ``numpy.random.Generator``: ``rng`` itself, or ``default_rng(rng)`` for a seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)
