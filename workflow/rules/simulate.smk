# Seeded generator of the offline demo's precomputed arrays (predictivity.studies.precomputed.simulate).


rule simulate_precomputed:
    output:
        recordings="results/simulated/{name}/recordings.npy",
        stimulus_ids="results/simulated/{name}/stimulus_ids.txt",
        models=expand("results/simulated/{{name}}/{model}.npz", model=["relu_net", "tanh_net"]),
    params:
        options=lambda wc: config["simulate"],
        code=code_version("simulate_precomputed.py"),
    log:
        "logs/simulate/{name}.log",
    group: "prepare"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/predictivity.yaml"
    script:
        "../../scripts/simulate_precomputed.py"
