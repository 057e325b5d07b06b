"""Stage 5b: PLS, RSA, CKA, Procrustes and SVCCA per layer → results/metrics/{study}/{model}.parquet."""

import numpy as np

from predictivity.core.basis import StoredBases
from predictivity.core.metrics.measures import score_metrics
from predictivity.core.ridge import make_folds
from predictivity.errors import InputError
from predictivity.fileio import load_npz, open_npz, read_stimuli, save_parquet, stimulus_groups
from predictivity.scripting import log, run


def main(smk):
    opts = smk.params.options
    rec = load_npz(smk.input.recordings, "recordings")
    layers = load_npz(smk.input.activations, "activations")
    stimuli = read_stimuli(smk.input.stimuli)
    Y = rec["mean"]
    # the regression stage's folds (same K, seed and stimulus groups)
    folds = make_folds(Y.shape[0], smk.params.folds, smk.params.seed, stimulus_groups(stimuli))
    # per-repetition responses (P × N × R, kept targets), when the recordings stage stores them
    responses = rec.get("responses")
    if responses is not None and (responses.ndim != 3 or responses.shape[:2] != Y.shape):
        raise InputError(
            smk.input.recordings,
            f"`responses` has shape {responses.shape}, `mean` {Y.shape}.",
            "Store the per-repetition responses as stimuli × kept targets × repetitions.",
        )
    log.info(
        "%d layers, %d stimuli, %d targets, %d folds; measures: %s; RSA ceiling: %s",
        len(layers),
        Y.shape[0],
        Y.shape[1],
        len(folds),
        ", ".join(opts["enabled"]) or "none",
        "split-half RDM reliability" if responses is not None else "none (no repetitions stored)",
    )
    with open_npz(smk.input.eigen) as arrays:
        df = score_metrics(
            layers,
            Y,
            folds,
            enabled=opts["enabled"],
            pls_components=opts["pls_components"],
            procrustes_dim=opts["procrustes_dim"],
            cca_dim=opts["cca_dim"],
            ceiling=rec["ceiling"],
            responses=responses,
            bases=StoredBases(arrays, smk.input.eigen, folds),
        )
    for m, sec in df.groupby("metric", sort=False)["seconds"].sum().items():
        log.info("%s: %.2f s over %d layers", m, sec, len(layers))
    log.info("total %.2f s", float(np.sum(df["seconds"])))
    save_parquet(df, smk.output[0])


if __name__ == "__main__":
    if "snakemake" not in globals():  # run alone for debugging (README: "Debugging a stage")
        from predictivity.scripting import mock_snakemake

        snakemake = mock_snakemake("metrics", study="demo", model="relu_net")
    run(main, snakemake)
