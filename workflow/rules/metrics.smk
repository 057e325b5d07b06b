# Stage 5b — per layer: PLS, RSA, CKA, Procrustes and SVCCA beside the ridge score (docs/metrics.md):
# results/metrics/{study}/{model}.parquet


rule metrics:
    input:
        activations="results/activations/{study}/{model}.npz",
        eigen="results/eigen/{study}/{model}.npz",
        recordings="results/recordings/{study}.npz",
        stimuli="results/stimuli/{study}.tsv",
    output:
        "results/metrics/{study}/{model}.parquet",
    log:
        "logs/metrics/{study}/{model}.log",
    benchmark:
        "benchmarks/metrics/{study}/{model}.tsv"
    group:
        "layer"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: int(2000 + 4 * input.size_mb) * attempt,
        runtime=lambda wc, input, attempt: int(30 + input.size_mb // 20) * attempt,
    params:
        options=config["metrics"],
        # the regression stage's folds: same K and seed (with the study's overrides)
        folds=lambda wc: regression_options(wc.study)["folds"],
        seed=lambda wc: regression_options(wc.study)["seed"],
        code=code_version("metrics.py"),
    script:
        "../../scripts/metrics.py"
