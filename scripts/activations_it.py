"""Stage 3 (it): per-layer CNN activations (pooled or projected) for the images."""

import time

import numpy as np

from predictivity.checks import check_layer
from predictivity.fileio import save_npz
from predictivity.it import build_cnn, cnn_activations
from predictivity.scripting import log, run


def main(smk):
    opts = smk.params.options
    key = f"studies.{smk.wildcards.study}.models.{smk.wildcards.model}"
    images = np.load(smk.input.images, allow_pickle=False)
    t0 = time.perf_counter()
    model = build_cnn(
        opts["arch"],
        seed=opts.get("init_seed", 0),
        weights=opts.get("weights"),
        source=f"{key}.arch",
    )
    layers = cnn_activations(
        model,
        images,
        opts.get("layers"),
        pooling=opts.get("pooling", "gap"),
        max_units=opts.get("max_units"),
        projection_seed=opts.get("projection_seed", 0),
        batch_size=opts.get("batch_size", 16),
        threads=smk.threads,
        arch=opts["arch"],
        source=f"{key}.layers",
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
