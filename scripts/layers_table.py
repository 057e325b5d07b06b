"""Stage 7: join regression, spectra, theory, metrics and controls of every model (and the
grid-cell criteria of MEC layers) → results/tables/layers.parquet."""

from predictivity.aggregate.tables import (
    control_layer_columns,
    join_layer_columns,
    layers_table,
    mec_layer_criteria,
    metric_scores,
    model_layers,
)
from predictivity.fileio import load_npz, read_model_tables, read_parquet, save_parquet
from predictivity.scripting import log, run


def main(smk):
    parts = []
    rec_by_study = {}
    for path in smk.input.recordings:
        study = path.split("/")[-1][: -len(".npz")]
        rec_by_study[study] = int(load_npz(path, "recordings")["n_targets_dropped"])
    for entry, reg, spec, theory in zip(
        smk.params.entries, smk.input.regression, smk.input.spectra, smk.input.theory
    ):
        parts.append(
            model_layers(
                entry["study"],
                entry["model"],
                read_parquet(reg),
                read_parquet(spec),
                read_parquet(theory),
                trained=entry["trained"],
                n_targets_dropped=rec_by_study[entry["study"]],
                input_layers=entry["input_layers"],
                input_layers_key=f"studies.{entry['study']}.input_layers.{entry['model']}",
            )
        )
    table = layers_table(parts)
    if len(table):
        metrics = read_model_tables(smk.input.metrics, smk.params.entries)
        if len(metrics):
            table = join_layer_columns(table, metric_scores(metrics), "results/metrics")
        controls = read_model_tables(smk.input.controls, smk.params.entries)
        profiles = read_model_tables(smk.input.profiles, smk.params.entries)
        for extra in control_layer_columns(controls, profiles):
            table = join_layer_columns(table, extra, "results/controls")
        for path in smk.input.mec_criteria:
            table = join_layer_columns(table, mec_layer_criteria(read_parquet(path)), path)
    log.info("%d layers from %d studies", len(table), table["study"].nunique())
    if len(table):
        for row in table[table["is_input"]].itertuples():
            log.info("input layer (left out of the fits by default): %s/%s", row.model, row.layer)
        for row in table[table["duplicate_of"].notna()].itertuples():
            log.info(
                "identical to %s (counted once in the fits): %s/%s",
                row.duplicate_of,
                row.model,
                row.layer,
            )
    save_parquet(table, smk.output[0])


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
