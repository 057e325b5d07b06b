"""Per model: the shared Gram and eigendecompositions of every layer → results/eigen/{study}/{model}.npz
(read by the spectra, regression, theory, controls and metrics stages; docs/design.md#basis)."""

import time

from predictivity.core.basis import bases_to_arrays, layer_basis
from predictivity.core.folds import make_folds
from predictivity.fileio import load_npz, read_stimuli, save_npz, stimulus_groups
from predictivity.scripting import log, run


def main(smk):
    layers = load_npz(smk.input.activations, "activations")
    groups = stimulus_groups(read_stimuli(smk.input.stimuli))
    n_stimuli = next(iter(layers.values())).shape[0]
    folds = make_folds(n_stimuli, smk.params.folds, smk.params.seed, groups)
    bases = {}
    for name, X in layers.items():
        t0 = time.perf_counter()
        bases[name] = b = layer_basis(X, folds)
        log.info(
            "layer %s (%d × %d, %s form): Gram, eigh of G and of %d training folds in %.2f s",
            name,
            X.shape[0],
            X.shape[1],
            b.form,
            len(folds),
            time.perf_counter() - t0,
        )
    save_npz(smk.output[0], bases_to_arrays(bases))


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
