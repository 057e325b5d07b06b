"""Per study, Kendall τ between the layer rankings of ridge r2, the similarity measures and
ln PR, and each measure's line against ln PR → results/tables/metric_agreement.parquet."""

from predictivity.aggregate.metric_agreement import metric_agreement
from predictivity.fileio import read_parquet, save_parquet
from predictivity.scripting import log, run


def main(smk):
    layers = read_parquet(smk.input.layers)
    opts = smk.params.options
    table = metric_agreement(
        layers,
        list(smk.params.metrics),
        n_boot=opts["n_boot"],
        seed=opts["seed"],
        include_inputs=opts["include_input_layers"],
    )
    for row in table.itertuples():
        log.info(
            "%s %s vs %s: tau %.3f (bootstrap over models %.3f to %.3f), %d layers, %d models",
            row.study,
            row.metric_a,
            row.metric_b,
            row.tau,
            row.tau_boot_low,
            row.tau_boot_high,
            row.n_layers,
            row.n_models,
        )
    save_parquet(table, smk.output[0])


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
