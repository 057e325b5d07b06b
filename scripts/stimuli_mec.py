"""Stage 1 (mec): the binned arena → results/stimuli/{study}.tsv (ids like x03_y17)."""

from predictivity.checks import check_groups, check_n_stimuli
from predictivity.fileio import save_tsv
from predictivity.scripting import log, run
from predictivity.studies.mec.arena import arena_bins


def main(smk):
    key = f"studies.{smk.wildcards.study}.stimuli"
    table = arena_bins(**smk.params.options, config_key=key)
    check_n_stimuli(len(table), smk.params.folds, key)
    check_groups(table, smk.params.folds, f"{key}.blocks")
    log.info(
        "%d arena bins%s",
        len(table),
        f", {table['group'].nunique()} spatial blocks (CV folds hold out whole blocks)"
        if "group" in table
        else " (CV folds of single bins: interpolation within the map)",
    )
    save_tsv(table, smk.output[0])


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
