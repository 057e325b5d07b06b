"""Stage 2 (story): the dataset's responses, aligned to the TR stimuli → results/recordings/{study}.npz."""

from predictivity.fileio import read_stimuli, save_npz
from predictivity.scripting import run
from predictivity.studies.recordings import dataset_recordings


def main(smk):
    stimuli = read_stimuli(smk.input.stimuli)
    arrays, _ = dataset_recordings(
        smk.params.dataset, stimuli["stimulus_id"], f"studies.{smk.wildcards.study}.dataset"
    )
    save_npz(smk.output[0], arrays)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
