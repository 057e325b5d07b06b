"""Stage 3 (story): a language model's word representations → TRs (Lanczos) → FIR delays, per layer."""

import time

from predictivity.checks import check_layer
from predictivity.datasets.registry import load_dataset
from predictivity.fileio import read_stimuli, save_npz
from predictivity.scripting import log, run
from predictivity.studies.language.models import load_model
from predictivity.studies.story.activations import story_activations


def main(smk):
    ds_opts, opts, feats = smk.params.dataset, smk.params.options, smk.params.features
    key = f"studies.{smk.wildcards.study}.models.{smk.wildcards.model}"
    t0 = time.perf_counter()
    ds = load_dataset(
        ds_opts["loader"],
        ds_opts["path"],
        ds_opts["options"],
        verified=ds_opts["verified"],
        source=f"studies.{smk.wildcards.study}.dataset",
    )
    stimuli = read_stimuli(smk.input.stimuli)
    stimuli["tr_index"] = stimuli["tr_index"].astype(int)
    tokenizer, model = load_model(
        opts["network"], trained=opts["trained"], seed=opts["init_seed"], source=key
    )
    layers = story_activations(
        ds.extra["words"],
        stimuli,
        ds.extra["tr_times"],
        tokenizer,
        model,
        delays=tuple(feats["delays"]),
        context_words=feats["context_words"],
        batch_size=opts["batch_size"],
        threads=smk.threads,
    )
    out = {name: check_layer(name, A, len(stimuli), key) for name, A in layers.items()}
    log.info("%d layers × %d TRs in %.1f s", len(out), len(stimuli), time.perf_counter() - t0)
    save_npz(smk.output[0], out)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
