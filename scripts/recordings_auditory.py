"""Stage 2 (auditory): simulated voxels for the sounds → results/recordings/{study}.npz."""
import numpy as np

from predictivity.auditory import simulate_voxels
from predictivity.recordings import prepare_recordings
from predictivity.scripting import run, save_npz, save_tsv


def main(smk):
    sounds = np.load(smk.input.sounds, allow_pickle=False)
    key = f"studies.{smk.wildcards.study}.simulate"
    responses, voxels = simulate_voxels(sounds, smk.params.sample_rate, **smk.params.options, source=key)
    save_npz(smk.output.recordings, prepare_recordings(responses, key, voxels["target_name"].tolist()))
    save_tsv(voxels, smk.output.voxels)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
