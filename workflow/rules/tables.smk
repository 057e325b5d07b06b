# Stage 7 — results/tables/layers.parquet: one row per study × model × layer, joining stages 4–6.


rule layers_table:
    input:
        regression=lambda wc: [
            f
            for s in computed_studies()
            for f in per_model("results/regression/{study}/{model}.parquet", s)
        ],
        spectra=lambda wc: [
            f
            for s in computed_studies()
            for f in per_model("results/spectra/{study}/{model}.parquet", s)
        ],
        theory=lambda wc: [
            f
            for s in computed_studies()
            for f in per_model("results/theory/{study}/{model}.parquet", s)
        ],
        recordings=lambda wc: [
            f"results/recordings/{s}.npz" for s in computed_studies()
        ],
    output:
        "results/tables/layers.parquet",
    log:
        "logs/tables/layers.log",
    group:
        "aggregate"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        entries=lambda wc: [
            {
                "study": s,
                "model": m,
                "trained": is_trained(s, m),
                "folds": regression_options(s)["folds"],
                "input_layers": input_layers(s, m),
            }
            for s in computed_studies()
            for m in models_of(s)
        ],
        code=code_version("layers_table.py"),
    script:
        "../../scripts/layers_table.py"


rule benchmarks_table:
    # Runs after everything else (its inputs are the final tables and figures) and summarises every
    # rule's `benchmark:` file, so slow stages are visible: results/tables/benchmarks.parquet.
    input:
        "results/tables/layers.parquet",
        "results/tables/fits.parquet",
        expand("results/figures/{figure}.png", figure=FIGURES),
    output:
        "results/tables/benchmarks.parquet",
    log:
        "logs/tables/benchmarks.log",
    group:
        "aggregate"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code_version("benchmarks_table.py"),
    script:
        "../../scripts/benchmarks_table.py"
