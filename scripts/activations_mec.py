"""Stage 3 (mec): rate maps of a (trained or untrained) path integrator over the arena bins."""

import torch

from predictivity.checks import check_layer
from predictivity.fileio import read_stimuli, save_npz
from predictivity.scripting import log, run
from predictivity.studies.mec.networks import build_rnn
from predictivity.studies.mec.ratemaps import rate_maps


def main(smk):
    key = f"studies.{smk.wildcards.study}.models.{smk.wildcards.model}"
    stim_opts = smk.params.stimuli
    model = build_rnn(**dict(smk.params.network), box_width=stim_opts["box_width"], config_key=key)
    model.load_state_dict(torch.load(smk.input.model, weights_only=True))
    model.eval()
    layers = rate_maps(
        model,
        box_width=stim_opts["box_width"],
        n_bins=stim_opts["n_bins"],
        threads=smk.threads,
        trajectory_options=dict(smk.params.trajectories),
        **smk.params.rate_maps,
        config_key=f"studies.{smk.wildcards.study}.rate_maps",
    )
    n = len(read_stimuli(smk.input.stimuli))
    out = {name: check_layer(name, A, n, key) for name, A in layers.items()}
    for name, A in out.items():
        log.info("layer %s: %d bins × %d units", name, *A.shape)
    save_npz(smk.output[0], out)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
