"""Stage 2 (precomputed): validate recordings, drop constant targets, noise ceiling → results/recordings/{study}.npz."""

from predictivity.errors import InputError
from predictivity.fileio import load_npy, read_lines, read_stimuli, save_npz
from predictivity.scripting import run
from predictivity.studies.recordings import prepare_recordings


def main(smk):
    path = smk.input.recordings
    Y = load_npy(path, "recordings")
    n_stimuli = len(read_stimuli(smk.input.stimuli))
    if Y.ndim >= 1 and Y.shape[0] != n_stimuli:
        raise InputError(
            path,
            f"{Y.shape[0]} stimuli (rows) but the stimulus table has {n_stimuli}.",
            "Recordings and stimulus ids must list the same stimuli.",
        )
    names = None
    if smk.input.target_names:
        names = [n.strip() for n in read_lines(smk.input.target_names[0], "target names")]
    source = (
        smk.input.target_names[0]
        if names is not None and Y.ndim >= 2 and len(names) != Y.shape[1]
        else path
    )
    save_npz(smk.output[0], prepare_recordings(Y, source, names))


if __name__ == "__main__":
    if "snakemake" not in globals():  # run alone for debugging (README: "Debugging a stage")
        from predictivity.scripting import mock_snakemake

        snakemake = mock_snakemake("recordings_precomputed", study="demo")
    run(main, snakemake)
