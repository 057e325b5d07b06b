# Stage 3 — per-layer activations stimuli × units in the recordings' stimulus order:
# results/activations/{study}/{model}.npz (one array per layer, in layer order)


rule activations_precomputed:
    input:
        activations=precomputed_model_path,
        stimuli="results/stimuli/{study}.tsv",
    output:
        "results/activations/{study}/{model}.npz",
    wildcard_constraints:
        study=kind_regex("precomputed"),
    params:
        dtype=lambda wc: study_config(wc.study).get("dtype", "float32"),
        code=code_version("data"),
    log:
        "logs/activations/{study}/{model}.log",
    threads: 1
    resources:
        mem_mb=lambda wc, input: 1000 + 3 * input.size_mb,
        runtime=10,
    conda:
        "../../envs/predictivity.yaml"
    script:
        "../../scripts/activations_precomputed.py"


rule activations_language:
    input:
        stimuli="results/stimuli/{study}.tsv",
    output:
        "results/activations/{study}/{model}.npz",
    wildcard_constraints:
        study=kind_regex("language"),
    params:
        options=lambda wc: model_options(wc.study, wc.model),
        code=code_version("data", "language"),
    log:
        "logs/activations/{study}/{model}.log",
    benchmark:
        "benchmarks/activations/{study}/{model}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    conda:
        "../../envs/predictivity.yaml"
    script:
        "../../scripts/activations_language.py"
