# Stage 2 — responses stimuli × targets × repetitions, constant targets dropped, noise ceiling:
# results/recordings/{study}.npz


def own_recordings(study):
    """A built-in study's own responses, `recordings: {path, stimulus_ids}`, or None."""
    return study_config(study).get("recordings")


def own_recordings_inputs(wildcards):
    """Input function: the responses file and its ids file (none when not given)."""
    own = own_recordings(wildcards.study)
    return [own["path"], own["stimulus_ids"]] if own else []


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
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: int(1000 + 6 * input.size_mb),
        runtime=5,
    params:
        code=code_version("recordings.py"),
    script:
        "../../scripts/recordings.py"


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
        "../../envs/predictivity.yaml"
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
        "../../scripts/recordings_language.py"


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
        "../../envs/predictivity.yaml"
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
        "../../scripts/recordings_mec.py"


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
        "../../envs/predictivity.yaml"
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
        "../../scripts/recordings_it.py"


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
        "../../envs/predictivity.yaml"
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
        "../../scripts/recordings_auditory.py"


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
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: 4000 + 3 * input.size_mb,
        runtime=10,
    params:
        dataset=lambda wc: dataset_params(wc.study),
        code=code_version("recordings_story.py"),
    script:
        "../../scripts/recordings_story.py"
