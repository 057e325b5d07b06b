"""Write the offline demo's precomputed arrays (predictivity.studies.precomputed.simulate)."""

from pathlib import Path

import numpy as np

from predictivity.fileio import atomic_write, save_npz
from predictivity.scripting import run
from predictivity.studies.precomputed.simulate import simulate_precomputed


def main(smk):
    opts = dict(smk.params.options)
    responses, models, ids = simulate_precomputed(**opts)
    with atomic_write(smk.output.recordings) as f:
        np.save(f, responses)
    with atomic_write(smk.output.stimulus_ids, "w", encoding="utf-8") as f:
        f.write("\n".join(ids) + "\n")
    for path in smk.output.models:
        save_npz(path, models[Path(path).stem])


if __name__ == "__main__":
    if "snakemake" not in globals():  # run alone for debugging (README: "Debugging a stage")
        from predictivity.scripting import mock_snakemake

        snakemake = mock_snakemake("simulate_precomputed", name="demo")
    run(main, snakemake)
