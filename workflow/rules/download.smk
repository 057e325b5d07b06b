# Stage 0 — files fetched from the internet (or a file:// URL), verified by sha256 before use:
# results/downloads/{name}/ (the file itself, or the unpacked archive).


rule download:
    output:
        directory("results/downloads/{name}"),
    params:
        options=lambda wc: config["downloads"][wc.name],
        checksums=config["checksums"] or os.path.join(workflow.basedir, "resources", "checksums.tsv"),
        code=code_version("download.py"),
    log:
        "logs/download/{name}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=120,
    retries: 1
    conda:
        "../../envs/predictivity.yaml"
    script:
        "../../scripts/download.py"
