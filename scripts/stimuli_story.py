"""Stage 1 (story): the TRs of the dataset's stories (group = story) → results/stimuli/{study}.tsv."""

from predictivity.checks import check_groups, check_n_stimuli
from predictivity.datasets.registry import load_dataset
from predictivity.fileio import save_tsv
from predictivity.scripting import log, run


def main(smk):
    ds = smk.params.dataset
    key = f"studies.{smk.wildcards.study}.dataset"
    table = load_dataset(
        ds["loader"], ds["path"], ds["options"], verified=ds["verified"], source=key
    ).stimuli
    check_n_stimuli(len(table), smk.params.folds, key)
    check_groups(table, smk.params.folds, key)
    log.info("%d TRs from %d stories", len(table), table["group"].nunique())
    save_tsv(table, smk.output[0])


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
