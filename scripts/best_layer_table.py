"""Stage 7: each network's score with its layer chosen on inner folds, beside the test-selected
best layer → results/tables/best_layer.parquet (docs/design.md#best-layer)."""

from predictivity.aggregate.best_layer import best_layer_table
from predictivity.fileio import read_parquet, save_parquet
from predictivity.scripting import log, run


def main(smk):
    include_inputs = smk.params.options["include_input_layers"]
    entries = [
        {
            "study": e["study"],
            "model": e["model"],
            "trained": e["trained"],
            "folds": read_parquet(path),
            "exclude": () if include_inputs else e["input_layers"],
        }
        for e, path in zip(smk.params.entries, smk.input.folds)
    ]
    table = best_layer_table(entries)
    for row in table.itertuples():
        log.info(
            "%s/%s: inner-selected r2 %.4f (layers per fold: %s), test-selected %.4f (%s), "
            "optimism %.4f",
            row.study,
            row.model,
            row.r2,
            row.layer_per_fold,
            row.r2_test_selected,
            row.test_selected_layer,
            row.selection_optimism,
        )
    save_parquet(table, smk.output[0])


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
