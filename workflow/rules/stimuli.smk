# Stage 1 — the stimulus set with stable ids: results/stimuli/{study}.tsv


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
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        folds=lambda wc: regression_options(wc.study)["folds"],
        code=code_version("stimuli_precomputed.py"),
    script:
        "../../scripts/stimuli_precomputed.py"


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
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        folds=lambda wc: regression_options(wc.study)["folds"],
        dataset=lambda wc: dataset_params(wc.study),
        code=code_version("stimuli_language.py"),
    script:
        "../../scripts/stimuli_language.py"


rule stimuli_mec:
    output:
        "results/stimuli/{study}.tsv",
    log:
        "logs/stimuli/{study}.log",
    wildcard_constraints:
        study=kind_regex("mec"),
    group:
        "prepare"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        options=lambda wc: study_config(wc.study)["stimuli"],
        folds=lambda wc: regression_options(wc.study)["folds"],
        code=code_version("stimuli_mec.py"),
    script:
        "../../scripts/stimuli_mec.py"


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
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        options=lambda wc: study_config(wc.study)["images"],
        folder=lambda wc: stimulus_folder(wc.study, "images", "folder"),
        folds=lambda wc: regression_options(wc.study)["folds"],
        code=code_version("stimuli_it.py"),
    script:
        "../../scripts/stimuli_it.py"


rule stimuli_auditory:
    input:
        stimulus_download("sounds"),
    output:
        table="results/stimuli/{study}.tsv",
        sounds="results/stimuli/{study}.sounds.npy",
    log:
        "logs/stimuli/{study}.log",
    wildcard_constraints:
        study=kind_regex("auditory"),
    group:
        "prepare"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        options=lambda wc: study_config(wc.study)["sounds"],
        folder=lambda wc: stimulus_folder(wc.study, "sounds", "wav_folder"),
        folds=lambda wc: regression_options(wc.study)["folds"],
        code=code_version("stimuli_auditory.py"),
    script:
        "../../scripts/stimuli_auditory.py"


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
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        dataset=lambda wc: dataset_params(wc.study),
        folds=lambda wc: regression_options(wc.study)["folds"],
        code=code_version("stimuli_story.py"),
    script:
        "../../scripts/stimuli_story.py"
