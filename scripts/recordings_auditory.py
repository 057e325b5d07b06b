"""Stage 2 (auditory): simulated voxels, real recordings (`dataset`) or your own responses (`recordings`), for the sounds → results/recordings/{study}.npz."""

import numpy as np

from predictivity.fileio import load_npy, read_lines, read_stimuli, save_npz, save_tsv
from predictivity.scripting import run
from predictivity.studies.auditory.simulate import simulate_voxels
from predictivity.studies.recordings import (
    check_one_source,
    dataset_recordings,
    own_recordings,
    prepare_recordings,
)


def main(smk):
    study = smk.wildcards.study
    own = smk.params.own
    check_one_source(smk.params.dataset, own, f"studies.{study}")
    if own:
        stimuli = read_stimuli(smk.input.stimuli)
        arrays, voxels = own_recordings(
            load_npy(own["path"], "responses"),
            read_lines(own["stimulus_ids"]),
            stimuli["stimulus_id"],
            own["path"],
            own["stimulus_ids"],
        )
    elif smk.params.dataset:
        stimuli = read_stimuli(smk.input.stimuli)
        arrays, voxels = dataset_recordings(
            smk.params.dataset, stimuli["stimulus_id"], f"studies.{study}.dataset"
        )
    else:
        sounds = np.load(smk.input.sounds, allow_pickle=False)
        key = f"studies.{study}.simulate"
        responses, voxels = simulate_voxels(
            sounds, smk.params.sample_rate, **smk.params.options, source=key
        )
        arrays = prepare_recordings(responses, key, voxels["target_name"].tolist())
    save_npz(smk.output.recordings, arrays)
    save_tsv(voxels, smk.output.voxels)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
