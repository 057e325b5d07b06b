"""Stage 3 (language): per-layer sentence activations of MiniLM-L6 or its untrained twin."""

import time

from predictivity.checks import check_layer
from predictivity.fileio import read_stimuli, save_npz
from predictivity.scripting import log, run
from predictivity.studies.language.activations import sentence_activations
from predictivity.studies.language.models import load_model


def main(smk):
    opts = smk.params.options
    key = f"studies.{smk.wildcards.study}.models.{smk.wildcards.model}"
    stimuli = read_stimuli(smk.input.stimuli)
    t0 = time.perf_counter()
    tokenizer, model = load_model(
        opts["network"], trained=opts["trained"], seed=opts["init_seed"], source=key
    )
    log.info(
        "loaded %s (trained=%s) in %.1f s",
        opts["network"],
        opts["trained"],
        time.perf_counter() - t0,
    )
    layers = sentence_activations(
        stimuli["sentence"].tolist(),
        tokenizer,
        model,
        pooling=opts["pooling"],
        batch_size=opts["batch_size"],
        threads=smk.threads,
        max_tokens=opts["max_tokens"],
        source=smk.input.stimuli,
    )
    out = {name: check_layer(name, A, len(stimuli), key) for name, A in layers.items()}
    log.info("%d layers × %d sentences in %.1f s", len(out), len(stimuli), time.perf_counter() - t0)
    save_npz(smk.output[0], out)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
