"""The grid-cell criteria of every mec model and recording, one row per layer →
results/tables/mec_criteria.parquet (docs/mec_criteria.md)."""

import pandas as pd

from predictivity.aggregate.mec_criteria import mec_criteria_summary
from predictivity.fileio import save_parquet
from predictivity.scripting import log, run


def _concat(paths, entries):
    frames = []
    for path, entry in zip(paths, entries):
        df = pd.read_parquet(path)
        df.insert(0, "study", entry["study"])
        df.insert(1, "model", entry["model"])
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def main(smk):
    entries = smk.params.entries
    units = _concat(smk.input.units, entries)
    topology = _concat(smk.input.topology, entries)
    summary = mec_criteria_summary(units, topology)
    for row in summary.itertuples():
        log.info(
            "%s/%s/%s: %d of %d scored units grid, %d module(s), torus %s",
            row.study,
            row.model,
            row.layer,
            row.n_grid,
            row.n_scored,
            row.n_modules,
            row.torus,
        )
    save_parquet(summary, smk.output[0])


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
