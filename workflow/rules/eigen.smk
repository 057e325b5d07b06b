# Per layer, once: the centred Gram, its eigendecomposition and that of every training fold of the
# regression (docs/design.md#basis) → results/eigen/{study}/{model}.npz, read by the spectra,
# regression, theory, controls and metrics stages (none of them forms a Gram or runs an eigh of
# its own for these matrices).


rule eigen:
    input:
        activations="results/activations/{study}/{model}.npz",
        stimuli="results/stimuli/{study}.tsv",
    output:
        eigen_output("results/eigen/{study}/{model}.npz"),
    log:
        "logs/eigen/{study}/{model}.log",
    benchmark:
        "benchmarks/eigen/{study}/{model}.tsv"
    group:
        "layer"
    conda:
        "../../envs/predictivity.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: int(2000 + 6 * input.size_mb) * attempt,
        runtime=lambda wc, input, attempt: int(10 + input.size_mb // 20) * attempt,
    params:
        # the regression's folds (same K, seed and stimulus groups) — every reader checks them;
        # only these: the alpha grid and its selection do not enter the basis
        folds=lambda wc: regression_options(wc.study)["folds"],
        seed=lambda wc: regression_options(wc.study)["seed"],
        code=code_version("eigen.py"),
    script:
        "../../scripts/eigen.py"
