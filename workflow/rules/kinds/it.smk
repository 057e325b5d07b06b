# Study kind `it` — macaque IT: images, CNNs (pure-torch torchvision architectures, EfficientNet-Lite), simulated or real sites.
# Its stages 1–3 (stimuli, recordings, activations); everything after them is shared.


rule stimuli_it:
    input:
        stimulus_download("images"),
    output:
        table="results/stimuli/{study}.tsv",
        images="results/stimuli/{study}.images.npy",
    log:
        "logs/stimuli/{study}.log",
    wildcard_constraints:
        study=kind_regex("it"),
    group:
        "prepare"
    conda:
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        options=lambda wc: study_config(wc.study)["images"],
        folder=lambda wc: stimulus_folder(wc.study, "images", "folder"),
        stimulus_csv=lambda wc: stimulus_folder(wc.study, "images", "stimulus_csv"),
        verify=lambda wc: stimulus_verify(wc.study, "images"),
        folds=lambda wc: regression_options(wc.study)["folds"],
        code=code_version("stimuli_it.py"),
    script:
        "../../../scripts/stimuli_it.py"


rule recordings_it:
    input:
        stimuli="results/stimuli/{study}.tsv",
        dataset=dataset_inputs,
        own=own_recordings_inputs,
        images="results/stimuli/{study}.images.npy",
    output:
        recordings="results/recordings/{study}.npz",
        sites="results/recordings/{study}.sites.tsv",
    log:
        "logs/recordings/{study}.log",
    wildcard_constraints:
        study=kind_regex("it"),
    group:
        "prepare"
    conda:
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    params:
        options=lambda wc: study_config(wc.study)["simulate"],
        dataset=lambda wc: dataset_params(wc.study),
        own=lambda wc: own_recordings(wc.study),
        code=code_version("recordings_it.py"),
    script:
        "../../../scripts/recordings_it.py"


rule activations_it:
    input:
        stimuli="results/stimuli/{study}.tsv",
        images="results/stimuli/{study}.images.npy",
    output:
        "results/activations/{study}/{model}.npz",
    log:
        "logs/activations/{study}/{model}.log",
    benchmark:
        "benchmarks/activations/{study}/{model}.tsv"
    wildcard_constraints:
        study=kind_regex("it"),
    conda:
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        options=lambda wc: model_options(wc.study, wc.model),
        code=code_version("activations_it.py"),
    script:
        "../../../scripts/activations_it.py"
