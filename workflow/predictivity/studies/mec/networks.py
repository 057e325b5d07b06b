"""The candidate networks of a ``mec`` study: RNN path integrators (Sorscher et al. 2019).

Velocity in, place-cell code out: a vanilla RNN (ReLU or tanh), GRU or LSTM whose initial state
is encoded from the place-cell vector of the start position. torch is imported on first use, so
importing this module does not import it.
"""

from __future__ import annotations

import functools

import numpy as np

from predictivity.errors import InputError
from predictivity.studies.mec.place_cells import place_cell_targets, place_cells
from predictivity.studies.mec.validate import as_choice, as_float, as_int
from predictivity.studies.torch_utils import import_torch, seeded_init

CELL_TYPES = ("rnn", "gru", "lstm")
ACTIVATIONS = ("relu", "tanh")


@functools.cache
def _path_rnn_class():
    """The network class, built on first use so that importing this module does not import
    torch (the stimuli and recordings rules do not need it); also ``networks.PathIntegratorRNN``."""
    torch = import_torch()
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
        default 10; the initial place-cell vector enters ×Np.
    config_key : dotted config prefix named in errors.

    Returns
    -------
    ``torch.nn.Module`` with ``forward(displacements, init_place_cells) -> (logits, hidden)``,
    ``states(...)``, ``layer_names``, ``config`` and the buffer ``centres`` (Np, 2).
    """
    cell = as_choice(cell, f"{config_key}.cell", CELL_TYPES)
    if activation is None:
        activation = "relu" if cell == "rnn" else "tanh"
    activation = as_choice(activation, f"{config_key}.activation", ACTIVATIONS)
    if cell != "rnn" and activation != "tanh":
        raise InputError(
            f"{config_key}.activation",
            f"{cell.upper()} units have a fixed tanh nonlinearity; "
            f"{activation!r} cannot be applied.",
            "omit activation (or set it to tanh) for gru/lstm models, or use "
            "cell: rnn for a ReLU network.",
        )
    n_hidden = as_int(n_hidden, f"{config_key}.n_hidden", minimum=1)
    seed = as_int(seed, f"{config_key}.seed", minimum=0)
    velocity_scale = as_float(
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
    return seeded_init(_path_rnn_class(), seed, config, centres)


def targets(model, positions):
    """The place-cell distributions of ``model``'s tuning at ``positions`` (tensor (..., 2))."""
    c = model.config
    return place_cell_targets(
        positions, model.centres, c["place_cell_sigma"], c["place_cell_kind"], c["surround_scale"]
    )


def batch_tensors(model, walks):
    """Walks → float32 tensors: positions, displacements and the initial place-cell vectors."""
    torch = import_torch()
    pos = torch.as_tensor(walks["positions"], dtype=torch.float32)
    disp = torch.as_tensor(walks["displacements"], dtype=torch.float32)
    init_pc = targets(model, pos[:, 0])
    return pos, disp, init_pc


def decode_position(model, logits, k: int = 3):
    """Position estimate: mean of the centres of the k most active predicted place cells."""
    idx = logits.topk(k, dim=-1).indices
    return model.centres[idx].mean(dim=-2)
