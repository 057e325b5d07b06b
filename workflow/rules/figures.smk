# Stage 9 — seaborn figures (PNG + SVG) for results/figures/ and `snakemake --report`.


rule figures:
    input:
        layers="results/tables/layers.parquet",
        fits="results/tables/fits.parquet",
        table_studies=table_study_files(),
        theory=all_model_files("results/theory/{study}/{model}.parquet"),
        spectra=all_model_files("results/spectra/{study}/{model}.parquet"),
        metric_agreement="results/tables/metric_agreement.parquet",
        mec_criteria=mec_criteria_table(),
        controls=all_model_files("results/controls/{study}/{model}.parquet"),
    output:
        **{
            f"{name}_{ext}": (
                report(
                    f"results/figures/{name}.{ext}",
                    caption=f"../report/{name}.rst",
                    category="Figures",
                )
                if ext == "png"
                else f"results/figures/{name}.{ext}"
            )
            for name in FIGURES
            for ext in ("png", "svg")
        },
    log:
        "logs/figures.log",
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
            {"study": s, "model": m} for s in computed_studies() for m in models_of(s)
        ],
        options=config["fits"],
        metrics=config["metrics"]["enabled"],
        code=code_version("figures.py"),
    script:
        "../../scripts/figures.py"
