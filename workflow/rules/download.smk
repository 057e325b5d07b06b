# Stage 0 — files fetched from the internet (or a file:// URL), verified by sha256 before use:
# results/downloads/{name}/ (the file itself, the unpacked archive, or the listed `files`).
# Recordings (`dataset.download`) and stimulus sets (`{download: name, path: ...}`) both come
# through it. Without network it stops with one line saying where to put the file by hand
# (data/downloads/{name}/<file>, then taken instead of the URL) and its expected sha256.


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
        pinned=lambda wc: pinned_sha256(wc.name),  # a new pin reruns (and re-verifies) it
        pinned_table=pinned_table(),
        recorded=RECORDED_CHECKSUMS,
        limits=config["unpack_limits"],
        code=code_version("download.py"),
    script:
        "../../scripts/download.py"
