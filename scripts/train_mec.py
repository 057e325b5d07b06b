"""Stage 3 (mec): train one RNN path integrator (or keep its untrained twin) → .pt + history."""

import time
from pathlib import Path

import torch

from predictivity.fileio import save_tsv
from predictivity.scripting import log, run
from predictivity.studies.mec.networks import build_rnn
from predictivity.studies.mec.training import train_path_integrator


def main(smk):
    key = f"studies.{smk.wildcards.study}.models.{smk.wildcards.model}"
    network = dict(smk.params.network)
    model = build_rnn(**network, box_width=smk.params.box_width, config_key=key)
    t0 = time.perf_counter()
    # the network's seed also seeds its training walks (the study's training.seed is not used)
    training = {**smk.params.training, "seed": network["seed"]}
    model, history = train_path_integrator(
        model,
        **training,
        threads=smk.threads,
        trajectory_options=dict(smk.params.trajectories),
        config_key=f"{key}.training",
        trajectories_key=f"studies.{smk.wildcards.study}.trajectories",
    )
    last = history.iloc[-1]
    log.info(
        "%s: %d steps in %.1f s; decoding error %.1f cm (step 0: %.1f cm)",
        smk.wildcards.model,
        int(last["step"]),
        time.perf_counter() - t0,
        last["decoding_error_cm"],
        history.iloc[0]["decoding_error_cm"],
    )
    Path(smk.output.model).parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), smk.output.model)
    save_tsv(history, smk.output.history)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
