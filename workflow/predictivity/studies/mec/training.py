"""Path-integration training of the ``mec`` study's networks, and their decoding error.

Every training step draws fresh random walks (:func:`~predictivity.studies.mec.walks.
random_walks`); the loss is the cross-entropy between the place-cell code of the next position
and the network's predicted code. A network trained for 0 steps is the untrained twin.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pandas as pd

from predictivity.studies.mec.networks import batch_tensors, decode_position, targets
from predictivity.studies.mec.validate import as_float, as_int
from predictivity.studies.mec.walks import random_walks
from predictivity.studies.torch_utils import import_torch, inference, torch_threads

log = logging.getLogger(__name__)


def _evaluate(model, walks) -> tuple[float, float]:
    """(cross-entropy loss, mean decoding error in cm) on a batch of walks, no gradients."""
    torch = import_torch()
    with inference(model):
        pos, disp, init_pc = batch_tensors(model, walks)
        logits, _ = model(disp, init_pc)
        y = targets(model, pos[:, 1:])
        loss = -(y * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
        err = (decode_position(model, logits) - pos[:, 1:]).norm(dim=-1).mean()
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
    model : a network from :func:`~predictivity.studies.mec.networks.build_rnn`.
    trajectories : output of :func:`~predictivity.studies.mec.walks.random_walks`; if None,
        ``n_trajectories`` walks of ``n_steps`` steps are drawn with
        ``numpy.random.default_rng(seed)`` in the model's arena with the keyword arguments
        ``trajectory_options`` of ``random_walks`` (a study's ``trajectories`` options).
    threads : if given, ``torch.set_num_threads(threads)`` for the call (restored afterwards).
    """
    if trajectories is None:
        trajectories = random_walks(
            n_trajectories,
            n_steps,
            model.config["box_width"],
            np.random.default_rng(seed),
            **(trajectory_options or {}),
        )
    with torch_threads(threads or None):
        return _evaluate(model, trajectories)[1]


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
    *,
    n_train_steps: int = 1000,
    batch_size: int = 200,
    sequence_length: int = 20,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    n_validation: int = 400,
    log_every: int = 100,
    seed: int = 0,
    threads: int | None = None,
    trajectory_options: dict | None = None,
    config_key: str = "studies.mec.training",
    trajectories_key: str = "studies.mec.trajectories",
    callback=None,
):
    """Train ``model`` in place to path-integrate; returns ``(model, history)``.

    Every step draws ``batch_size`` fresh walks of ``sequence_length`` steps
    (:func:`~predictivity.studies.mec.walks.random_walks`), feeds ``velocity_scale ·
    displacements`` and the initial place-cell vector, and minimises the cross-entropy between
    the target place-cell distributions p(x_{t+1}) and softmax(logits_t), averaged over steps and
    batch: L = −mean Σ_i p_i log softmax(logits)_i  [+ weight_decay · Σ W_hh²]. Adam (β
    0.9/0.999).

    Parameters
    ----------
    model : from :func:`~predictivity.studies.mec.networks.build_rnn`; its ``config`` gives the
        arena and place-cell tuning.
    n_train_steps : Adam steps; 0 = the untrained twin (the model is returned unchanged).
    batch_size, sequence_length : walks per step and steps per walk.
    learning_rate : Adam's learning rate.
    weight_decay : coefficient of Σ W_hh² (the recurrent weights), as in Sorscher et al.
    n_validation : trajectories in the fixed validation batch.
    log_every : a history row (and a log line) every this many steps, and at the last step.
    seed : the training walks use ``SeedSequence(seed).spawn(2)[0]``, the validation batch
        ``[1]`` — so every model trained with the same seed is validated on the same walks.
    threads : ``torch.set_num_threads(threads)`` during training (restored afterwards).
    trajectory_options : keyword arguments of ``random_walks`` (a study's ``trajectories``
        options: dt, speed_scale, turn_sigma, border_region, wall_slowdown).
    config_key, trajectories_key : dotted config prefixes named in errors.
    callback : optional ``callback(step, model, last)``, called after the step-0 record and
        after every optimiser step, with ``last`` the latest history row (a dict; its ``step``
        equals ``step`` when that step was recorded). ``model`` is in train mode; the callback
        must not change the weights, and whatever it does with its own random generators leaves
        training unchanged (the walks come from this function's generator). Used by
        :mod:`predictivity.studies.mec.curve` to score checkpoints.

    The defaults are those of the config schema's ``training`` section.

    Returns
    -------
    model : the same object, trained, in eval mode.
    history : DataFrame with one row at step 0 and one every ``log_every`` steps plus the final
        step; columns ``step``, ``loss`` (validation cross-entropy, nats), ``decoding_error_cm``
        (validation, top-3 decoding), ``train_loss`` (mean training loss since the previous row;
        NaN at step 0). Each row is also logged at INFO level, with the chance error.
    """
    torch = import_torch()
    n_steps = as_int(n_train_steps, f"{config_key}.n_train_steps", minimum=0)
    batch = as_int(batch_size, f"{config_key}.batch_size", minimum=1)
    seq = as_int(sequence_length, f"{config_key}.sequence_length", minimum=1)
    lr = as_float(learning_rate, f"{config_key}.learning_rate", minimum=0.0, strict=True)
    wd = as_float(weight_decay, f"{config_key}.weight_decay", minimum=0.0)
    n_val = as_int(n_validation, f"{config_key}.n_validation", minimum=1)
    every = as_int(log_every, f"{config_key}.log_every", minimum=1)
    seed = as_int(seed, f"{config_key}.seed", minimum=0)
    opts = dict(trajectory_options or {})
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
    rows = []
    t0 = time.perf_counter()

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

    with torch_threads(threads or None):
        record(0, [])
        if callback is not None:
            callback(0, model, dict(rows[-1]))
        if n_steps > 0:
            optimiser = torch.optim.Adam(model.parameters(), lr=lr)
            recurrent = [p for n, p in model.rnn.named_parameters() if n.startswith("weight_hh")]
            model.train()
            losses = []
            for step in range(1, n_steps + 1):
                walks = random_walks(
                    batch, seq, box, train_rng, config_key=trajectories_key, **opts
                )
                pos, disp, init_pc = batch_tensors(model, walks)
                y = targets(model, pos[:, 1:])
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
                if callback is not None:
                    callback(step, model, dict(rows[-1]))
    model.eval()
    history = pd.DataFrame(rows, columns=["step", "loss", "decoding_error_cm", "train_loss"])
    history["step"] = history["step"].astype("int64")
    return model, history
