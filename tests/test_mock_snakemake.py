"""Every script runs alone for debugging: mock_snakemake builds its job from the workflow."""

import os
import runpy
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from predictivity.scripting import mock_snakemake

pytestmark = pytest.mark.workflow


def test_mock_job_of_a_precomputed_study_runs_its_script(study):
    work, cfg = study
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    smk = mock_snakemake(
        "stimuli_precomputed", configfiles=work / "config.yaml", workdir=work, study="toy"
    )
    assert smk.input.recordings == str(work / "data/rec.npy")
    assert list(smk.input.stimulus_ids) == [str(work / "data/ids.txt")]
    assert smk.output[0] == str(work / "results/stimuli/toy.tsv")
    assert smk.log[0] == str(work / "logs/stimuli/toy.log")
    assert smk.params.folds == 5 and smk.threads == 1
    assert smk.config["theory"]["p_min"] == 5  # the validated config, defaults filled
    assert smk.wildcards.study == "toy" and smk.rule == "stimuli_precomputed"

    cwd = os.getcwd()
    try:  # the script as Snakemake runs it: `snakemake` is already in its globals
        runpy.run_path(
            str(REPO / "scripts/stimuli_precomputed.py"),
            init_globals={"snakemake": smk},
            run_name="__main__",
        )
    finally:
        os.chdir(cwd)
    table = pd.read_csv(work / "results/stimuli/toy.tsv", sep="\t")
    assert list(table["stimulus_id"]) == [f"s{i}" for i in range(60)]
    assert "60 stimuli" in (work / "logs/stimuli/toy.log").read_text()


def test_script_runs_alone_on_the_demo_config(tmp_path):
    """`python scripts/simulate_precomputed.py` from a project directory: its stub builds the
    demo's job (study config/config.yaml) and writes the demo arrays there."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts/simulate_precomputed.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "results/simulated/demo"
    assert np.load(out / "recordings.npy").shape == (300, 120, 3)
    assert len(np.load(out / "relu_net.npz").files) == 6
    assert (tmp_path / "logs/simulate/demo.log").exists()


def test_wrong_wildcards_and_missing_inputs_are_named(study):
    work, cfg = study
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    kw = {"configfiles": work / "config.yaml", "workdir": work}
    with pytest.raises(ValueError, match=r"needs the wildcards \['model', 'study'\]"):
        mock_snakemake("regression", study="toy", **kw)
    with pytest.raises(ValueError, match="no rule 'regresion'"):
        mock_snakemake("regresion", study="toy", model="m1", **kw)
    with pytest.raises(FileNotFoundError, match=r"results/recordings/toy\.npz.*snakemake "):
        mock_snakemake("regression", study="toy", model="m1", **kw)
    assert not (work / "results").exists()  # nothing is created for a job that cannot run
