"""Rat-like random walks in the square arena (the trajectory generator of Sorscher et al.
2019/2023, used unchanged by Schaeffer et al. 2022 and Nayebi et al. 2021): the training data of
the path integrators and the positions their rate maps are binned over."""

from __future__ import annotations

import math

import numpy as np

from predictivity.studies.mec.validate import as_float, as_int, as_rng

#: Rayleigh scale of the forward speed used by Sorscher et al.'s trajectory generator
#: (``b = 0.13 * 2 * np.pi`` m/s in their code, i.e. the 0.13 of Banino et al. times 2π;
#: mean speed = b·sqrt(π/2) ≈ 1.02 m/s). The schema's default of ``trajectories.speed_scale``.
SORSCHER_SPEED_SCALE = 0.13 * 2.0 * math.pi


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
    T = as_int(n_trajectories, f"{config_key}.n_trajectories", minimum=1)
    S = as_int(n_steps, f"{config_key}.n_steps", minimum=1)
    box_width = as_float(box_width, "studies.mec.stimuli.box_width", minimum=0.0, strict=True)
    dt = as_float(dt, f"{config_key}.dt", minimum=0.0, strict=True)
    speed_scale = as_float(speed_scale, f"{config_key}.speed_scale", minimum=0.0, strict=True)
    turn_sigma = as_float(turn_sigma, f"{config_key}.turn_sigma", minimum=0.0)
    border_region = as_float(border_region, f"{config_key}.border_region", minimum=0.0)
    wall_slowdown = as_float(wall_slowdown, f"{config_key}.wall_slowdown", minimum=0.0, maximum=1.0)
    rng = as_rng(rng)
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
