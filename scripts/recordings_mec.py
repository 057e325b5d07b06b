"""Stage 2 (mec): simulated MEC cells (Poisson counts per bin and session) → results/recordings/{study}.npz."""
from predictivity.mec import simulate_mec
from predictivity.recordings import prepare_recordings
from predictivity.scripting import read_stimuli, run, save_npz, save_tsv


def main(smk):
    stimuli = read_stimuli(smk.input.stimuli)
    xy = stimuli[["x", "y"]].astype(float).to_numpy()
    key = f"studies.{smk.wildcards.study}.recordings"
    counts, cells = simulate_mec(xy, **smk.params.options, box_width=smk.params.box_width, config_key=key)
    save_npz(smk.output.recordings, prepare_recordings(counts, key, cells["target_name"].tolist()))
    save_tsv(cells, smk.output.cells)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
