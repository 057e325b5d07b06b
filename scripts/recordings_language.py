"""Stage 2 (language): simulated voxels for the sentences → results/recordings/{study}.npz."""
from predictivity.language import simulate_language_voxels
from predictivity.recordings import prepare_recordings
from predictivity.scripting import read_stimuli, run, save_npz


def main(smk):
    stimuli = read_stimuli(smk.input.stimuli)
    key = f"studies.{smk.wildcards.study}.simulate"
    responses, voxels = simulate_language_voxels(stimuli, **smk.params.simulate, source=key)
    save_npz(smk.output[0], prepare_recordings(responses, key, voxels["target_name"].tolist()))


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
