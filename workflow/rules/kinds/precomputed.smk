# Study kind `precomputed` — activations and recordings you computed (and the demo's seeded generator).
# Its stages 1–3 (stimuli, recordings, activations); everything after them is shared.


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
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        options=lambda wc: config["simulate"],
        code=code_version("simulate_precomputed.py"),
    script:
        "../../../scripts/simulate_precomputed.py"


rule stimuli_precomputed:
    input:
        recordings=lambda wc: user_path(wc.study, "recordings"),
        stimulus_ids=precomputed_optional("stimulus_ids"),
        stimulus_groups=precomputed_optional("stimulus_groups"),
    output:
        "results/stimuli/{study}.tsv",
    log:
        "logs/stimuli/{study}.log",
    wildcard_constraints:
        study=kind_regex("precomputed"),
    group:
        "prepare"
    conda:
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        folds=lambda wc: regression_options(wc.study)["folds"],
        code=code_version("stimuli_precomputed.py"),
    script:
        "../../../scripts/stimuli_precomputed.py"


rule recordings_precomputed:
    input:
        recordings=lambda wc: user_path(wc.study, "recordings"),
        stimuli="results/stimuli/{study}.tsv",
        target_names=precomputed_optional("target_names"),
    output:
        "results/recordings/{study}.npz",
    log:
        "logs/recordings/{study}.log",
    wildcard_constraints:
        study=kind_regex("precomputed"),
    group:
        "prepare"
    conda:
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: int(1000 + 6 * input.size_mb),
        runtime=5,
    params:
        code=code_version("recordings.py"),
    script:
        "../../../scripts/recordings.py"


rule activations_precomputed:
    input:
        activations=precomputed_model_path,
        stimuli="results/stimuli/{study}.tsv",
    output:
        "results/activations/{study}/{model}.npz",
    log:
        "logs/activations/{study}/{model}.log",
    wildcard_constraints:
        study=kind_regex("precomputed"),
    group:
        "prepare"
    conda:
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: int(1000 + 3 * input.size_mb),
        runtime=10,
    params:
        dtype=lambda wc: study_config(wc.study)["dtype"],
        code=code_version("activations_precomputed.py"),
    script:
        "../../../scripts/activations_precomputed.py"
