"""Stage 1 (it): images made offline (or a user folder) → results/stimuli/{study}.tsv + .images.npy."""

import numpy as np

from predictivity.checks import check_groups, check_n_stimuli
from predictivity.datasets.download import verify_manifest
from predictivity.fileio import atomic_write, save_tsv
from predictivity.scripting import log, run
from predictivity.studies.it.images import load_image_folder, make_images


def main(smk):
    opts = smk.params.options
    key = f"studies.{smk.wildcards.study}.images"
    folder = smk.params.folder  # `folder`, inside its download directory when `download` is set
    if folder and len(smk.input):  # a folder of a download: re-check its files' sha256 first
        verify_manifest(folder, f"{key}.download")
    if folder:
        images, table = load_image_folder(folder, size=opts["image_size"], source=folder)
    else:
        images, table = make_images(opts["n_images"], opts["image_size"], opts["seed"], source=key)
    check_n_stimuli(len(table), smk.params.folds, folder or key)
    check_groups(table, smk.params.folds, folder or key)
    log.info(
        "%d images of %d px from %d sources", len(table), images.shape[1], table["group"].nunique()
    )
    with atomic_write(smk.output.images) as f:
        np.save(f, images)
    save_tsv(table, smk.output.table)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
