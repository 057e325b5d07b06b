"""Stage 8: per-study, per-subset and pooled fits of layer score on log PR →
results/tables/fits.parquet (+ CSV, HTML)."""

import pandas as pd

from predictivity.aggregate.fits import fits_table
from predictivity.fileio import atomic_write, read_parquet, save_parquet
from predictivity.scripting import log, run


def main(smk):
    layers = pd.concat(
        [read_parquet(smk.input.layers)] + [read_parquet(p) for p in smk.input.table_studies],
        ignore_index=True,
    )
    opts = smk.params.options
    fits = fits_table(
        layers,
        n_boot=opts["n_boot"],
        seed=opts["seed"],
        n_perm=opts["n_perm"],
        include_inputs=opts["include_input_layers"],
        presets=opts["presets"],
    )
    main_rows = fits[
        (fits["subset"] == "all") & ((fits["pr_convention"] == "pr") | (fits["preset"] != ""))
    ]
    for row in main_rows.itertuples():
        log.info(
            "%s %s%s: slope %.4f [%.4f, %.4f] (%s%s), r %.3f, n %s layers, %s networks%s",
            row.scope,
            row.metric,
            f" (preset {row.preset}, {row.pr_convention})" if row.preset else "",
            row.slope,
            row.slope_ci_low,
            row.slope_ci_high,
            row.inference,
            f": {row.inference_note}" if row.inference_note else "",
            row.pearson_r,
            row.n,
            row.n_models,
            (f", equal slopes p {row.equal_slopes_p:.4f}" if row.scope == "pooled" else "")
            + (" (few networks)" if row.few_networks else ""),
        )
    log.info("%d fits (scope × subset × PR convention × metric, and presets)", len(fits))
    save_parquet(fits, smk.output.parquet)
    with atomic_write(smk.output.csv, "w", encoding="utf-8", newline="") as f:
        fits.to_csv(f, index=False)
    with atomic_write(smk.output.html, "w", encoding="utf-8") as f:
        fits.to_html(f, index=False, float_format=lambda v: f"{v:.4g}")


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
