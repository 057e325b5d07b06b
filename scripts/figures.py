"""Stage 9: the figures (PNG + SVG) in results/figures/."""

import pandas as pd

from predictivity.aggregate import control_figures, figures, metric_figures
from predictivity.aggregate.fits import fit_rows
from predictivity.aggregate.mec_figures import mec_criteria_figure
from predictivity.fileio import atomic_write, read_model_tables, read_parquet
from predictivity.scripting import log, run


def main(smk):
    layers = pd.concat(
        [read_parquet(smk.input.layers)] + [read_parquet(p) for p in smk.input.table_studies],
        ignore_index=True,
    )
    fits = read_parquet(smk.input.fits)
    made = {
        "r2_vs_log_pr": figures.r2_vs_log_pr(
            layers,
            fits,
            include_inputs=smk.params.options["include_input_layers"],
        ),
        "theory_vs_empirical": figures.theory_vs_empirical(layers),
        "learning_curves": figures.learning_curves(
            read_model_tables(smk.input.theory, smk.params.entries), layers
        ),
        "spectra": figures.spectra(
            read_model_tables(smk.input.spectra, smk.params.entries), layers
        ),
    }
    agreement = read_parquet(smk.input.metric_agreement)
    made["metric_agreement"] = metric_figures.metric_agreement_figure(agreement)
    made["metrics_vs_log_pr"] = metric_figures.metrics_vs_log_pr(
        layers,
        agreement,
        list(smk.params.metrics),
        include_inputs=smk.params.options["include_input_layers"],
    )
    computed = read_parquet(smk.input.layers)
    made["reshaping"] = control_figures.reshaping(
        computed, read_model_tables(smk.input.controls, smk.params.entries)
    )
    # the layers the fits use, as in results/tables/decomposition.parquet
    made["decomposition"] = control_figures.decomposition(
        fit_rows(computed, include_inputs=smk.params.options["include_input_layers"])
    )
    if smk.input.mec_criteria:
        made["mec_criteria"] = mec_criteria_figure(layers, read_parquet(smk.input.mec_criteria[0]))
    else:
        made["mec_criteria"] = figures._empty("no mec study: no grid-cell criteria to compare")
    for name, fig in made.items():
        for ext in ("png", "svg"):
            with atomic_write(smk.output[f"{name}_{ext}"]) as f:
                fig.savefig(f, format=ext, dpi=150 if ext == "png" else None)
        log.info("wrote %s", name)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
