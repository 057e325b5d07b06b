# Study kind `story` — story listening fMRI: TRs of stories, word-level LM features with Lanczos resampling and FIR delays.
# Its stages 1–3 (stimuli, recordings, activations); everything after them is shared.


rule stimuli_story:
    input:
        dataset=dataset_inputs,
    output:
        "results/stimuli/{study}.tsv",
    log:
        "logs/stimuli/{study}.log",
    wildcard_constraints:
        study=kind_regex("story"),
    group:
        "prepare"
    conda:
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        dataset=lambda wc: dataset_params(wc.study),
        folds=lambda wc: regression_options(wc.study)["folds"],
        code=code_version("stimuli_story.py"),
    script:
        "../../../scripts/stimuli_story.py"


rule recordings_story:
    input:
        stimuli="results/stimuli/{study}.tsv",
        dataset=dataset_inputs,
    output:
        "results/recordings/{study}.npz",
    log:
        "logs/recordings/{study}.log",
    wildcard_constraints:
        study=kind_regex("story"),
    group:
        "prepare"
    conda:
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 4000 + 3 * input.size_mb,
        runtime=10,
    params:
        dataset=lambda wc: dataset_params(wc.study),
        code=code_version("recordings_story.py"),
    script:
        "../../../scripts/recordings_story.py"


rule activations_story:
    input:
        stimuli="results/stimuli/{study}.tsv",
        dataset=dataset_inputs,
    output:
        "results/activations/{study}/{model}.npz",
    log:
        "logs/activations/{study}/{model}.log",
    benchmark:
        "benchmarks/activations/{study}/{model}.tsv"
    wildcard_constraints:
        study=kind_regex("story"),
    conda:
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: (4000 + 3 * input.size_mb) * attempt,
        runtime=60,
    params:
        dataset=lambda wc: dataset_params(wc.study),
        features=lambda wc: study_config(wc.study)["features"],
        options=lambda wc: model_options(wc.study, wc.model),
        code=code_version("activations_story.py"),
    script:
        "../../../scripts/activations_story.py"
