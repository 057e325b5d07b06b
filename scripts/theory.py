"""Stage 6: spectral-theory and empirical learning curves → results/theory/{study}/{model}.parquet.

The population of the theory is the training stimuli of each outer fold of the regression (the
same folds: same seed and stimulus groups), see ``docs/design.md#theory``.
"""

from predictivity.core.basis import StoredBases
from predictivity.core.ridge import make_folds, training_size
from predictivity.core.theory import model_theory
from predictivity.fileio import (
    load_npz,
    open_npz,
    read_parquet,
    read_stimuli,
    save_parquet,
    stimulus_groups,
)
from predictivity.scripting import log, run


def main(smk):
    opts = smk.params.options
    reg_opts = smk.params.regression
    rec = load_npz(smk.input.recordings, "recordings")
    layers = load_npz(smk.input.activations, "activations")
    reg = read_parquet(smk.input.regression)
    groups = stimulus_groups(read_stimuli(smk.input.stimuli))
    Y = rec["mean"]
    folds = make_folds(Y.shape[0], reg_opts["folds"], reg_opts["seed"], groups)
    p_train = training_size(Y.shape[0], reg_opts["folds"])
    alpha_median = reg.groupby("layer", sort=False)["alpha"].median().to_dict()
    with open_npz(smk.input.eigen) as arrays:
        df = model_theory(
            layers,
            Y,
            alpha_median,
            p_train,
            folds,
            n_p=opts["n_p"],
            p_min=opts["p_min"],
            p_max_fraction=opts["p_max_fraction"],
            n_subsets=opts["n_subsets"],
            seed=opts["seed"],
            groups=groups,
            bases=StoredBases(arrays, smk.input.eigen, folds),
        )
    for row in df[df["at_p_train"]].itertuples():
        log.info(
            "layer %s: p=%d of %d training stimuli per fold, lambda_reg %.3g, "
            "E_g theory %.4f vs empirical %.4f ± %.4f",
            row.layer,
            row.p,
            row.n_population,
            row.lambda_reg,
            row.eg_theory,
            row.eg_empirical,
            row.eg_empirical_sd,
        )
    save_parquet(df, smk.output[0])


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
