# Study kind `mec` — mouse MEC: arena bins, path-integrating RNNs trained here, simulated or real rate maps.
# Its stages 1–3 (stimuli, recordings, activations); everything after them is shared.


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
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        options=lambda wc: study_config(wc.study)["stimuli"],
        folds=lambda wc: regression_options(wc.study)["folds"],
        code=code_version("stimuli_mec.py"),
    script:
        "../../../scripts/stimuli_mec.py"


rule recordings_mec:
    input:
        stimuli="results/stimuli/{study}.tsv",
        dataset=dataset_inputs,
    output:
        recordings="results/recordings/{study}.npz",
        cells="results/recordings/{study}.cells.tsv",
    log:
        "logs/recordings/{study}.log",
    wildcard_constraints:
        study=kind_regex("mec"),
    group:
        "prepare"
    conda:
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        options=lambda wc: study_config(wc.study)["recordings"],
        box_width=lambda wc: study_config(wc.study)["stimuli"]["box_width"],
        dataset=lambda wc: dataset_params(wc.study),
        n_bins=lambda wc: study_config(wc.study)["stimuli"]["n_bins"],
        code=code_version("recordings_mec.py"),
    script:
        "../../../scripts/recordings_mec.py"


rule train_mec:
    output:
        model="results/models/{study}/{model}.pt",
        history="results/models/{study}/{model}.history.tsv",
    log:
        "logs/train/{study}/{model}.log",
    benchmark:
        "benchmarks/train/{study}/{model}.tsv"
    wildcard_constraints:
        study=kind_regex("mec"),
    group:
        "mec_model"
    conda:
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=60,
    params:
        network=lambda wc: mec_network(wc.study, wc.model),
        training=lambda wc: mec_training(wc.study, wc.model),
        trajectories=lambda wc: study_config(wc.study)["trajectories"],
        box_width=lambda wc: study_config(wc.study)["stimuli"]["box_width"],
        code=code_version("train_mec.py"),
    script:
        "../../../scripts/train_mec.py"


rule activations_mec:
    input:
        model="results/models/{study}/{model}.pt",
        stimuli="results/stimuli/{study}.tsv",
    output:
        "results/activations/{study}/{model}.npz",
    log:
        "logs/activations/{study}/{model}.log",
    benchmark:
        "benchmarks/activations/{study}/{model}.tsv"
    wildcard_constraints:
        study=kind_regex("mec"),
    group:
        "mec_model"
    conda:
        "../../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        network=lambda wc: mec_network(wc.study, wc.model),
        rate_maps=lambda wc: study_config(wc.study)["rate_maps"],
        trajectories=lambda wc: study_config(wc.study)["trajectories"],
        stimuli=lambda wc: study_config(wc.study)["stimuli"],
        code=code_version("activations_mec.py"),
    script:
        "../../../scripts/activations_mec.py"
