# Seeded generator of the offline demo's precomputed arrays (predictivity.studies.precomputed.simulate).


rule simulate_precomputed:
    output:
        recordings="results/simulated/{name}/recordings.npy",
        stimulus_ids="results/simulated/{name}/stimulus_ids.txt",
        models=expand(
            "results/simulated/{{name}}/{model}.npz", model=["relu_net", "tanh_net"]
        ),
    log:
        "logs/simulate/{name}.log",
    group:
        "prepare"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        options=lambda wc: config["simulate"],
        code=code_version("simulate_precomputed.py"),
    script:
        "../../scripts/simulate_precomputed.py"
