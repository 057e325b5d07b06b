# Stage 4 — per layer: eigenvalues, participation ratios, power-law exponent, target alignment:
# results/spectra/{study}/{model}.parquet


rule spectra:
    input:
        activations="results/activations/{study}/{model}.npz",
        eigen="results/eigen/{study}/{model}.npz",
        recordings="results/recordings/{study}.npz",
    output:
        "results/spectra/{study}/{model}.parquet",
    log:
        "logs/spectra/{study}/{model}.log",
    benchmark:
        "benchmarks/spectra/{study}/{model}.tsv"
    group:
        "layer"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: int(2000 + 4 * input.size_mb) * attempt,
        runtime=lambda wc, input, attempt: int(10 + input.size_mb // 50) * attempt,
    params:
        code=code_version("spectra.py"),
    script:
        "../../scripts/spectra.py"
