"""Stage 3 (auditory): per-layer, time-averaged activations of an audio network for the sounds."""

import time

import numpy as np

from predictivity.checks import check_layer
from predictivity.fileio import save_npz
from predictivity.scripting import log, run
from predictivity.studies.auditory.models import model_activations


def main(smk):
    opts = smk.params.options
    key = f"studies.{smk.wildcards.study}.models.{smk.wildcards.model}"
    sounds = np.load(smk.input.sounds, allow_pickle=False)
    t0 = time.perf_counter()
    layers = model_activations(
        opts["network"],
        sounds,
        smk.params.sample_rate,
        seed=opts["init_seed"],
        threads=smk.threads,
        options=dict(opts["options"]),
        source=key,
    )
    out = {name: check_layer(name, A, len(sounds), key) for name, A in layers.items()}
    log.info(
        "%s: %d layers × %d sounds in %.1f s",
        opts["network"],
        len(out),
        len(sounds),
        time.perf_counter() - t0,
    )
    save_npz(smk.output[0], out)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
