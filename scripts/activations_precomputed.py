"""Stage 3 (precomputed): validate a user's per-layer .npz → results/activations/{study}/{model}.npz."""

from predictivity.checks import check_layer
from predictivity.fileio import load_npz, read_stimuli, save_npz
from predictivity.scripting import log, run


def main(smk):
    path = smk.input.activations
    P = len(read_stimuli(smk.input.stimuli))
    layers = load_npz(path)
    out = {}
    for name, A in layers.items():
        out[name] = check_layer(name, A, P, path, smk.params.dtype)
        log.info("layer %s: %d stimuli × %d units", name, *out[name].shape)
    save_npz(smk.output[0], out)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
