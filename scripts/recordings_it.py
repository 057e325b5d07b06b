"""Stage 2 (it): simulated IT sites for the images → results/recordings/{study}.npz."""
import numpy as np

from predictivity.it import simulate_it
from predictivity.recordings import prepare_recordings
from predictivity.scripting import run, save_npz, save_tsv


def main(smk):
    images = np.load(smk.input.images, allow_pickle=False)
    key = f"studies.{smk.wildcards.study}.simulate"
    responses, sites = simulate_it(images, **smk.params.options, source=key)
    save_npz(smk.output.recordings, prepare_recordings(responses, key, sites["target_name"].tolist()))
    save_tsv(sites, smk.output.sites)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
