"""Grid criteria along training: does gridness rise as a path integrator learns?

``python -m predictivity.studies.mec.curve`` trains ONE model of a ``mec`` study exactly as the
pipeline's ``train_mec`` stage does (:func:`~predictivity.studies.mec.networks.build_rnn`,
:func:`~predictivity.studies.mec.training.train_path_integrator`, the network's seed seeding
its walks) and, at checkpoint steps, computes what the ``activations_mec`` and ``mec_criteria``
stages would compute from a model saved at that step: the rate maps
(:func:`~predictivity.studies.mec.ratemaps.rate_maps`, the study's ``rate_maps`` options), the
grid criteria of every unit (:func:`~predictivity.studies.mec.criteria.unit_criteria`, the
study's ``criteria`` options: shuffle threshold, modules, torus test) and their per-layer summary
(:func:`~predictivity.aggregate.mec_criteria.mec_criteria_summary`). Nothing is
re-implemented: the checkpoint at step s has the criteria of the model the pipeline would train
with ``n_train_steps: s``, except that Adam's state and the walk generator continue instead of
restarting (one run, not one run per checkpoint).

Output: one row per checkpoint × layer (:data:`CURVE_COLUMNS`), written to a parquet file —
rewritten (atomically) after every checkpoint, so a long run stopped early leaves the
checkpoints it reached — and a log line per checkpoint. CPU seconds are the process's CPU time (``time.process_time``) spent
training up to the checkpoint, the criteria's own cost excluded (``criteria_cpu_seconds``).
Deterministic for a given config and thread count (every random draw is seeded).

Example (docs/mec_criteria.md#training-curve)::

    OMP_NUM_THREADS=1 nice -n 15 python -m predictivity.studies.mec.curve \\
        --config config/mec_grid.yaml --study mec_grid --model rnn_relu \\
        --network n_hidden=256 --network n_place_cells=256 --steps 16000 \\
        --out resources/mec_curve_rnn_relu.parquet

:func:`criteria_curve` is pure (options in, DataFrame out); :func:`main` does the I/O.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import numpy as np
import pandas as pd

from predictivity.aggregate.mec_criteria import mec_criteria_summary
from predictivity.errors import InputError
from predictivity.studies.mec.arena import arena_bins
from predictivity.studies.mec.criteria import unit_criteria
from predictivity.studies.mec.networks import build_rnn
from predictivity.studies.mec.ratemaps import rate_maps
from predictivity.studies.mec.training import train_path_integrator
from predictivity.studies.mec.validate import as_int

log = logging.getLogger(__name__)

#: Columns of the curve table, in order (the criteria columns are those of
#: :data:`~predictivity.aggregate.mec_criteria.SUMMARY_COLUMNS`).
CURVE_COLUMNS = [
    "step",
    "cpu_seconds",
    "criteria_cpu_seconds",
    "loss",
    "decoding_error_cm",
    "train_loss",
    "layer",
    "n_units",
    "n_scored",
    "n_grid",
    "fraction_grid",
    "gridness_median",
    "gridness_q75",
    "gridness_q90",
    "gridness_corrected_median",
    "gridness_threshold",
    "n_modules",
    "module_spacings",
    "period_ratios",
    "torus",
]


def checkpoint_steps(n_train_steps: int, first: int = 500) -> list[int]:
    """0, ``first``, 2·first, 4·first, … (doubling) below ``n_train_steps``, and
    ``n_train_steps`` itself: dense early, where training changes the network most."""
    n = as_int(n_train_steps, "n_train_steps", minimum=0)
    first = as_int(first, "first", minimum=1)
    steps, s = [0], first
    while s < n:
        steps.append(s)
        s *= 2
    if n > 0:
        steps.append(n)
    return steps


def checkpoint_criteria(
    model,
    stimuli: pd.DataFrame,
    box_width: float,
    n_bins: int,
    layers=("hidden",),
    trajectory_options: dict | None = None,
    rate_map_options: dict | None = None,
    criteria_options: dict | None = None,
    threads: int | None = 1,
    config_key: str = "studies.mec",
) -> pd.DataFrame:
    """The per-layer grid-criteria summary of ``model`` as it is now: rate maps → per-unit
    criteria → :func:`~predictivity.aggregate.mec_criteria.mec_criteria_summary` (one row per
    layer in ``layers``; columns ``layer`` and the summary's criteria)."""
    maps = rate_maps(
        model,
        box_width=box_width,
        n_bins=n_bins,
        threads=threads,
        trajectory_options=trajectory_options,
        **(rate_map_options or {}),
        config_key=f"{config_key}.rate_maps",
    )
    unknown = [name for name in layers if name not in maps]
    if unknown:
        raise InputError(
            "--layers",
            f"names no layer of this network: {unknown} (layers: {', '.join(maps)}).",
            f"use some of {', '.join(maps)}.",
        )
    units, topology = unit_criteria(
        {name: maps[name] for name in layers},
        stimuli,
        box_width,
        trajectory_options=trajectory_options,
        **(criteria_options or {}),
        config_key=f"{config_key}.criteria",
    )
    for table in (units, topology):
        table.insert(0, "model", "curve")
        table.insert(0, "study", "curve")
    summary = mec_criteria_summary(units, topology)
    return summary.drop(columns=["study", "model"])


def criteria_curve(
    network: dict,
    training: dict,
    checkpoints,
    *,
    stimuli_options: dict | None = None,
    trajectory_options: dict | None = None,
    rate_map_options: dict | None = None,
    criteria_options: dict | None = None,
    layers=("hidden",),
    threads: int | None = 1,
    on_checkpoint=None,
    config_key: str = "studies.mec",
) -> pd.DataFrame:
    """Train one path integrator and score its grid criteria at ``checkpoints``.

    Parameters
    ----------
    network : the model's options (``build_rnn`` keywords: cell, activation, n_hidden,
        n_place_cells, place_cell_kind, seed, …; no ``training`` key).
    training : the ``train_path_integrator`` options (the study's ``training`` section with the
        model's overrides); its ``n_train_steps`` is the last step trained. As in the pipeline,
        the network's ``seed`` seeds the training walks (``training.seed`` is ignored), and
        ``log_every`` is set to the checkpoints' greatest common divisor so that the
        validation loss and decoding error exist at every checkpoint.
    checkpoints : steps at which to score (0 = the untrained network); each ≤ n_train_steps.
    stimuli_options, trajectory_options, rate_map_options, criteria_options : the study's
        ``stimuli``, ``trajectories``, ``rate_maps`` and ``criteria`` sections.
    layers : the layers to score (default the recurrent ``hidden`` state).
    threads : torch threads for training and rate maps (default 1: the table is deterministic
        for a given thread count).
    on_checkpoint : optional function called with the table so far (same columns) after each
        checkpoint — e.g. to save partial results of a long run.

    Returns
    -------
    :data:`CURVE_COLUMNS`, one row per checkpoint × layer, sorted by step: ``cpu_seconds``
    (training CPU time up to the step, criteria excluded), ``criteria_cpu_seconds`` (that
    checkpoint's rate maps + criteria), the validation ``loss``, ``decoding_error_cm`` and
    ``train_loss`` of the training history at that step, and the layer's criteria.
    """
    stim = dict(stimuli_options or {})
    box_width = stim.get("box_width", 2.2)
    stimuli = arena_bins(**stim, config_key=f"{config_key}.stimuli")
    n_bins = int(stimuli["ix"].max()) + 1
    model = build_rnn(**network, box_width=box_width, config_key=f"{config_key}.model")
    opts = {k: v for k, v in training.items() if k != "seed"}
    n_steps = as_int(opts.get("n_train_steps", 1000), f"{config_key}.training.n_train_steps")
    try:
        steps = sorted({int(s) for s in checkpoints})
    except (TypeError, ValueError):
        raise InputError(
            "--checkpoints", f"{checkpoints!r} are not whole numbers.", "give steps like 0,500."
        ) from None
    if not steps or steps[0] < 0 or steps[-1] > n_steps:
        raise InputError(
            "--checkpoints",
            f"{steps} must be non-empty and within 0…{n_steps} (n_train_steps).",
            "give steps between 0 and the number of training steps, or raise --steps.",
        )
    positive = [s for s in steps if s > 0]
    opts["log_every"] = int(np.gcd.reduce(positive)) if positive else n_steps or 1
    wanted = set(steps)
    rows: list[dict] = []
    spent = {"criteria": 0.0}
    start = time.process_time()

    def score(step, current, last):
        if step not in wanted:
            return
        if last["step"] != step:  # log_every divides every checkpoint: cannot happen
            raise RuntimeError(f"no validation record at checkpoint {step}")
        t0 = time.process_time()
        summary = checkpoint_criteria(
            current,
            stimuli,
            box_width,
            n_bins,
            layers=layers,
            trajectory_options=trajectory_options,
            rate_map_options=rate_map_options,
            criteria_options=criteria_options,
            threads=threads,
            config_key=config_key,
        )
        cost = time.process_time() - t0
        train_cpu = t0 - start - spent["criteria"]
        spent["criteria"] += cost
        for rec in summary.to_dict("records"):
            rows.append(
                {
                    "step": step,
                    "cpu_seconds": train_cpu,
                    "criteria_cpu_seconds": cost,
                    **{k: last[k] for k in ("loss", "decoding_error_cm", "train_loss")},
                    **rec,
                }
            )
            log.info(
                "curve step %d: %s fraction_grid %.3f (%d/%d), gridness median %.3f q90 %.3f, "
                "%d module(s); training %.0f CPU s, criteria %.0f CPU s",
                step,
                rec["layer"],
                rec["fraction_grid"],
                rec["n_grid"],
                rec["n_scored"],
                rec["gridness_median"],
                rec["gridness_q90"],
                rec["n_modules"],
                train_cpu,
                cost,
            )
        if on_checkpoint is not None:
            on_checkpoint(_table(rows))

    train_path_integrator(
        model,
        **opts,
        seed=network.get("seed", 0),
        threads=threads,
        trajectory_options=trajectory_options,
        config_key=f"{config_key}.training",
        trajectories_key=f"{config_key}.trajectories",
        callback=score,
    )
    return _table(rows)


def _table(rows) -> pd.DataFrame:
    curve = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    curve["step"] = curve["step"].astype("int64")
    return curve.sort_values(["step", "layer"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# I/O


def _overrides(items, flag) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(
                flag, f"{item!r} is not KEY=VALUE.", f"write e.g. {flag} n_hidden=256."
            )
        import yaml

        out[key.strip()] = yaml.safe_load(value)
    return out


def study_options(config: dict, study: str, model: str, source: str = "config") -> dict:
    """The options :func:`criteria_curve` needs, from a config dict (the pipeline's lookup:
    the study's sections; the model's options with its ``training`` overriding the study's)."""
    studies = config.get("studies") or {}
    if study not in studies or studies[study].get("kind") != "mec":
        mec = [s for s, c in studies.items() if (c or {}).get("kind") == "mec"]
        raise InputError(
            f"{source}: studies.{study}",
            "is not a mec study of this config.",
            f"use one of {mec or 'none (add a kind: mec study)'}.",
        )
    c = studies[study]
    models = c.get("models") or {}
    if model not in models:
        raise InputError(
            f"{source}: studies.{study}.models.{model}",
            "no such model.",
            f"use one of {', '.join(models) or 'none'}.",
        )
    m = dict(models[model] or {})
    training = dict(c.get("training") or {})
    training.update(m.pop("training", {}) or {})
    return {
        "network": m,
        "training": training,
        "stimuli_options": dict(c.get("stimuli") or {}),
        "trajectory_options": dict(c.get("trajectories") or {}),
        "rate_map_options": dict(c.get("rate_maps") or {}),
        "criteria_options": dict(c.get("criteria") or {}),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m predictivity.studies.mec.curve", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--config", required=True, help="a workflow config (YAML)")
    parser.add_argument("--study", required=True, help="a mec study of the config")
    parser.add_argument("--model", required=True, help="one model of that study")
    parser.add_argument(
        "--network", action="append", metavar="KEY=VALUE", help="override a model option"
    )
    parser.add_argument(
        "--training", action="append", metavar="KEY=VALUE", help="override a training option"
    )
    parser.add_argument("--steps", type=int, help="n_train_steps (overrides the config)")
    parser.add_argument(
        "--checkpoints",
        help="comma-separated steps (default 0, 500, 1000, 2000, … doubling, and the last step)",
    )
    parser.add_argument("--first", type=int, default=500, help="first default checkpoint")
    parser.add_argument(
        "--layers", default="hidden", help="comma-separated layers (default hidden)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", required=True, help="output parquet")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    import yaml

    from predictivity.config import check_config, load_schema
    from predictivity.fileio import save_parquet

    try:
        with open(args.config, encoding="utf-8") as fh:
            config = yaml.safe_load(fh) or {}
        check_config(config, load_schema(), args.config)
        opts = study_options(config, args.study, args.model, args.config)
        opts["network"].update(_overrides(args.network, "--network"))
        opts["training"].update(_overrides(args.training, "--training"))
        if args.steps is not None:
            opts["training"]["n_train_steps"] = args.steps
        n_steps = int(opts["training"].get("n_train_steps", 1000))
        if args.checkpoints:
            checkpoints = [t.strip() for t in args.checkpoints.split(",") if t.strip()]
        else:
            checkpoints = checkpoint_steps(n_steps, args.first)
        layers = tuple(t.strip() for t in args.layers.split(",") if t.strip())
        log.info("curve %s/%s: %s", args.study, args.model, json.dumps(opts, sort_keys=True))
        curve = criteria_curve(
            **opts,
            checkpoints=checkpoints,
            layers=layers,
            threads=args.threads,
            on_checkpoint=lambda table: save_parquet(table, args.out),
            config_key=f"studies.{args.study}",
        )
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    save_parquet(curve, args.out)
    log.info("wrote %s (%d rows)", args.out, len(curve))
    return 0


if __name__ == "__main__":
    sys.exit(main())
