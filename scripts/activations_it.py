"""Stage 3 (it): per-layer CNN activations (pooled or projected) for the images."""

import time

import numpy as np

from predictivity.checks import check_layer
from predictivity.fileio import save_npz
from predictivity.scripting import log, run
from predictivity.studies.it.activations import cnn_activations
from predictivity.studies.it.networks import build_cnn, preprocessing


def main(smk):
    opts = smk.params.options
    key = f"studies.{smk.wildcards.study}.models.{smk.wildcards.model}"
    images = np.load(smk.input.images, allow_pickle=False)
    t0 = time.perf_counter()
    model = build_cnn(
        opts["arch"],
        seed=opts["init_seed"],
        weights=opts["weights"],
        source=f"{key}.arch",
    )
    layers = cnn_activations(
        model,
        images,
        opts["layers"],
        pooling=opts["pooling"],
        max_units=opts["max_units"],
        projection_seed=opts["projection_seed"],
        batch_size=opts["batch_size"],
        threads=smk.threads,
        arch=opts["arch"],
        source=f"{key}.layers",
        **preprocessing(opts["arch"]),
    )
    out = {name: check_layer(name, A, len(images), key) for name, A in layers.items()}
    log.info(
        "%s: %d layers × %d images in %.1f s",
        opts["arch"],
        len(out),
        len(images),
        time.perf_counter() - t0,
    )
    save_npz(smk.output[0], out)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
