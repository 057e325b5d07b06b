"""Write the offline demo's precomputed arrays (predictivity.studies.precomputed.simulate)."""

from pathlib import Path

import numpy as np

from predictivity.fileio import save_npz
from predictivity.scripting import run
from predictivity.studies.precomputed.simulate import simulate_precomputed


def main(smk):
    opts = dict(smk.params.options)
    responses, models, ids = simulate_precomputed(**opts)
    Path(smk.output.recordings).parent.mkdir(parents=True, exist_ok=True)
    np.save(smk.output.recordings, responses)
    Path(smk.output.stimulus_ids).write_text("\n".join(ids) + "\n")
    for path in smk.output.models:
        save_npz(path, models[Path(path).stem])


if __name__ == "__main__":
    if "snakemake" not in globals():  # run alone for debugging (README: "Debugging a stage")
        from predictivity.scripting import mock_snakemake

        snakemake = mock_snakemake("simulate_precomputed", name="demo")
    run(main, snakemake)
