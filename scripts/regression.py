"""Stage 5: cross-validated ridge per layer × target → results/regression/{study}/{model}.parquet."""
import numpy as np

from predictivity.regression import make_folds, score_layers
from predictivity.scripting import (log, read_activations, read_recordings, read_stimuli, run,
                                    save_parquet, stimulus_groups)


def main(smk):
    opts = smk.params.options
    rec = read_recordings(smk.input.recordings)
    layers = read_activations(smk.input.activations)
    stimuli = read_stimuli(smk.input.stimuli)
    Y = rec["mean"]
    folds = make_folds(Y.shape[0], opts["folds"], opts["seed"], stimulus_groups(stimuli))
    log.info("%d layers, %d stimuli, %d targets, %d folds, %d alphas, alpha_scaling=%s",
             len(layers), Y.shape[0], Y.shape[1], len(folds), len(opts["alphas"]), opts["alpha_scaling"])
    df = score_layers(layers, Y, folds, np.asarray(opts["alphas"]), opts["alpha_scaling"],
                      target=rec["target"], ceiling=rec["ceiling"],
                      alpha_edge_warning=opts["alpha_edge_warning"])
    names = rec["target_name"]
    df["target_name"] = np.tile(names, len(layers))
    save_parquet(df, smk.output[0])


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
