# Controls of every layer's score (docs/controls.md): spectral reshaping, random-eigenvector null,
# PR inflation, and the spectrum/alignment profiles → results/controls/{study}/{model}.parquet
# and .profiles.parquet (same folds, alpha grid and alpha selection as the regression)


rule controls:
    input:
        activations="results/activations/{study}/{model}.npz",
        eigen="results/eigen/{study}/{model}.npz",
        folds="results/regression/{study}/{model}.folds.parquet",
        recordings="results/recordings/{study}.npz",
        stimuli="results/stimuli/{study}.tsv",
    output:
        controls="results/controls/{study}/{model}.parquet",
        profiles="results/controls/{study}/{model}.profiles.parquet",
    log:
        "logs/controls/{study}/{model}.log",
    benchmark:
        "benchmarks/controls/{study}/{model}.tsv"
    group:
        "layer"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: int(3000 + 8 * input.size_mb) * attempt,
        runtime=lambda wc, input, attempt: int(60 + input.size_mb // 2) * attempt,
    params:
        options=config["controls"],
        regression=lambda wc: regression_options(wc.study),
        code=code_version("controls.py"),
    script:
        "../../scripts/controls.py"
