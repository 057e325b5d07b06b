"""Stage 8: per-study and pooled fits of layer score on log PR → results/tables/fits.parquet (+ CSV, HTML)."""

import pandas as pd

from predictivity.aggregate.fits import fits_table
from predictivity.fileio import save_parquet
from predictivity.scripting import log, run


def main(smk):
    layers = pd.concat(
        [pd.read_parquet(smk.input.layers)] + [pd.read_parquet(p) for p in smk.input.table_studies],
        ignore_index=True,
    )
    fits = fits_table(layers, n_boot=smk.params.options["n_boot"], seed=smk.params.options["seed"])
    for row in fits.itertuples():
        log.info(
            "%s %s: slope %.4f [%.4f, %.4f], r %.3f, n %s",
            row.scope,
            row.metric,
            row.slope,
            row.slope_ci_low,
            row.slope_ci_high,
            row.pearson_r,
            row.n,
        )
    save_parquet(fits, smk.output.parquet)
    fits.to_csv(smk.output.csv, index=False)
    fits.to_html(smk.output.html, index=False, float_format=lambda v: f"{v:.4g}")


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
