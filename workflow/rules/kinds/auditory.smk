# Study kind `auditory` — human auditory cortex: sounds, audio networks and a filter bank, simulated or real voxels.
# Its stages 1–3 (stimuli, recordings, activations); everything after them is shared.


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
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        options=lambda wc: study_config(wc.study)["sounds"],
        folder=lambda wc: stimulus_folder(wc.study, "sounds", "wav_folder"),
        verify=lambda wc: stimulus_verify(wc.study, "sounds"),
        folds=lambda wc: regression_options(wc.study)["folds"],
        code=code_version("stimuli_auditory.py"),
    script:
        "../../../scripts/stimuli_auditory.py"


rule recordings_auditory:
    input:
        stimuli="results/stimuli/{study}.tsv",
        dataset=dataset_inputs,
        own=own_recordings_inputs,
        sounds="results/stimuli/{study}.sounds.npy",
    output:
        recordings="results/recordings/{study}.npz",
        voxels="results/recordings/{study}.voxels.tsv",
    log:
        "logs/recordings/{study}.log",
    wildcard_constraints:
        study=kind_regex("auditory"),
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
        sample_rate=lambda wc: study_config(wc.study)["sounds"]["sample_rate"],
        dataset=lambda wc: dataset_params(wc.study),
        own=lambda wc: own_recordings(wc.study),
        code=code_version("recordings_auditory.py"),
    script:
        "../../../scripts/recordings_auditory.py"


rule activations_auditory:
    input:
        stimuli="results/stimuli/{study}.tsv",
        sounds="results/stimuli/{study}.sounds.npy",
    output:
        "results/activations/{study}/{model}.npz",
    log:
        "logs/activations/{study}/{model}.log",
    benchmark:
        "benchmarks/activations/{study}/{model}.tsv"
    wildcard_constraints:
        study=kind_regex("auditory"),
    conda:
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        options=lambda wc: model_options(wc.study, wc.model),
        sample_rate=lambda wc: study_config(wc.study)["sounds"]["sample_rate"],
        code=code_version("activations_auditory.py"),
    script:
        "../../../scripts/activations_auditory.py"
