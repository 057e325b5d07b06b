# Grid-cell criteria of mec studies (docs/mec_criteria.md): per unit of every layer of a model,
# and per recorded cell → results/mec_criteria/{study}/{model}.parquet and recordings.parquet,
# each with a per-layer torus table {…}.topology.parquet.


ruleorder: mec_criteria_recordings > mec_criteria_model


rule mec_criteria_model:
    input:
        activations="results/activations/{study}/{model}.npz",
        stimuli="results/stimuli/{study}.tsv",
    output:
        units="results/mec_criteria/{study}/{model}.parquet",
        topology="results/mec_criteria/{study}/{model}.topology.parquet",
    log:
        "logs/mec_criteria/{study}/{model}.log",
    benchmark:
        "benchmarks/mec_criteria/{study}/{model}.tsv"
    wildcard_constraints:
        study=kind_regex("mec"),
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: int(1500 + 40 * input.size_mb),
        runtime=30,
    params:
        criteria=mec_criteria_params,
        trajectories=lambda wc: study_config(wc.study)["trajectories"],
        box_width=lambda wc: study_config(wc.study)["stimuli"]["box_width"],
        code=code_version("mec_criteria.py"),
    script:
        "../../scripts/mec_criteria.py"


rule mec_criteria_recordings:
    input:
        recordings="results/recordings/{study}.npz",
        stimuli="results/stimuli/{study}.tsv",
    output:
        units="results/mec_criteria/{study}/recordings.parquet",
        topology="results/mec_criteria/{study}/recordings.topology.parquet",
    log:
        "logs/mec_criteria/{study}/recordings.log",
    benchmark:
        "benchmarks/mec_criteria/{study}/recordings.tsv"
    wildcard_constraints:
        study=kind_regex("mec"),
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input: int(1500 + 40 * input.size_mb),
        runtime=30,
    params:
        criteria=mec_criteria_params,
        trajectories=lambda wc: study_config(wc.study)["trajectories"],
        box_width=lambda wc: study_config(wc.study)["stimuli"]["box_width"],
        code=code_version("mec_criteria.py"),
    script:
        "../../scripts/mec_criteria.py"
