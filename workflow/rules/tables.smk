# Stage 7 — results/tables/layers.parquet: one row per study × model × layer, joining stages 4–6,
# the metrics and controls stages and the grid-cell criteria of mec layers; the metric agreement,
# decomposition, grid-cell criteria and best-layer tables.


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
        metrics=lambda wc: all_model_files("results/metrics/{study}/{model}.parquet"),
        controls=lambda wc: all_model_files("results/controls/{study}/{model}.parquet"),
        profiles=lambda wc: all_model_files(
            "results/controls/{study}/{model}.profiles.parquet"
        ),
        mec_criteria=lambda wc: mec_criteria_table(),
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


rule best_layer_table:
    # docs/design.md#best-layer: per study × network, the layer chosen per outer fold on the
    # inner-CV error of the training stimuli, its test scores, and the test-selected best layer.
    input:
        folds=lambda wc: all_model_files(
            "results/regression/{study}/{model}.folds.parquet"
        ),
    output:
        "results/tables/best_layer.parquet",
    log:
        "logs/tables/best_layer.log",
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
                "input_layers": input_layers(s, m),
            }
            for s in computed_studies()
            for m in models_of(s)
        ],
        options=config["fits"],
        code=code_version("best_layer_table.py"),
    script:
        "../../scripts/best_layer_table.py"


rule mec_criteria_table:
    # docs/mec_criteria.md: one row per study × model (or `recordings`) × layer.
    input:
        units=mec_criteria_files(),
        topology=[
            f.replace(".parquet", ".topology.parquet") for f in mec_criteria_files()
        ],
    output:
        "results/tables/mec_criteria.parquet",
    log:
        "logs/tables/mec_criteria.log",
    group:
        "aggregate"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        entries=[
            {"study": s, "model": m}
            for s in studies_of_kind("mec")
            for m in [*models_of(s), "recordings"]
        ],
        code=code_version("mec_criteria_table.py"),
    script:
        "../../scripts/mec_criteria_table.py"


rule metric_agreement:
    # docs/metrics.md#agreement: Kendall τ between the layer rankings of r2, the measures and
    # ln PR per study, and each measure's line against ln PR.
    input:
        layers="results/tables/layers.parquet",
    output:
        "results/tables/metric_agreement.parquet",
    log:
        "logs/tables/metric_agreement.log",
    group:
        "aggregate"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        metrics=config["metrics"]["enabled"],
        options=config["fits"],
        code=code_version("metric_agreement.py"),
    script:
        "../../scripts/metric_agreement.py"


rule decomposition_table:
    # docs/controls.md: per study, the share of the across-layer variance of r2 explained by the
    # theory, by its spectrum-only and by its alignment-only prediction.
    input:
        layers="results/tables/layers.parquet",
    output:
        "results/tables/decomposition.parquet",
    log:
        "logs/tables/decomposition.log",
    group:
        "aggregate"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        options=config["fits"],
        code=code_version("decomposition_table.py"),
    script:
        "../../scripts/decomposition_table.py"


rule benchmarks_table:
    # Runs after everything else (its inputs are the final tables and figures; layers.parquet
    # waits for every per-model stage) and summarises every rule's `benchmark:` file, so slow
    # stages are visible: results/tables/benchmarks.parquet.
    input:
        "results/tables/layers.parquet",
        "results/tables/fits.parquet",
        "results/tables/metric_agreement.parquet",
        "results/tables/decomposition.parquet",
        "results/tables/best_layer.parquet",
        mec_criteria_table(),
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
