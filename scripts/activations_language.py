"""Stage 3 (language): per-layer sentence activations of MiniLM-L6 or its untrained twin."""

import time

from predictivity.checks import check_layer
from predictivity.fileio import read_stimuli, save_npz
from predictivity.language import load_model, sentence_activations
from predictivity.scripting import log, run


def main(smk):
    opts = smk.params.options
    key = f"studies.{smk.wildcards.study}.models.{smk.wildcards.model}"
    stimuli = read_stimuli(smk.input.stimuli)
    t0 = time.perf_counter()
    tokenizer, model = load_model(
        opts.get("network", "minilm"),
        trained=opts.get("trained", True),
        seed=opts.get("init_seed", 0),
        source=key,
    )
    log.info(
        "loaded %s (trained=%s) in %.1f s",
        opts.get("network", "minilm"),
        opts.get("trained", True),
        time.perf_counter() - t0,
    )
    layers = sentence_activations(
        stimuli["sentence"].tolist(),
        tokenizer,
        model,
        pooling=opts.get("pooling", "mean"),
        batch_size=opts.get("batch_size", 32),
        threads=smk.threads,
        max_tokens=opts.get("max_tokens", 256),
        source=smk.input.stimuli,
    )
    out = {name: check_layer(name, A, len(stimuli), key) for name, A in layers.items()}
    log.info("%d layers × %d sentences in %.1f s", len(out), len(stimuli), time.perf_counter() - t0)
    save_npz(smk.output[0], out)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
