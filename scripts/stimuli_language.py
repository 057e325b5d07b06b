"""Stage 1 (language): the sentence file (or a dataset's sentences) → results/stimuli/{study}.tsv."""

from predictivity.checks import check_groups, check_n_stimuli
from predictivity.datasets.registry import load_dataset
from predictivity.fileio import read_lines, save_tsv
from predictivity.scripting import log, run
from predictivity.studies.language.sentences import read_sentences


def main(smk):
    ds = smk.params.dataset
    if ds:
        key = f"studies.{smk.wildcards.study}.dataset"
        table = load_dataset(
            ds["loader"], ds["path"], ds["options"], verified=ds["verified"], source=key
        ).stimuli
        if "sentence" not in table.columns:
            from predictivity.errors import InputError

            raise InputError(
                ds["path"],
                "this dataset's stimuli are not sentences (e.g. Pereira experiment 1 concepts).",
                "Use a sentence experiment's file (data_384sentences.mat or data_243sentences.mat).",
            )
        source = key
    else:
        source = smk.input.sentences[0]
        table = read_sentences(read_lines(source, "sentences"), source=source)
    check_n_stimuli(len(table), smk.params.folds, source)
    check_groups(table, smk.params.folds, source)
    words = table["sentence"].str.split().str.len()
    log.info(
        "%d sentences (%d–%d words)%s",
        len(table),
        words.min(),
        words.max(),
        f", {table['group'].nunique()} CV groups" if "group" in table.columns else "",
    )
    save_tsv(table, smk.output[0])


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
