# Stage 5 — per layer × target: cross-validated ridge R², Pearson r, chosen alpha, ceiling:
# results/regression/{study}/{model}.parquet; per layer × outer fold × target (test scores and
# inner-CV error, for the best-layer table): {model}.folds.parquet


rule regression:
    input:
        activations="results/activations/{study}/{model}.npz",
        eigen="results/eigen/{study}/{model}.npz",
        recordings="results/recordings/{study}.npz",
        stimuli="results/stimuli/{study}.tsv",
    output:
        "results/regression/{study}/{model}.parquet",
        folds="results/regression/{study}/{model}.folds.parquet",
    log:
        "logs/regression/{study}/{model}.log",
    benchmark:
        "benchmarks/regression/{study}/{model}.tsv"
    group:
        "layer"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: int(2000 + 4 * input.size_mb) * attempt,
        runtime=lambda wc, input, attempt: int(30 + input.size_mb // 20) * attempt,
    params:
        options=lambda wc: regression_options(wc.study),
        code=code_version("regression.py"),
    script:
        "../../scripts/regression.py"
