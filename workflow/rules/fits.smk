# Stage 8 — per-study, per-subset and pooled fits of layer score on log PR (mixed model, cluster
# bootstrap fallback, permutation test of equal slopes): results/tables/fits.parquet
# (with CSV and HTML previews for the report). `table` studies enter here.


rule table_study:
    input:
        lambda wc: study_config(wc.study)["path"],
    output:
        "results/tables/studies/{study}.parquet",
    log:
        "logs/table_study/{study}.log",
    wildcard_constraints:
        study=kind_regex("table"),
    group:
        "aggregate"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        columns=lambda wc: study_config(wc.study)["columns"],
        filter=lambda wc: study_config(wc.study).get("filter"),
        code=code_version("table_study.py"),
    script:
        "../../scripts/table_study.py"


rule fits:
    input:
        layers="results/tables/layers.parquet",
        table_studies=table_study_files(),
    output:
        parquet="results/tables/fits.parquet",
        csv="results/tables/fits.csv",
        html=report(
            "results/tables/fits.html", caption="../report/fits.rst", category="Tables"
        ),
    log:
        "logs/fits.log",
    group:
        "aggregate"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        options=config["fits"],
        code=code_version("fits.py"),
    script:
        "../../scripts/fits.py"
