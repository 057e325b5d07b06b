# Stage 0 — files fetched from the internet (or a file:// URL), verified by sha256 before use:
# results/downloads/{name}/ (the file itself, or the unpacked archive).


rule download:
    output:
        directory("results/downloads/{name}"),
    log:
        "logs/download/{name}.log",
    retries: 1
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=120,
    params:
        options=lambda wc: config["downloads"][wc.name],
        checksums=config["checksums"]
        or os.path.join(workflow.basedir, "resources", "checksums.tsv"),
        code=code_version("download.py"),
    script:
        "../../scripts/download.py"
