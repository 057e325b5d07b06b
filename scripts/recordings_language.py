"""Stage 2 (language): simulated voxels, real recordings (`dataset`) or your own responses (`recordings`), for the sentences → results/recordings/{study}.npz."""

from predictivity.fileio import load_npy, read_lines, read_stimuli, save_npz
from predictivity.scripting import run
from predictivity.studies.language.simulate import simulate_language_voxels
from predictivity.studies.recordings import (
    check_one_source,
    dataset_recordings,
    own_recordings,
    prepare_recordings,
)


def main(smk):
    stimuli = read_stimuli(smk.input.stimuli)
    study = smk.wildcards.study
    own = smk.params.own
    check_one_source(smk.params.dataset, own, f"studies.{study}")
    if own:
        # a sentence is named by its stimulus id (s0001 …) or its line number in the file
        lines = stimuli["line"] if "line" in stimuli.columns else []
        arrays, _ = own_recordings(
            load_npy(own["path"], "responses"),
            read_lines(own["stimulus_ids"]),
            stimuli["stimulus_id"],
            own["path"],
            own["stimulus_ids"],
            aliases=dict(zip(lines, stimuli["stimulus_id"])),
        )
    elif smk.params.dataset:
        arrays, _ = dataset_recordings(
            smk.params.dataset, stimuli["stimulus_id"], f"studies.{study}.dataset"
        )
    else:
        key = f"studies.{study}.simulate"
        responses, voxels = simulate_language_voxels(stimuli, **smk.params.simulate, source=key)
        arrays = prepare_recordings(responses, key, voxels["target_name"].tolist())
    save_npz(smk.output[0], arrays)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
