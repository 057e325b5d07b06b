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


if __name__ == "__main__":
    if "snakemake" not in globals():  # run alone for debugging (README: "Debugging a stage")
        from predictivity.scripting import mock_snakemake

        snakemake = mock_snakemake("activations_precomputed", study="demo", model="relu_net")
    run(main, snakemake)
