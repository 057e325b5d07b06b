"""Stage 2 (language): simulated voxels, or real recordings (`dataset`), for the sentences → results/recordings/{study}.npz."""

from predictivity.fileio import read_stimuli, save_npz
from predictivity.scripting import run
from predictivity.studies.language.simulate import simulate_language_voxels
from predictivity.studies.recordings import dataset_recordings, prepare_recordings


def main(smk):
    stimuli = read_stimuli(smk.input.stimuli)
    study = smk.wildcards.study
    if smk.params.dataset:
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
