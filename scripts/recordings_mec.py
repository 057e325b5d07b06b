"""Stage 2 (mec): simulated MEC cells, or real rate maps (`dataset`), on the arena bins → results/recordings/{study}.npz."""

from predictivity.fileio import read_stimuli, save_npz, save_tsv
from predictivity.scripting import run
from predictivity.studies.mec.simulate import simulate_mec
from predictivity.studies.recordings import dataset_recordings, prepare_recordings


def main(smk):
    stimuli = read_stimuli(smk.input.stimuli)
    study = smk.wildcards.study
    if smk.params.dataset:
        arrays, cells = dataset_recordings(
            smk.params.dataset,
            stimuli["stimulus_id"],
            f"studies.{study}.dataset",
            defaults={"box_width": smk.params.box_width, "n_bins": smk.params.n_bins},
        )
    else:
        xy = stimuli[["x", "y"]].astype(float).to_numpy()
        key = f"studies.{study}.recordings"
        counts, cells = simulate_mec(
            xy, **smk.params.options, box_width=smk.params.box_width, config_key=key
        )
        arrays = prepare_recordings(counts, key, cells["target_name"].tolist())
    save_npz(smk.output.recordings, arrays)
    save_tsv(cells, smk.output.cells)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
