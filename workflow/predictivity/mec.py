"""The ``mec`` study kind: mouse medial entorhinal cortex and RNN path integrators.

After Schaeffer, Khona & Fiete (2022) and Nayebi et al. (2021): recurrent networks trained to
path-integrate (velocity in, place-cell code out) are the candidate models; their hidden units are
binned by position into rate maps and regressed onto MEC rate maps. Everything here is pure:
arrays / tensors in, arrays / DataFrames / ``nn.Module`` out, no file I/O, logging through the
:mod:`logging` module.

Pieces, in pipeline order
-------------------------
1. :func:`arena_bins` — the stimuli: the centres of an ``n_bins × n_bins`` grid of spatial bins.
2. :func:`random_walks` — rat-like random trajectories (the trajectory generator of Sorscher et al.
   2019/2023, used unchanged by Schaeffer et al. 2022 and Nayebi et al. 2021).
3. :func:`place_cells`, :func:`place_cell_targets` — the supervised place-cell code.
4. :func:`build_rnn`, :func:`train_path_integrator`, :func:`decoding_error`,
   :func:`chance_error_cm` — the candidate networks (RNN/GRU/LSTM, trained or untrained twins).
5. :func:`rate_maps` — per-layer activations ``stimuli × units`` (bins in :func:`arena_bins` order).
6. :func:`simulate_mec` (:func:`mec_rates` + Poisson) — simulated MEC recordings from a documented
   generative model (grid modules, border, head-direction-like, heterogeneous cells) that is **not**
   any candidate network.
7. :func:`grid_period` — measures a grid period from a rate map (used to check the simulation).

Spatial conventions
-------------------
The arena is the square ``[-box_width/2, box_width/2]²`` (metres). Bin row order is
``row = iy * n_bins + ix`` (``ix`` along x, ``iy`` along y), so ``values.reshape(n_bins, n_bins)``
is an image indexed ``[iy, ix]``.

Config keys
-----------
:data:`DEFAULTS` mirrors the config sections of a ``mec`` study (``studies.<name>.stimuli``,
``.recordings``, ``.model`` (per model), ``.training``, ``.trajectories``, ``.rate_maps``). Every
public function that validates input takes ``config_key`` (the dotted prefix used in error
messages) so that a bad value raises :class:`~predictivity.errors.InputError` naming the key, e.g.
``studies.mec.recordings.period_ratio``.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from typing import Any

import numpy as np
import pandas as pd

from predictivity.errors import InputError

log = logging.getLogger(__name__)

#: Rayleigh scale of the forward speed used by Sorscher et al.'s trajectory generator
#: (``b = 0.13 * 2 * np.pi`` m/s in their code, i.e. the 0.13 of Banino et al. times 2π;
#: mean speed = b·sqrt(π/2) ≈ 1.02 m/s).
SORSCHER_SPEED_SCALE = 0.13 * 2.0 * math.pi

#: Defaults, one dict per config section of a ``mec`` study (copy into the JSON schema).
DEFAULTS: dict[str, dict[str, Any]] = {
    # stimuli: the binned arena (arena_bins)
    "stimuli": {
        "box_width": 2.2,  # m, side of the square arena (centred at 0)
        "n_bins": 20,  # bins per side → n_bins² stimuli
    },
    # simulated recordings (simulate_mec / mec_rates)
    "recordings": {
        "n_grid": 128,  # grid cells, split evenly over the modules (remainder to the first)
        "n_modules": 4,
        "period_min": 0.3,  # m, period of module 0
        "period_ratio": 1.4,  # period of module k = period_min · period_ratio**k
        "n_border": 16,
        "n_head_direction": 16,
        "n_heterogeneous": 64,
        "n_sessions": 2,  # independent Poisson sessions (repetitions)
        "peak_rate_hz": 10.0,  # median peak rate; each cell's peak = this · lognormal(0, 0.3)
        "baseline_rate_hz": 0.5,  # added to every cell everywhere
        "dwell_s": 2.0,  # seconds spent per bin per session; counts ~ Poisson(rate · dwell_s)
        "seed": 0,
    },
    # one candidate network (build_rnn)
    "model": {
        "cell": "rnn",  # rnn | gru | lstm
        "activation": None,  # rnn: relu (default) | tanh; gru/lstm: omit (always tanh)
        "n_hidden": 128,  # Ng
        "n_place_cells": 256,  # Np
        "place_cell_sigma": 0.12,  # m
        "place_cell_kind": "gaussian",  # gaussian | dog (DESIGN §6: demo uses gaussian)
        "surround_scale": 2.0,  # DoG surround variance = surround_scale · sigma²
        "velocity_scale": 10.0,  # network input = velocity_scale · (step in metres)
        "seed": 0,  # place-cell centres and initial weights
    },
    # path-integration training (train_path_integrator)
    "training": {
        "n_train_steps": 1000,  # 0 = the untrained twin
        "batch_size": 200,
        "sequence_length": 20,
        "learning_rate": 1e-3,
        "weight_decay": 0.0,  # coefficient of Σ W_hh² added to the loss (Sorscher: 1e-4)
        "n_validation": 400,  # trajectories in the fixed validation batch
        "log_every": 100,
        "seed": 0,  # training and validation trajectories
    },
    # trajectory statistics (random_walks; used by training and rate maps)
    "trajectories": {
        "dt": 0.02,  # s per step
        "speed_scale": SORSCHER_SPEED_SCALE,  # m/s, Rayleigh scale of the forward speed
        "turn_sigma": 11.52,  # rad/s, s.d. of the rotational velocity (Sorscher: 5.76·2)
        "border_region": 0.03,  # m, wall-avoidance distance
        "wall_slowdown": 0.25,  # speed factor while turning away from a wall
    },
    # rate maps (rate_maps)
    "rate_maps": {
        "n_trajectories": 2500,
        "n_steps": 20,  # = the training sequence length, as in Sorscher et al.'s rate maps
        "seed": 1,
    },
}

CELL_TYPES = ("rnn", "gru", "lstm")
ACTIVATIONS = ("relu", "tanh")
PLACE_CELL_KINDS = ("gaussian", "dog")
#: Sharpness β of the grid-cell nonlinearity (see :func:`mec_rates`).
GRID_SHARPNESS = 3.0


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _int(value, key: str, minimum: int | None = None) -> int:
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


def _float(
    value,
    key: str,
    *,
    minimum: float | None = None,
    strict: bool = False,
    maximum: float | None = None,
) -> float:
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


def _choice(value, key: str, choices) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise InputError(key, f"unknown value {value!r}.", f"use one of: {', '.join(choices)}.")
    return value.lower()


def _merge(section: str, given: dict | None, key: str) -> dict:
    """Defaults of ``DEFAULTS[section]`` overridden by ``given``; unknown keys are an error."""
    out = dict(DEFAULTS[section])
    for k, v in (given or {}).items():
        if k not in out:
            raise InputError(
                f"{key}.{k}", "unknown key.", f"remove it or use one of: {', '.join(out)}."
            )
        if v is not None or k == "activation":
            out[k] = v
    return out


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


# --------------------------------------------------------------------------------------------
# 1. stimuli
# --------------------------------------------------------------------------------------------


def arena_bins(
    box_width: float = 2.2, n_bins: int = 20, *, config_key: str = "studies.mec.stimuli"
) -> pd.DataFrame:
    """The stimuli of a ``mec`` study: the spatial bins of a square arena.

    Parameters
    ----------
    box_width : side of the square arena in metres (default 2.2); the arena is
        ``[-box_width/2, box_width/2]²``.
    n_bins : bins per side (default 20), at least 2; the study has ``n_bins²`` stimuli.
    config_key : dotted config prefix named in errors.

    Returns
    -------
    DataFrame with ``n_bins²`` rows in the order ``row = iy * n_bins + ix`` and columns
    ``stimulus_id`` (``x{ix}_y{iy}``, zero-padded to at least 2 digits, e.g. ``x03_y17``; stable and
    unique), ``x``, ``y`` (bin centres, metres), ``ix``, ``iy`` (integer bin indices).
    """
    n_bins = _int(n_bins, f"{config_key}.n_bins", minimum=2)
    box_width = _float(box_width, f"{config_key}.box_width", minimum=0.0, strict=True)
    edges = np.linspace(-box_width / 2, box_width / 2, n_bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    iy, ix = np.divmod(np.arange(n_bins * n_bins), n_bins)
    width = max(2, len(str(n_bins - 1)))
    ids = [f"x{a:0{width}d}_y{b:0{width}d}" for a, b in zip(ix, iy)]
    return pd.DataFrame(
        {"stimulus_id": ids, "x": centres[ix], "y": centres[iy], "ix": ix, "iy": iy}
    )


def bin_index(positions: np.ndarray, box_width: float, n_bins: int) -> np.ndarray:
    """Row index (in :func:`arena_bins` order) of the bin holding each position.

    positions : (..., 2) metres. Positions outside the arena go to the nearest edge bin.
    Returns an int64 array of shape ``positions.shape[:-1]``.
    """
    positions = np.asarray(positions, dtype=np.float64)
    idx = np.floor((positions + box_width / 2) / box_width * n_bins).astype(np.int64)
    idx = np.clip(idx, 0, n_bins - 1)
    return idx[..., 1] * n_bins + idx[..., 0]


# --------------------------------------------------------------------------------------------
# 2. trajectories
# --------------------------------------------------------------------------------------------


def _wrap(angle):
    return np.mod(angle + np.pi, 2 * np.pi) - np.pi


def random_walks(
    n_trajectories: int,
    n_steps: int,
    box_width: float = 2.2,
    rng=None,
    dt: float = 0.02,
    speed_scale: float = SORSCHER_SPEED_SCALE,
    turn_sigma: float = 11.52,
    border_region: float = 0.03,
    wall_slowdown: float = 0.25,
    *,
    config_key: str = "studies.mec.trajectories",
) -> dict[str, np.ndarray]:
    """Rat-like random walks in the square arena (Sorscher et al.'s generator, vectorised).

    Each trajectory starts at a uniform random position with a uniform random heading. At every
    step: forward speed ~ Rayleigh(``speed_scale``); if the agent is within ``border_region`` of
    its nearest wall and heading towards it, it turns to run parallel to the wall and its speed is
    multiplied by ``wall_slowdown``; it moves ``speed·dt`` along its heading; the heading then
    changes by ``dt · N(0, turn_sigma²)``. Positions are clipped to the arena (rare: only at
    corners) and velocities are the actual displacements / dt, so
    ``positions[:, t+1] == positions[:, t] + velocities[:, t] * dt`` holds exactly (path
    integration is well posed).

    Parameters
    ----------
    n_trajectories, n_steps : numbers of trajectories T and steps S (both ≥ 1).
    box_width : arena side (m), default 2.2.
    rng : ``numpy.random.Generator`` or a seed; the walks are a deterministic function of it.
    dt : seconds per step (default 0.02).
    speed_scale : Rayleigh scale of the forward speed in m/s (default 0.13·2π ≈ 0.82, as in the
        Sorscher / Schaeffer code; mean speed ≈ 1.02 m/s. Banino et al.'s paper value is 0.13).
    turn_sigma : s.d. of the rotational velocity in rad/s (default 11.52 = 5.76·2, Sorscher).
    border_region : wall-avoidance distance in m (default 0.03).
    wall_slowdown : speed factor while avoiding a wall (default 0.25).
    config_key : dotted config prefix named in errors.

    Returns
    -------
    dict of float64 arrays:
      ``positions`` (T, S+1, 2) m; ``velocities`` (T, S, 2) m/s, = speed·(cos hd, sin hd) for the
      step from position t to t+1; ``displacements`` (T, S, 2) m = velocities·dt (the network
      input before scaling); ``speed`` (T, S) m/s; ``head_direction`` (T, S+1) rad in [-π, π):
      entry t (< S) is the heading of step t, entry S the heading the agent ends with.
    """
    T = _int(n_trajectories, f"{config_key}.n_trajectories", minimum=1)
    S = _int(n_steps, f"{config_key}.n_steps", minimum=1)
    box_width = _float(box_width, "studies.mec.stimuli.box_width", minimum=0.0, strict=True)
    dt = _float(dt, f"{config_key}.dt", minimum=0.0, strict=True)
    speed_scale = _float(speed_scale, f"{config_key}.speed_scale", minimum=0.0, strict=True)
    turn_sigma = _float(turn_sigma, f"{config_key}.turn_sigma", minimum=0.0)
    border_region = _float(border_region, f"{config_key}.border_region", minimum=0.0)
    wall_slowdown = _float(wall_slowdown, f"{config_key}.wall_slowdown", minimum=0.0, maximum=1.0)
    rng = _rng(rng)
    half = box_width / 2
    pos = np.empty((T, S + 1, 2))
    hd = np.empty((T, S + 1))
    pos[:, 0] = rng.uniform(-half, half, size=(T, 2))
    hd[:, 0] = rng.uniform(-np.pi, np.pi, size=T)
    turn_noise = rng.normal(0.0, turn_sigma, size=(T, S))
    speed_draw = rng.rayleigh(speed_scale, size=(T, S))
    wall_angles = np.arange(4) * (np.pi / 2)  # east, north, west, south
    for t in range(S):
        x, y = pos[:, t, 0], pos[:, t, 1]
        dists = np.stack([half - x, half - y, half + x, half + y])
        nearest = np.argmin(dists, axis=0)
        d_wall = dists[nearest, np.arange(T)]
        a_wall = _wrap(hd[:, t] - wall_angles[nearest])
        near = (d_wall < border_region) & (np.abs(a_wall) < np.pi / 2)
        turn = np.where(near, np.sign(a_wall) * (np.pi / 2 - np.abs(a_wall)), 0.0)
        heading = _wrap(hd[:, t] + turn)
        v = speed_draw[:, t] * np.where(near, wall_slowdown, 1.0)
        hd[:, t] = heading
        step = (v * dt)[:, None] * np.stack([np.cos(heading), np.sin(heading)], axis=-1)
        pos[:, t + 1] = np.clip(pos[:, t] + step, -half, half)
        hd[:, t + 1] = _wrap(heading + dt * turn_noise[:, t])
    disp = np.diff(pos, axis=1)
    # make positions exactly the cumulative sum of the displacements in float64
    pos[:, 1:] = pos[:, :1] + np.cumsum(disp, axis=1)
    disp = np.diff(pos, axis=1)
    vel = disp / dt
    return {
        "positions": pos,
        "velocities": vel,
        "displacements": disp,
        "speed": np.linalg.norm(vel, axis=-1),
        "head_direction": hd,
    }


# --------------------------------------------------------------------------------------------
# 3. place cells
# --------------------------------------------------------------------------------------------


def place_cells(
    n_place_cells: int = 256,
    box_width: float = 2.2,
    rng=None,
    sigma: float = 0.12,
    kind: str = "gaussian",
    surround_scale: float = 2.0,
    *,
    config_key: str = "studies.mec.model",
) -> np.ndarray:
    """Place-cell centres, uniform in the arena (Sorscher et al.).

    Parameters
    ----------
    n_place_cells : Np ≥ 3 (top-3 decoding needs three).
    box_width : arena side (m).
    rng : ``numpy.random.Generator`` or seed.
    sigma, kind, surround_scale : the tuning used later by :func:`place_cell_targets`; validated
        here so a bad config fails early; they do not change the centres.
    config_key : dotted config prefix named in errors (``.n_place_cells``, ``.place_cell_sigma``,
        ``.place_cell_kind``, ``.surround_scale``).

    Returns
    -------
    centres : (Np, 2) float64 array, metres.
    """
    n = _int(n_place_cells, f"{config_key}.n_place_cells", minimum=3)
    box_width = _float(box_width, "studies.mec.stimuli.box_width", minimum=0.0, strict=True)
    _float(sigma, f"{config_key}.place_cell_sigma", minimum=0.0, strict=True)
    _choice(kind, f"{config_key}.place_cell_kind", PLACE_CELL_KINDS)
    _float(surround_scale, f"{config_key}.surround_scale", minimum=1.0, strict=True)
    rng = _rng(rng)
    return rng.uniform(-box_width / 2, box_width / 2, size=(n, 2))


def place_cell_targets(
    positions, centres, sigma: float = 0.12, kind: str = "gaussian", surround_scale: float = 2.0
):
    """Place-cell activations: a probability distribution over the Np place cells per position.

    With d²_i = ‖x − c_i‖² (the softmax is computed from x·c_i − ‖c_i‖²/2 = (‖x‖² − d²_i)/2,
    the ‖x‖² term cancelling):
      * ``gaussian``: a = softmax_i(−d²_i / (2σ²));
      * ``dog`` (Sorscher et al.): a = softmax_i(−d²/(2σ²)) − softmax_i(−d²/(2·surround_scale·σ²)),
        then shifted by |min_i a| and renormalised to sum 1.

    Parameters
    ----------
    positions : (..., 2) numpy array or torch tensor (metres).
    centres : (Np, 2) same library as ``positions``.
    sigma : tuning width in metres (default 0.12).
    kind : ``"gaussian"`` or ``"dog"``.
    surround_scale : ratio of surround to centre variance for DoG (default 2).

    Returns
    -------
    (..., Np) array (numpy float64) or tensor (dtype of ``positions``), rows summing to 1.
    """
    kind = _choice(kind, "studies.mec.model.place_cell_kind", PLACE_CELL_KINDS)
    try:
        import torch

        is_torch = isinstance(positions, torch.Tensor)
    except ImportError:  # pragma: no cover
        is_torch = False
    if is_torch:
        centres = torch.as_tensor(centres, dtype=positions.dtype, device=positions.device)
        # −d²/2σ² = (x·c − ‖c‖²/2)/σ² − ‖x‖²/2σ², and the last term cancels in the softmax
        z = positions @ centres.T - 0.5 * (centres**2).sum(-1)
        out = torch.softmax(z / sigma**2, dim=-1)
        if kind == "dog":
            out = out - torch.softmax(z / (surround_scale * sigma**2), dim=-1)
            out = out + out.min(dim=-1, keepdim=True).values.abs()
            out = out / out.sum(dim=-1, keepdim=True)
        return out
    from scipy.special import softmax

    positions = np.asarray(positions, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    z = positions @ centres.T - 0.5 * (centres**2).sum(-1)
    out = softmax(z / sigma**2, axis=-1)
    if kind == "dog":
        out = out - softmax(z / (surround_scale * sigma**2), axis=-1)
        out = out + np.abs(out.min(axis=-1, keepdims=True))
        out = out / out.sum(axis=-1, keepdims=True)
    return out


# --------------------------------------------------------------------------------------------
# 4. networks
# --------------------------------------------------------------------------------------------


def _torch():
    import torch

    return torch


@functools.cache
def _path_rnn_class():
    """The network class, built on first use so that importing this module does not import
    torch (the stimuli and recordings rules do not need it); also ``mec.PathIntegratorRNN``."""
    torch = _torch()
    nn = torch.nn

    class PathIntegratorRNN(nn.Module):
        """Velocity → place-cell logits (Sorscher et al. 2019 architecture).

        * ``encoder``: Linear(Np → Ng) (→ 2·Ng for LSTM: h₀ and c₀), no bias, applied to
          ``Np · p(x₀)`` (the initial place-cell vector scaled to O(1) entries) → initial state;
        * ``rnn``: ``nn.RNN`` (no bias, relu/tanh), ``nn.GRU`` or ``nn.LSTM`` (with biases), input
          ``velocity_scale · displacement`` (2-D, metres per step);
        * ``decoder``: Linear(Ng → Np), no bias → place-cell logits at every step.

        ``config`` holds the constructor arguments (rebuild with ``build_rnn(**model.config)``,
        then ``load_state_dict``); the place-cell centres are the buffer ``centres``.
        """

        def __init__(self, config: dict, centres: np.ndarray):
            super().__init__()
            self.config = dict(config)
            cell, ng, npc = config["cell"], config["n_hidden"], config["n_place_cells"]
            self.cell = cell
            self.register_buffer("centres", torch.as_tensor(centres, dtype=torch.float32))
            self.encoder = nn.Linear(npc, ng * (2 if cell == "lstm" else 1), bias=False)
            if cell == "rnn":
                self.rnn = nn.RNN(
                    2, ng, nonlinearity=config["activation"], bias=False, batch_first=True
                )
            elif cell == "gru":
                self.rnn = nn.GRU(2, ng, batch_first=True)
            else:
                self.rnn = nn.LSTM(2, ng, batch_first=True)
            self.decoder = nn.Linear(ng, npc, bias=False)

        @property
        def layer_names(self) -> list[str]:
            """Layers of :func:`rate_maps`, in order."""
            names = ["encoder", "hidden"]
            if self.cell == "lstm":
                names.append("cell")
            return names + ["logits"]

        def initial_state(self, init_place_cells):
            z = self.encoder(init_place_cells * self.config["n_place_cells"])
            if self.cell == "lstm":
                h0, c0 = z.chunk(2, dim=-1)
                return (h0[None].contiguous(), c0[None].contiguous())
            return z[None]

        def forward(self, displacements, init_place_cells):
            """displacements (B, T, 2) metres per step; init_place_cells (B, Np) summing to 1.

            Returns (logits (B, T, Np), hidden states (B, T, Ng)); step t is the state after
            integrating displacement t, i.e. it codes position t+1 of the trajectory.
            """
            x = displacements * self.config["velocity_scale"]
            hs, _ = self.rnn(x, self.initial_state(init_place_cells))
            return self.decoder(hs), hs

        def states(self, displacements, init_place_cells) -> dict:
            """All rate-map layers over time: dict name → (B, T, units), ordered as
            :attr:`layer_names` (``encoder`` is left to the caller: it depends on position)."""
            x = displacements * self.config["velocity_scale"]
            state = self.initial_state(init_place_cells)
            out = {}
            if self.cell == "lstm":
                hs, cs = [], []
                for t in range(x.shape[1]):
                    _, state = self.rnn(x[:, t : t + 1], state)
                    hs.append(state[0][0])
                    cs.append(state[1][0])
                out["hidden"] = torch.stack(hs, dim=1)
                out["cell"] = torch.stack(cs, dim=1)
            else:
                out["hidden"], _ = self.rnn(x, state)
            out["logits"] = self.decoder(out["hidden"])
            return out

    PathIntegratorRNN.__module__ = __name__
    PathIntegratorRNN.__qualname__ = "PathIntegratorRNN"
    return PathIntegratorRNN


def __getattr__(name):
    if name == "PathIntegratorRNN":
        return _path_rnn_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_rnn(
    cell: str = "rnn",
    activation: str | None = None,
    n_hidden: int = 128,
    n_place_cells: int = 256,
    seed: int = 0,
    box_width: float = 2.2,
    place_cell_sigma: float = 0.12,
    place_cell_kind: str = "gaussian",
    surround_scale: float = 2.0,
    velocity_scale: float = 10.0,
    *,
    config_key: str = "studies.mec.model",
):
    """A seeded path-integrator network (trained or not, it is the same object).

    Parameters
    ----------
    cell : ``"rnn"`` (vanilla), ``"gru"`` or ``"lstm"``.
    activation : for ``rnn``: ``"relu"`` (default when None) or ``"tanh"``; for gru/lstm omit it
        or give ``"tanh"`` (their nonlinearity is fixed); ``"relu"`` there is an error.
    n_hidden : Ng, hidden units (default 128).
    n_place_cells : Np, place cells (default 256).
    seed : seeds the place-cell centres (``numpy.random.default_rng(seed)``) and the initial
        weights (``torch.manual_seed(seed)`` inside ``torch.random.fork_rng``; the global torch RNG
        is left untouched). Same seed → identical weights and centres.
    box_width : arena side in metres (place-cell centres are uniform in it).
    place_cell_sigma, place_cell_kind, surround_scale : place-cell tuning
        (see :func:`place_cell_targets`); stored in ``model.config`` for training and rate maps.
    velocity_scale : the network input is ``velocity_scale · displacement`` (metres per step),
        default 10 (DESIGN §6 "velocity ×10"); the initial place-cell vector enters ×Np.
    config_key : dotted config prefix named in errors.

    Returns
    -------
    ``torch.nn.Module`` with ``forward(displacements, init_place_cells) -> (logits, hidden)``,
    ``states(...)``, ``layer_names``, ``config`` and the buffer ``centres`` (Np, 2).
    """
    torch = _torch()
    cell = _choice(cell, f"{config_key}.cell", CELL_TYPES)
    if activation is None:
        activation = "relu" if cell == "rnn" else "tanh"
    activation = _choice(activation, f"{config_key}.activation", ACTIVATIONS)
    if cell != "rnn" and activation != "tanh":
        raise InputError(
            f"{config_key}.activation",
            f"{cell.upper()} units have a fixed tanh nonlinearity; "
            f"{activation!r} cannot be applied.",
            "omit activation (or set it to tanh) for gru/lstm models, or use "
            "cell: rnn for a ReLU network.",
        )
    n_hidden = _int(n_hidden, f"{config_key}.n_hidden", minimum=1)
    seed = _int(seed, f"{config_key}.seed", minimum=0)
    velocity_scale = _float(
        velocity_scale, f"{config_key}.velocity_scale", minimum=0.0, strict=True
    )
    centres = place_cells(
        n_place_cells,
        box_width,
        np.random.default_rng(seed),
        sigma=place_cell_sigma,
        kind=place_cell_kind,
        surround_scale=surround_scale,
        config_key=config_key,
    )
    config = {
        "cell": cell,
        "activation": activation,
        "n_hidden": n_hidden,
        "n_place_cells": int(n_place_cells),
        "seed": seed,
        "box_width": float(box_width),
        "place_cell_sigma": float(place_cell_sigma),
        "place_cell_kind": place_cell_kind.lower(),
        "surround_scale": float(surround_scale),
        "velocity_scale": velocity_scale,
    }
    cls = _path_rnn_class()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config, centres)
    return model


def _targets(model, positions):
    c = model.config
    return place_cell_targets(
        positions, model.centres, c["place_cell_sigma"], c["place_cell_kind"], c["surround_scale"]
    )


def _batch_tensors(model, walks):
    torch = _torch()
    pos = torch.as_tensor(walks["positions"], dtype=torch.float32)
    disp = torch.as_tensor(walks["displacements"], dtype=torch.float32)
    init_pc = _targets(model, pos[:, 0])
    return pos, disp, init_pc


def _decode(model, logits, k: int = 3):
    """Position estimate: mean of the centres of the k most active predicted place cells."""
    idx = logits.topk(k, dim=-1).indices
    return model.centres[idx].mean(dim=-2)


def _evaluate(model, walks) -> tuple[float, float]:
    """(cross-entropy loss, mean decoding error in cm) on a batch of walks, no gradients."""
    torch = _torch()
    was_training = model.training
    model.eval()
    with torch.no_grad():
        pos, disp, init_pc = _batch_tensors(model, walks)
        logits, _ = model(disp, init_pc)
        y = _targets(model, pos[:, 1:])
        loss = -(y * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
        err = (_decode(model, logits) - pos[:, 1:]).norm(dim=-1).mean()
    model.train(was_training)
    return float(loss), 100.0 * float(err)


def decoding_error(
    model,
    trajectories: dict | None = None,
    *,
    n_trajectories: int = 400,
    n_steps: int = 20,
    seed: int = 12345,
    threads: int | None = None,
    trajectory_options: dict | None = None,
) -> float:
    """Mean path-integration decoding error of ``model`` in centimetres.

    The position at every step is decoded as the mean of the centres of the 3 place cells with
    the largest predicted logits (Sorscher et al.) and compared with the true position.

    Parameters
    ----------
    model : a network from :func:`build_rnn`.
    trajectories : output of :func:`random_walks`; if None, ``n_trajectories`` walks of
        ``n_steps`` steps are drawn with ``numpy.random.default_rng(seed)`` in the model's arena
        using ``trajectory_options`` (defaults: ``DEFAULTS["trajectories"]``).
    threads : if given, ``torch.set_num_threads(threads)`` for the call (restored afterwards).
    """
    torch = _torch()
    if trajectories is None:
        opts = _merge("trajectories", trajectory_options, "studies.mec.trajectories")
        trajectories = random_walks(
            n_trajectories, n_steps, model.config["box_width"], np.random.default_rng(seed), **opts
        )
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        return _evaluate(model, trajectories)[1]
    finally:
        torch.set_num_threads(previous)


def chance_error_cm(box_width: float = 2.2, positions: np.ndarray | None = None) -> float:
    """Decoding error (cm) of always guessing the arena centre.

    With ``positions`` (…, 2): the mean distance of those positions from (0, 0). Without: the
    exact expectation for positions uniform in the square, ``L·(√2 + asinh 1)/6 ≈ 0.3826·L``
    (84.2 cm for L = 2.2 m).
    """
    if positions is not None:
        return 100.0 * float(np.linalg.norm(np.asarray(positions, float), axis=-1).mean())
    return 100.0 * box_width * (math.sqrt(2.0) + math.asinh(1.0)) / 6.0


def train_path_integrator(
    model,
    config: dict | None = None,
    seed: int | None = None,
    log_every: int | None = None,
    threads: int | None = None,
    trajectory_options: dict | None = None,
    *,
    config_key: str = "studies.mec.training",
    trajectories_key: str = "studies.mec.trajectories",
):
    """Train ``model`` in place to path-integrate; returns ``(model, history)``.

    Every step draws ``batch_size`` fresh walks of ``sequence_length`` steps
    (:func:`random_walks`), feeds ``velocity_scale · displacements`` and the initial place-cell
    vector, and minimises the cross-entropy between the target place-cell distributions
    p(x_{t+1}) and softmax(logits_t), averaged over steps and batch:
    L = −mean Σ_i p_i log softmax(logits)_i  [+ weight_decay · Σ W_hh²]. Adam (β 0.9/0.999).

    Parameters
    ----------
    model : from :func:`build_rnn`; its ``config`` gives the arena and place-cell tuning.
    config : the training section; keys (defaults in ``DEFAULTS["training"]``):
        ``n_train_steps`` (1000; 0 = untrained twin: the model is returned unchanged),
        ``batch_size`` (200), ``sequence_length`` (20), ``learning_rate`` (1e-3),
        ``weight_decay`` (0.0; coefficient of Σ W_hh², the recurrent weights, as in Sorscher),
        ``n_validation`` (400 trajectories in the fixed validation batch), ``log_every`` (100),
        ``seed`` (0). Unknown keys raise :class:`InputError`; a None value means the default.
    seed, log_every : override the config values when given.
        The training walks use ``SeedSequence(seed).spawn(2)[0]``, the validation batch
        ``[1]`` — so every model trained with the same seed is validated on the same walks.
    threads : ``torch.set_num_threads(threads)`` during training (restored afterwards).
    trajectory_options : trajectory statistics (``DEFAULTS["trajectories"]`` keys).
    config_key, trajectories_key : dotted config prefixes named in errors.

    Returns
    -------
    model : the same object, trained, in eval mode.
    history : DataFrame with one row at step 0 and one every ``log_every`` steps plus the final
        step; columns ``step``, ``loss`` (validation cross-entropy, nats), ``decoding_error_cm``
        (validation, top-3 decoding), ``train_loss`` (mean training loss since the previous row;
        NaN at step 0). Each row is also logged at INFO level, with the chance error.
    """
    torch = _torch()
    cfg = _merge("training", config, config_key)
    if seed is not None:
        cfg["seed"] = seed
    if log_every is not None:
        cfg["log_every"] = log_every
    n_steps = _int(cfg["n_train_steps"], f"{config_key}.n_train_steps", minimum=0)
    batch = _int(cfg["batch_size"], f"{config_key}.batch_size", minimum=1)
    seq = _int(cfg["sequence_length"], f"{config_key}.sequence_length", minimum=1)
    lr = _float(cfg["learning_rate"], f"{config_key}.learning_rate", minimum=0.0, strict=True)
    wd = _float(cfg["weight_decay"], f"{config_key}.weight_decay", minimum=0.0)
    n_val = _int(cfg["n_validation"], f"{config_key}.n_validation", minimum=1)
    every = _int(cfg["log_every"], f"{config_key}.log_every", minimum=1)
    seed = _int(cfg["seed"], f"{config_key}.seed", minimum=0)
    opts = _merge("trajectories", trajectory_options, trajectories_key)
    box = model.config["box_width"]
    train_ss, val_ss = np.random.SeedSequence(seed).spawn(2)
    train_rng = np.random.default_rng(train_ss)
    val_walks = random_walks(
        n_val, seq, box, np.random.default_rng(val_ss), config_key=trajectories_key, **opts
    )
    chance = chance_error_cm(box)
    name = f"{model.config['cell']}" + (
        f"/{model.config['activation']}" if model.config["cell"] == "rnn" else ""
    )
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    rows = []
    t0 = time.perf_counter()
    try:

        def record(step, train_losses):
            loss, err = _evaluate(model, val_walks)
            train_loss = float(np.mean(train_losses)) if train_losses else float("nan")
            rows.append(
                {"step": step, "loss": loss, "decoding_error_cm": err, "train_loss": train_loss}
            )
            log.info(
                "mec %s step %d/%d: validation loss %.4f, decoding error %.1f cm "
                "(chance %.1f cm), train loss %.4f, %.1f s",
                name,
                step,
                n_steps,
                loss,
                err,
                chance,
                train_loss,
                time.perf_counter() - t0,
            )

        record(0, [])
        if n_steps > 0:
            optimiser = torch.optim.Adam(model.parameters(), lr=lr)
            recurrent = [p for n, p in model.rnn.named_parameters() if n.startswith("weight_hh")]
            model.train()
            losses = []
            for step in range(1, n_steps + 1):
                walks = random_walks(
                    batch, seq, box, train_rng, config_key=trajectories_key, **opts
                )
                pos, disp, init_pc = _batch_tensors(model, walks)
                y = _targets(model, pos[:, 1:])
                logits, _ = model(disp, init_pc)
                loss = -(y * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
                if wd > 0:
                    loss = loss + wd * sum((w**2).sum() for w in recurrent)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                losses.append(float(loss.detach()))
                if step % every == 0 or step == n_steps:
                    record(step, losses)
                    losses = []
    finally:
        torch.set_num_threads(previous_threads)
    model.eval()
    history = pd.DataFrame(rows, columns=["step", "loss", "decoding_error_cm", "train_loss"])
    history["step"] = history["step"].astype("int64")
    return model, history


# --------------------------------------------------------------------------------------------
# 5. rate maps
# --------------------------------------------------------------------------------------------


def _fill_unvisited(maps: np.ndarray, visited: np.ndarray, n_bins: int) -> np.ndarray:
    """Copy each unvisited bin from its nearest visited bin (Euclidean distance in bin units;
    ties resolved by ``scipy.ndimage.distance_transform_edt``, deterministically)."""
    if visited.all():
        return maps
    from scipy.ndimage import distance_transform_edt

    missing = ~visited.reshape(n_bins, n_bins)
    _, (iy, ix) = distance_transform_edt(missing, return_indices=True)
    source = (iy * n_bins + ix).ravel()
    return maps[source]


def rate_maps(
    model,
    box_width: float | None = None,
    n_bins: int = 20,
    n_trajectories: int = 2500,
    n_steps: int = 20,
    seed: int = 1,
    threads: int | None = None,
    trajectory_options: dict | None = None,
    batch_size: int = 1000,
    *,
    config_key: str = "studies.mec.rate_maps",
) -> dict[str, np.ndarray]:
    """Per-layer rate maps of a path integrator: the ``mec`` study's activations.

    The network (trained or untrained) is run on ``n_trajectories`` seeded walks of ``n_steps``
    steps (``numpy.random.default_rng(seed)``; each walk starts from its true initial place-cell
    vector, as in training — the default 2500 × 20 = 50 000 positions matches Sorscher et al.'s
    rate maps). Each layer's activity at step t is assigned to the bin of position t+1 (the
    position it codes) and averaged per bin. Bins never visited (rare at the defaults; counted
    in a log line) take the mean of the nearest visited bin.

    Layers, in order (``model.layer_names``):
      ``encoder`` — the initial-state encoder applied to the place-cell vector of the current
      position, W_enc·(Np·p(x)) (Ng units; 2·Ng for LSTM: h₀ and c₀ parts);
      ``hidden`` — the recurrent hidden state h_t (Ng);
      ``cell`` — LSTM only, the cell state c_t (Ng);
      ``logits`` — the decoder output, place-cell logits (Np).

    Parameters
    ----------
    model : from :func:`build_rnn` (trained or not).
    box_width : arena of the walks and bins; default = the model's ``box_width``.
    n_bins : bins per side (≥ 2); rows follow :func:`arena_bins` order.
    n_trajectories, n_steps, seed : the walks.
    threads : ``torch.set_num_threads`` for the call (restored afterwards).
    trajectory_options : trajectory statistics (``DEFAULTS["trajectories"]`` keys).
    batch_size : walks per forward pass (memory only; results do not depend on it).
    config_key : dotted config prefix named in errors.

    Returns
    -------
    dict layer name → float32 array (n_bins², units), ordered as above.
    """
    torch = _torch()
    n_bins = _int(n_bins, "studies.mec.stimuli.n_bins", minimum=2)
    box = model.config["box_width"] if box_width is None else box_width
    box = _float(box, "studies.mec.stimuli.box_width", minimum=0.0, strict=True)
    n_trajectories = _int(n_trajectories, f"{config_key}.n_trajectories", minimum=1)
    n_steps = _int(n_steps, f"{config_key}.n_steps", minimum=1)
    seed = _int(seed, f"{config_key}.seed", minimum=0)
    batch_size = _int(batch_size, f"{config_key}.batch_size", minimum=1)
    opts = _merge("trajectories", trajectory_options, "studies.mec.trajectories")
    walks = random_walks(n_trajectories, n_steps, box, np.random.default_rng(seed), **opts)
    nb = n_bins * n_bins
    bins = torch.as_tensor(bin_index(walks["positions"][:, 1:], box, n_bins).reshape(-1))
    counts = torch.bincount(bins, minlength=nb).to(torch.float64)
    sums: dict[str, Any] = {}
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, n_trajectories, batch_size):
                sl = slice(start, start + batch_size)
                part = {k: v[sl] for k, v in walks.items()}
                pos, disp, init_pc = _batch_tensors(model, part)
                states = {
                    "encoder": model.encoder(
                        _targets(model, pos[:, 1:]) * model.config["n_place_cells"]
                    )
                }
                states.update(model.states(disp, init_pc))
                idx = bins[start * n_steps : (start + pos.shape[0]) * n_steps]
                for name in model.layer_names:
                    a = states[name].reshape(-1, states[name].shape[-1]).to(torch.float64)
                    if name not in sums:
                        sums[name] = torch.zeros(nb, a.shape[1], dtype=torch.float64)
                    sums[name].index_add_(0, idx, a)
    finally:
        model.train(was_training)
        torch.set_num_threads(previous)
    visited = (counts > 0).numpy()
    if not visited.all():
        log.info(
            "rate maps: %d of %d bins never visited; filled from the nearest visited bin",
            int((~visited).sum()),
            nb,
        )
    out = {}
    for name in model.layer_names:
        m = (sums[name] / counts.clamp(min=1)[:, None]).numpy()
        out[name] = _fill_unvisited(m, visited, n_bins).astype(np.float32)
    return out


# --------------------------------------------------------------------------------------------
# 6. simulated MEC recordings
# --------------------------------------------------------------------------------------------


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
    stimuli_xy : (P, 2) positions in metres (the ``x``, ``y`` columns of :func:`arena_bins`).
    box_width : arena side (m; the heterogeneous fields and border distances use it).
    n_grid, n_modules, period_min, period_ratio, n_border, n_head_direction, n_heterogeneous,
    peak_rate_hz, baseline_rate_hz, seed : as above (defaults in ``DEFAULTS["recordings"]``).
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
    box = _float(box_width, "studies.mec.stimuli.box_width", minimum=0.0, strict=True)
    n_grid = _int(n_grid, f"{k}.n_grid", minimum=0)
    n_modules = _int(n_modules, f"{k}.n_modules", minimum=1)
    period_min = _float(period_min, f"{k}.period_min", minimum=0.0, strict=True)
    period_ratio = _float(period_ratio, f"{k}.period_ratio", minimum=1.0, strict=True)
    n_border = _int(n_border, f"{k}.n_border", minimum=0)
    n_hd = _int(n_head_direction, f"{k}.n_head_direction", minimum=0)
    n_het = _int(n_heterogeneous, f"{k}.n_heterogeneous", minimum=0)
    peak = _float(peak_rate_hz, f"{k}.peak_rate_hz", minimum=0.0, strict=True)
    base = _float(baseline_rate_hz, f"{k}.baseline_rate_hz", minimum=0.0)
    seed = _int(seed, f"{k}.seed", minimum=0)
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
    n_sessions = _int(n_sessions, f"{config_key}.n_sessions", minimum=2)
    dwell_s = _float(dwell_s, f"{config_key}.dwell_s", minimum=0.0, strict=True)
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


# --------------------------------------------------------------------------------------------
# 7. grid period
# --------------------------------------------------------------------------------------------


def autocorrelogram(rate_map_2d: np.ndarray, min_overlap: float = 0.2) -> np.ndarray:
    """Spatial autocorrelogram of a 2-D map (Pearson-style, normalised per lag).

    A(Δ) = Σ_x z(x) z(x+Δ) / (n_overlap(Δ) · var z), z = map − mean, over the
    (2ny−1, 2nx−1) lags; the zero lag sits at index (ny−1, nx−1). Lags whose overlap is below
    ``min_overlap`` of the map are NaN (too few bins to be reliable).
    """
    from scipy.signal import fftconvolve

    z = np.asarray(rate_map_2d, dtype=np.float64)
    z = z - z.mean()
    var = float((z**2).mean())
    raw = fftconvolve(z, z[::-1, ::-1], mode="full")
    ones = np.ones_like(z)
    overlap = np.rint(fftconvolve(ones, ones, mode="full"))
    ac = raw / np.maximum(overlap, 1) / var
    ac[overlap < min_overlap * z.size] = np.nan
    return ac


def grid_period(rate_map_2d, bin_size: float, n_peaks: int = 6) -> float:
    """Grid period of a rate map, measured from its spatial autocorrelogram.

    The autocorrelogram's local maxima (3×3 neighbourhood, positive correlation, excluding the
    central peak) are located with sub-bin precision (a parabola through each peak and its two
    neighbours along each axis); the period is the median distance from the centre of the
    ``n_peaks`` (default 6: the inner hexagonal ring) nearest ones, times ``bin_size``.

    Parameters
    ----------
    rate_map_2d : (ny, nx) map (e.g. ``column.reshape(n_bins, n_bins)`` in arena_bins order).
    bin_size : bin side in metres (``box_width / n_bins``).
    n_peaks : how many of the nearest peaks to use.

    Returns
    -------
    Period in the units of ``bin_size``; NaN for a constant map or one without side peaks. Only
    meaningful for grid-like maps with at least ~3 bins per period.
    """
    from scipy.ndimage import maximum_filter

    m = np.asarray(rate_map_2d, dtype=np.float64)
    if m.ndim != 2 or not np.isfinite(m).all():
        raise InputError(
            "rate map",
            f"must be a finite 2-D array, got shape {m.shape}.",
            "reshape a rate-map column to (n_bins, n_bins).",
        )
    if np.ptp(m) == 0:
        return float("nan")
    ac = autocorrelogram(m)
    filled = np.where(np.isnan(ac), -np.inf, ac)
    cy, cx = m.shape[0] - 1, m.shape[1] - 1
    is_peak = maximum_filter(filled, size=3, mode="constant", cval=-np.inf) == filled
    is_peak &= filled > 0
    is_peak[cy, cx] = False
    iy, ix = np.nonzero(is_peak)
    # a peak needs finite neighbours for the parabola
    ok = (iy > 0) & (iy < ac.shape[0] - 1) & (ix > 0) & (ix < ac.shape[1] - 1)
    iy, ix = iy[ok], ix[ok]
    if iy.size == 0:
        return float("nan")

    def offset(a, b, c):
        den = a - 2 * b + c
        with np.errstate(invalid="ignore", divide="ignore"):
            off = np.where(np.isfinite(den) & (den < 0), 0.5 * (a - c) / den, 0.0)
        return np.clip(off, -0.5, 0.5)

    dy = offset(filled[iy - 1, ix], filled[iy, ix], filled[iy + 1, ix])
    dx = offset(filled[iy, ix - 1], filled[iy, ix], filled[iy, ix + 1])
    r = np.hypot(iy + dy - cy, ix + dx - cx)
    nearest = np.sort(r)[:n_peaks]
    return float(np.median(nearest) * bin_size)
