"""Stage 1 (precomputed): stimulus ids (and optional CV groups) → results/stimuli/{study}.tsv."""

import numpy as np
import pandas as pd

from predictivity.checks import check_groups, check_n_stimuli, check_stimulus_ids
from predictivity.errors import InputError
from predictivity.fileio import read_lines, save_tsv
from predictivity.scripting import log, run


def main(smk):
    rec_path = smk.input.recordings
    try:
        shape = np.load(rec_path, mmap_mode="r", allow_pickle=False).shape
    except FileNotFoundError:
        raise InputError(
            rec_path, "recordings file does not exist.", "Check `studies.<study>.recordings`."
        ) from None
    except Exception as e:  # noqa: BLE001
        raise InputError(
            rec_path,
            f"cannot read recordings as a NumPy .npy file ({type(e).__name__}: {e}).",
            "Save a float array with numpy.save.",
        ) from None
    if len(shape) not in (2, 3):
        raise InputError(
            rec_path,
            f"recordings have shape {shape}, expected stimuli × targets [× repetitions].",
            "Reshape the array to 2 or 3 dimensions.",
        )
    P = shape[0]
    check_n_stimuli(P, smk.params.folds, rec_path)
    if smk.input.stimulus_ids:
        ids = check_stimulus_ids(
            read_lines(smk.input.stimulus_ids[0]), P, smk.input.stimulus_ids[0]
        )
    else:
        ids = [str(i) for i in range(P)]
    table = pd.DataFrame({"stimulus_id": ids})
    if smk.input.stimulus_groups:
        path = smk.input.stimulus_groups[0]
        groups = [g.strip() for g in read_lines(path, "stimulus groups")]
        if len(groups) != P or any(not g for g in groups):
            raise InputError(
                path,
                f"{len(groups)} group labels (some may be empty) for {P} stimuli.",
                "Write one non-empty group label per line, in the row order of the recordings.",
            )
        table["group"] = groups
        check_groups(table, smk.params.folds, path)
    log.info("%d stimuli", P)
    save_tsv(table, smk.output[0])


if __name__ == "__main__":
    if "snakemake" not in globals():  # run alone for debugging (README: "Debugging a stage")
        from predictivity.scripting import mock_snakemake

        snakemake = mock_snakemake("stimuli_precomputed", study="demo")
    run(main, snakemake)
