"""Stage 7: every rule's benchmark file → results/tables/benchmarks.parquet (slowest first)."""

from pathlib import Path

import pandas as pd

from predictivity.aggregate.tables import benchmarks_table
from predictivity.fileio import save_parquet
from predictivity.scripting import log, run


def main(smk):
    root = Path("benchmarks")
    records = [
        (str(p.relative_to(root)), pd.read_csv(p, sep="\t")) for p in sorted(root.rglob("*.tsv"))
    ]
    table = benchmarks_table(records)
    log.info(
        "%d benchmark files; total %.0f s of job wall time; slowest: %s",
        len(table),
        table["seconds"].sum(),
        ", ".join(
            f"{r.stage}/{r.study}/{r.model} {r.seconds:.0f} s" for r in table.head(5).itertuples()
        ),
    )
    save_parquet(table, smk.output[0])


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
