"""The activations of a ``mec`` study: per-layer rate maps of a path integrator over the arena
bins (each unit's mean activity per bin, along seeded random walks)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from predictivity.studies.mec.arena import bin_index
from predictivity.studies.mec.networks import batch_tensors, targets
from predictivity.studies.mec.validate import as_float, as_int
from predictivity.studies.mec.walks import random_walks
from predictivity.studies.torch_utils import import_torch, inference

log = logging.getLogger(__name__)


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
    model : from :func:`~predictivity.studies.mec.networks.build_rnn` (trained or not).
    box_width : arena of the walks and bins; default = the model's ``box_width``.
    n_bins : bins per side (≥ 2); rows follow :func:`~predictivity.studies.mec.arena.arena_bins`
        order.
    n_trajectories, n_steps, seed : the walks.
    threads : ``torch.set_num_threads`` for the call (restored afterwards).
    trajectory_options : keyword arguments of ``random_walks`` (a study's ``trajectories``
        options).
    batch_size : walks per forward pass (memory only; results do not depend on it).
    config_key : dotted config prefix named in errors.

    Returns
    -------
    dict layer name → float32 array (n_bins², units), ordered as above.
    """
    torch = import_torch()
    n_bins = as_int(n_bins, "studies.mec.stimuli.n_bins", minimum=2)
    box = model.config["box_width"] if box_width is None else box_width
    box = as_float(box, "studies.mec.stimuli.box_width", minimum=0.0, strict=True)
    n_trajectories = as_int(n_trajectories, f"{config_key}.n_trajectories", minimum=1)
    n_steps = as_int(n_steps, f"{config_key}.n_steps", minimum=1)
    seed = as_int(seed, f"{config_key}.seed", minimum=0)
    batch_size = as_int(batch_size, f"{config_key}.batch_size", minimum=1)
    walks = random_walks(
        n_trajectories, n_steps, box, np.random.default_rng(seed), **(trajectory_options or {})
    )
    nb = n_bins * n_bins
    bins = torch.as_tensor(bin_index(walks["positions"][:, 1:], box, n_bins).reshape(-1))
    counts = torch.bincount(bins, minlength=nb).to(torch.float64)
    sums: dict[str, Any] = {}
    with inference(model, threads or None):
        for start in range(0, n_trajectories, batch_size):
            sl = slice(start, start + batch_size)
            part = {k: v[sl] for k, v in walks.items()}
            pos, disp, init_pc = batch_tensors(model, part)
            states = {
                "encoder": model.encoder(targets(model, pos[:, 1:]) * model.config["n_place_cells"])
            }
            states.update(model.states(disp, init_pc))
            idx = bins[start * n_steps : (start + pos.shape[0]) * n_steps]
            for name in model.layer_names:
                a = states[name].reshape(-1, states[name].shape[-1]).to(torch.float64)
                if name not in sums:
                    sums[name] = torch.zeros(nb, a.shape[1], dtype=torch.float64)
                sums[name].index_add_(0, idx, a)
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
