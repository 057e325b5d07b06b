# Stage 6 — per layer × training size p: spectral-theory and empirical learning curves:
# results/theory/{study}/{model}.parquet (population: the training stimuli of each regression fold)


rule theory:
    input:
        activations="results/activations/{study}/{model}.npz",
        eigen="results/eigen/{study}/{model}.npz",
        recordings="results/recordings/{study}.npz",
        regression="results/regression/{study}/{model}.parquet",
        stimuli="results/stimuli/{study}.tsv",
    output:
        "results/theory/{study}/{model}.parquet",
    log:
        "logs/theory/{study}/{model}.log",
    benchmark:
        "benchmarks/theory/{study}/{model}.tsv"
    group:
        "layer"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: int(2000 + 4 * input.size_mb) * attempt,
        runtime=lambda wc, input, attempt: int(30 + input.size_mb // 20) * attempt,
    params:
        options=lambda wc: theory_options(wc.study),
        regression=lambda wc: regression_options(wc.study),
        code=code_version("theory.py"),
    script:
        "../../scripts/theory.py"
