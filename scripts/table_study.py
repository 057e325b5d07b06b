"""Stage 8 (table kind): read a published per-layer table → results/tables/studies/{study}.parquet."""

from pathlib import Path

import pandas as pd

from predictivity.aggregate.table_study import standardise_table
from predictivity.errors import InputError
from predictivity.fileio import save_parquet
from predictivity.scripting import log, run


def main(smk):
    path = smk.input[0]
    study = smk.wildcards.study
    try:
        raw = pd.read_parquet(path) if Path(path).suffix == ".parquet" else pd.read_csv(path)
    except Exception as e:  # noqa: BLE001
        raise InputError(
            path,
            f"cannot read the table ({type(e).__name__}: {e}).",
            "Give a CSV (comma-separated, header row) or a Parquet file.",
        ) from None
    table = standardise_table(raw, study, dict(smk.params.columns), smk.params.filter, source=path)
    log.info("%d layers of %d models", len(table), table["model"].nunique())
    save_parquet(table, smk.output[0])


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
