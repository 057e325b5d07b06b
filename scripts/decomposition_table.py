"""Per study, the share of the across-layer variance of r2 explained by the theory, by its
spectrum-only and by its alignment-only prediction → results/tables/decomposition.parquet
(docs/controls.md)."""

from predictivity.aggregate.fits import fit_rows
from predictivity.core.controls.summary import decomposition_shares
from predictivity.fileio import read_parquet, save_parquet
from predictivity.scripting import log, run


def main(smk):
    layers = read_parquet(smk.input.layers)
    # the layers the fits use (input layers out by default, identical layers once), so that
    # theory_r2_variance_explained is the fits table's for subset `all`, metric r2
    rows = fit_rows(layers, include_inputs=smk.params.options["include_input_layers"])
    table = decomposition_shares(rows) if len(rows) else decomposition_shares(layers.iloc[:0])
    for row in table.itertuples():
        log.info(
            "%s: variance of r2 explained by the theory %.3f, spectrum only %.3f, "
            "alignment only %.3f",
            row.scope,
            row.theory_r2_variance_explained,
            row.spectrum_only_variance_explained,
            row.alignment_only_variance_explained,
        )
    save_parquet(table, smk.output[0])


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
