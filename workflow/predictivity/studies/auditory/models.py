"""The ``auditory`` study's model registry: config model names → activation functions.

:data:`MODELS` maps each name of the config's ``network`` key to its function in
:mod:`~predictivity.studies.auditory.crepe`, :mod:`~predictivity.studies.auditory.resemblyzer`
or :mod:`~predictivity.studies.auditory.filterbank`; :func:`model_activations` runs one with the
model's ``options``.
"""

from __future__ import annotations

import inspect

import numpy as np

from predictivity.errors import InputError
from predictivity.studies.auditory.crepe import crepe_activations
from predictivity.studies.auditory.filterbank import filterbank_activations
from predictivity.studies.auditory.resemblyzer import resemblyzer_activations

#: Known model names → (activation function, keyword arguments). Every function takes
#: ``(waveforms, sample_rate, *, seed, threads, **kwargs)`` and returns dict layer → (n × units).
#: ``crepe_full*`` are ~50× costlier than tiny (a cluster or GPU job, not the offline demo).
#: The filter bank has no learned weights, hence no untrained twin.
MODELS: dict[str, tuple] = {
    "crepe_tiny": (crepe_activations, {"capacity": "tiny", "trained": True}),
    "crepe_tiny_untrained": (crepe_activations, {"capacity": "tiny", "trained": False}),
    "crepe_full": (crepe_activations, {"capacity": "full", "trained": True}),
    "crepe_full_untrained": (crepe_activations, {"capacity": "full", "trained": False}),
    "resemblyzer": (resemblyzer_activations, {"trained": True}),
    "resemblyzer_untrained": (resemblyzer_activations, {"trained": False}),
    "filterbank": (filterbank_activations, {}),
}


def get_model(name: str, source: str = "models") -> tuple:
    """(function, kwargs) of a model name; InputError listing the known names otherwise."""
    if name not in MODELS:
        raise InputError(
            source,
            f"unknown auditory model {name!r}; known models: {', '.join(MODELS)}.",
            "use one of the known names, or supply activations as a `precomputed` study.",
        )
    return MODELS[name]


_FAMILIES = {
    "crepe_activations": "crepe",
    "resemblyzer_activations": "resemblyzer",
    "filterbank_activations": "filterbank",
}


def model_family(name: str, source: str = "models") -> str:
    """The family whose options apply to a model: ``"crepe"``, ``"resemblyzer"`` or
    ``"filterbank"`` (e.g. ``model_family("crepe_tiny_untrained") == "crepe"``)."""
    fn, _ = get_model(name, source)
    return _FAMILIES[fn.__name__]


def model_activations(
    name: str,
    waveforms,
    sample_rate: int,
    seed: int = 0,
    threads: int = 1,
    options: dict | None = None,
    source: str = "models",
) -> dict[str, np.ndarray]:
    """Activations of the model called ``name`` (a key of :data:`MODELS`).

    Parameters
    ----------
    name : str — model name; unknown names raise InputError listing the known ones.
    waveforms : (n × samples);  sample_rate : int (Hz)
    seed : int — init seed of untrained twins (ignored by trained networks and the filter bank).
    threads : int — torch threads (ignored by the filter bank; limit BLAS threads outside).
    options : dict — keyword options of the model's family (:func:`model_family`), i.e. the
        model's ``options`` in the config (e.g. ``{"hop_ms": 20.0, "batch_frames": 1024}`` for a
        CREPE model), merged over the registry's; an unknown key raises InputError.
    source : str — config key named in errors.

    Returns dict layer → float32 (n × units) in layer order.
    """
    fn, kwargs = get_model(name, source)
    options = dict(options or {})
    allowed = set(inspect.signature(fn).parameters) - {"waveforms", "sample_rate", "source"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InputError(
            f"{source}.{model_family(name)}",
            f"unknown option(s) {', '.join(unknown)} for model {name!r}.",
            f"use only: {', '.join(sorted(allowed))}.",
        )
    kwargs = {**kwargs, **options}
    if fn is not filterbank_activations:
        kwargs = {"seed": seed, "threads": threads, **kwargs}
    return fn(waveforms, sample_rate, source=f"{source}.{name}", **kwargs)
