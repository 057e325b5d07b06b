"""Stage 1 (it): images made offline, a user folder, or a BrainIO stimulus set (csv + unpacked zip) → results/stimuli/{study}.tsv + .images.npy."""

import numpy as np

from predictivity.checks import check_groups, check_n_stimuli
from predictivity.datasets.download import verify_manifest
from predictivity.datasets.stimulus_sets import read_brainio_stimulus_set, stimulus_set_table
from predictivity.errors import InputError
from predictivity.fileio import atomic_write, save_tsv
from predictivity.scripting import log, run
from predictivity.studies.it.images import load_image_folder, make_images


def main(smk):
    opts = smk.params.options
    key = f"studies.{smk.wildcards.study}.images"
    folder = smk.params.folder  # `folder`, inside its download directory when from a download
    for path in smk.params.verify:  # paths inside downloads: re-check their files' sha256 first
        verify_manifest(path, f"{key}.download")
    if smk.params.stimulus_csv and not folder:
        raise InputError(
            f"{key}.stimulus_csv",
            "a stimulus set CSV needs the folder of its files (`images.folder`).",
            "Set `folder` to the unpacked stimulus zip (e.g. {download: <its download>}).",
        )
    if folder and smk.params.stimulus_csv:  # a BrainIO stimulus set: csv rows → files and ids
        sset = read_brainio_stimulus_set(smk.params.stimulus_csv, image_dir=folder)
        images, table = load_image_folder(
            sset["path"].tolist(), size=opts["image_size"], source=folder
        )
        table = stimulus_set_table(table, sset, opts["group_by"], smk.params.stimulus_csv)
    elif folder:
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
