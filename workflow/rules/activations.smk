# Stage 3 — per-layer activations stimuli × units in the recordings' stimulus order:
# results/activations/{study}/{model}.npz (one array per layer, in layer order)


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
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: int(1000 + 3 * input.size_mb),
        runtime=10,
    params:
        dtype=lambda wc: study_config(wc.study)["dtype"],
        code=code_version("activations_precomputed.py"),
    script:
        "../../scripts/activations_precomputed.py"


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
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=20,
    params:
        options=lambda wc: model_options(wc.study, wc.model),
        code=code_version("activations_language.py"),
    script:
        "../../scripts/activations_language.py"


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
        "../../envs/predictivity.yaml"
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
        "../../scripts/train_mec.py"


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
        "../../envs/predictivity.yaml"
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
        "../../scripts/activations_mec.py"


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
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        options=lambda wc: model_options(wc.study, wc.model),
        code=code_version("activations_it.py"),
    script:
        "../../scripts/activations_it.py"


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
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        options=lambda wc: model_options(wc.study, wc.model),
        sample_rate=lambda wc: study_config(wc.study)["sounds"]["sample_rate"],
        code=code_version("activations_auditory.py"),
    script:
        "../../scripts/activations_auditory.py"


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
        "../../envs/predictivity.yaml"
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
        "../../scripts/activations_story.py"
