# Study kind `language` — human language network: sentences, transformer language models, simulated or real voxels.
# Its stages 1–3 (stimuli, recordings, activations); everything after them is shared.


rule stimuli_language:
    input:
        sentences=lambda wc: (
            []
            if study_config(wc.study).get("dataset")
            else [resource_path(wc.study, "sentences", "sentences.txt")]
        ),
        dataset=dataset_inputs,
    output:
        "results/stimuli/{study}.tsv",
    log:
        "logs/stimuli/{study}.log",
    wildcard_constraints:
        study=kind_regex("language"),
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
        dataset=lambda wc: dataset_params(wc.study),
        code=code_version("stimuli_language.py"),
    script:
        "../../../scripts/stimuli_language.py"


rule recordings_language:
    input:
        stimuli="results/stimuli/{study}.tsv",
        dataset=dataset_inputs,
        own=own_recordings_inputs,
    output:
        "results/recordings/{study}.npz",
    log:
        "logs/recordings/{study}.log",
    wildcard_constraints:
        study=kind_regex("language"),
    group:
        "prepare"
    conda:
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        simulate=lambda wc: study_config(wc.study)["simulate"],
        dataset=lambda wc: dataset_params(wc.study),
        own=lambda wc: own_recordings(wc.study),
        code=code_version("recordings_language.py"),
    script:
        "../../../scripts/recordings_language.py"


rule activations_language:
    input:
        stimuli="results/stimuli/{study}.tsv",
    output:
        "results/activations/{study}/{model}.npz",
    log:
        "logs/activations/{study}/{model}.log",
    benchmark:
        "benchmarks/activations/{study}/{model}.tsv"
    wildcard_constraints:
        study=kind_regex("language"),
    conda:
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=20,
    params:
        options=lambda wc: model_options(wc.study, wc.model),
        code=code_version("activations_language.py"),
    script:
        "../../../scripts/activations_language.py"
