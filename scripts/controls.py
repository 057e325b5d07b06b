"""Controls of every layer's score (docs/controls.md) → results/controls/{study}/{model}.parquet
(one row per layer × control setting) and .profiles.parquet (normalised spectrum and alignment
profile per layer × training fold × rank).

Same folds, alpha grid, grid scaling and alpha selection as the regression stage.
"""

import numpy as np

from predictivity.core.basis import StoredBases
from predictivity.core.controls.scoring import SpectrumRangeError, model_controls
from predictivity.core.ridge import fold_results, make_folds
from predictivity.errors import InputError
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
    reg = smk.params.regression
    rec = load_npz(smk.input.recordings, "recordings")
    layers = load_npz(smk.input.activations, "activations")
    groups = stimulus_groups(read_stimuli(smk.input.stimuli))
    Y = rec["mean"]
    folds = make_folds(Y.shape[0], reg["folds"], reg["seed"], groups)
    log.info(
        "%d layers, %d stimuli, %d targets, %d folds; gammas %s, %d null draws, %d noise units",
        len(layers),
        Y.shape[0],
        Y.shape[1],
        len(folds),
        opts["gammas"],
        opts["n_null"],
        opts["noise_units"],
    )
    # the layer's own row and γ = 1 are the regression's results (docs/controls.md)
    frame = read_parquet(smk.input.folds, "the regression's per-fold results")
    try:
        own = {name: fold_results(frame, name, rec["target"]) for name in layers}
    except ValueError as e:
        raise InputError(
            smk.input.folds,
            f"does not match the activations and recordings: {e}.",
            "Delete it and rerun; the regression stage writes it.",
        ) from e
    with open_npz(smk.input.eigen) as arrays:
        try:
            rows, profiles = model_controls(
                layers,
                Y,
                folds,
                bases=StoredBases(arrays, smk.input.eigen, folds),
                layer_folds=own,
                alphas=np.asarray(reg["alphas"]),
                alpha_scaling=reg["alpha_scaling"],
                groups=groups,
                alpha_cv=reg["alpha_cv"],
                gammas=opts["gammas"],
                n_null=opts["n_null"],
                noise_units=opts["noise_units"],
                seed=opts["seed"],
            )
        except SpectrumRangeError as e:  # activations in extreme units (docs/controls.md)
            raise InputError(smk.input.activations, f"layer {e.layer}: {e.problem}", e.fix) from e
    save_parquet(rows, smk.output.controls)
    save_parquet(profiles, smk.output.profiles)


if __name__ == "__main__":
    if "snakemake" not in globals():  # run alone for debugging (README: "Debugging a stage")
        from predictivity.scripting import mock_snakemake

        snakemake = mock_snakemake("controls", study="demo", model="relu_net")
    run(main, snakemake)
