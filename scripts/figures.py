"""Stage 9: the four figures (PNG + SVG) in results/figures/."""

import pandas as pd

from predictivity.aggregate import figures
from predictivity.scripting import log, run


def _concat(paths, entries):
    frames = []
    for path, entry in zip(paths, entries):
        df = pd.read_parquet(path)
        df.insert(0, "study", entry["study"])
        df.insert(1, "model", entry["model"])
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def main(smk):
    layers = pd.concat(
        [pd.read_parquet(smk.input.layers)] + [pd.read_parquet(p) for p in smk.input.table_studies],
        ignore_index=True,
    )
    fits = pd.read_parquet(smk.input.fits)
    made = {
        "r2_vs_log_pr": figures.r2_vs_log_pr(
            layers,
            fits,
            include_inputs=smk.params.options["include_input_layers"],
        ),
        "theory_vs_empirical": figures.theory_vs_empirical(layers),
        "learning_curves": figures.learning_curves(
            _concat(smk.input.theory, smk.params.entries), layers
        ),
        "spectra": figures.spectra(_concat(smk.input.spectra, smk.params.entries), layers),
    }
    for name, fig in made.items():
        for ext in ("png", "svg"):
            fig.savefig(smk.output[f"{name}_{ext}"], dpi=150 if ext == "png" else None)
        log.info("wrote %s", name)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
