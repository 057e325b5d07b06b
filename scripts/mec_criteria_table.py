"""The grid-cell criteria of every mec model and recording, one row per layer →
results/tables/mec_criteria.parquet (docs/mec_criteria.md)."""

from predictivity.aggregate.mec_criteria import mec_criteria_summary
from predictivity.fileio import read_model_tables, save_parquet
from predictivity.scripting import log, run


def main(smk):
    entries = smk.params.entries
    units = read_model_tables(smk.input.units, entries)
    topology = read_model_tables(smk.input.topology, entries)
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
