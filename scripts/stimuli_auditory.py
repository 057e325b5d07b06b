"""Stage 1 (auditory): synthesised sounds (or a WAV folder) → results/stimuli/{study}.tsv + .sounds.npy."""

import numpy as np

from predictivity.checks import check_n_stimuli
from predictivity.datasets.download import verify_manifest
from predictivity.fileio import atomic_write, save_tsv
from predictivity.scripting import log, run
from predictivity.studies.auditory.sounds import synthesize_sounds
from predictivity.studies.auditory.wav import load_wav_folder


def main(smk):
    opts = smk.params.options
    key = f"studies.{smk.wildcards.study}.sounds"
    folder = smk.params.folder  # wav_folder, inside its download directory when from a download
    for path in smk.params.verify:  # a folder of a download: re-check its files' sha256 first
        verify_manifest(path, f"{key}.download")
    if folder:
        sounds, table = load_wav_folder(
            folder, duration=opts["duration"], sample_rate=opts["sample_rate"], source=folder
        )
    else:
        sounds, table = synthesize_sounds(
            opts["n_sounds"], opts["duration"], opts["sample_rate"], opts["seed"]
        )
    check_n_stimuli(len(table), smk.params.folds, folder or key)
    log.info("%d sounds of %.1f s at %d Hz", len(table), opts["duration"], opts["sample_rate"])
    with atomic_write(smk.output.sounds) as f:
        np.save(f, sounds)
    save_tsv(table, smk.output.table)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
