"""Stage 5: cross-validated ridge per layer × target → results/regression/{study}/{model}.parquet,
and per layer × outer fold × target → {model}.folds.parquet."""

import numpy as np

from predictivity.core.basis import StoredBases
from predictivity.core.ridge import make_folds, score_layers
from predictivity.fileio import load_npz, open_npz, read_stimuli, save_parquet, stimulus_groups
from predictivity.scripting import log, run


def main(smk):
    opts = smk.params.options
    rec = load_npz(smk.input.recordings, "recordings")
    layers = load_npz(smk.input.activations, "activations")
    stimuli = read_stimuli(smk.input.stimuli)
    Y = rec["mean"]
    groups = stimulus_groups(stimuli)
    folds = make_folds(Y.shape[0], opts["folds"], opts["seed"], groups)
    log.info(
        "%d layers, %d stimuli, %d targets, %d folds, %d alphas, alpha_scaling=%s, alpha by %s",
        len(layers),
        Y.shape[0],
        Y.shape[1],
        len(folds),
        len(opts["alphas"]),
        opts["alpha_scaling"],
        "leave-one-group-out" if groups is not None and opts["alpha_cv"] == "groups" else "LOO",
    )
    with open_npz(smk.input.eigen) as arrays:
        df, per_fold = score_layers(
            layers,
            Y,
            folds,
            np.asarray(opts["alphas"]),
            opts["alpha_scaling"],
            target=rec["target"],
            ceiling=rec["ceiling"],
            alpha_edge_warning=opts["alpha_edge_warning"],
            groups=groups,
            alpha_cv=opts["alpha_cv"],
            bases=StoredBases(arrays, smk.input.eigen, folds),
            return_folds=True,
        )
    names = rec["target_name"]
    df["target_name"] = np.tile(names, len(layers))
    save_parquet(df, smk.output[0])
    # per layer × fold × target, for choosing a network's layer on inner folds
    # (docs/design.md#best-layer)
    save_parquet(per_fold, smk.output.folds)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
