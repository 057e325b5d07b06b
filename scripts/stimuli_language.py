"""Stage 1 (language): the sentence file → results/stimuli/{study}.tsv (stable ids s0001 …)."""
from predictivity.data import check_n_stimuli
from predictivity.language import read_sentences
from predictivity.scripting import log, read_lines, run, save_tsv


def main(smk):
    path = smk.input[0]
    table = read_sentences(read_lines(path, "sentences"), source=path)
    check_n_stimuli(len(table), smk.params.folds, path)
    log.info("%d sentences (%d–%d words)", len(table), table["n_words"].min(), table["n_words"].max())
    save_tsv(table, smk.output[0])


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
