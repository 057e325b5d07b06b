"""Stage 6: spectral-theory and empirical learning curves → results/theory/{study}/{model}.parquet."""

import pandas as pd

from predictivity.core.ridge import training_size
from predictivity.core.theory import model_theory
from predictivity.fileio import load_npz, save_parquet
from predictivity.scripting import log, run


def main(smk):
    opts = smk.params.options
    rec = load_npz(smk.input.recordings, "recordings")
    layers = load_npz(smk.input.activations, "activations")
    reg = pd.read_parquet(smk.input.regression)
    Y = rec["mean"]
    p_train = training_size(Y.shape[0], smk.params.folds)
    alpha_median = reg.groupby("layer", sort=False)["alpha"].median().to_dict()
    df = model_theory(
        layers,
        Y,
        alpha_median,
        p_train,
        n_p=opts["n_p"],
        p_min=opts["p_min"],
        p_max_fraction=opts["p_max_fraction"],
        n_subsets=opts["n_subsets"],
        seed=opts["seed"],
    )
    for row in df[df["at_p_train"]].itertuples():
        log.info(
            "layer %s: p=%d, lambda_reg %.3g, E_g theory %.4f vs empirical %.4f ± %.4f",
            row.layer,
            row.p,
            row.lambda_reg,
            row.eg_theory,
            row.eg_empirical,
            row.eg_empirical_sd,
        )
    save_parquet(df, smk.output[0])


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
