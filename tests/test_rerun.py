"""Only what changed reruns: after one complete run of a small two-model study,
(a) nothing changed → no job; (b) one model changed → that model's jobs and the tables only;
(c) regression alphas changed → regression and what follows, never stimuli, recordings or
activations; (d) an edited package module reruns the stages that import it (rule params carry a
hash of the modules in each script's import closure, `code_version()` in common.smk): the
ridge solver reruns regression and theory only, the runner's log format reruns nothing; (e) a run killed with SIGKILL resumes with
`--rerun-incomplete` and gives tables identical to an uninterrupted run.

Plans are read from `snakemake -n` (one "rule NAME:" block per planned job, with its wildcards).
"""

import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, SNAKEFILE, run_snakemake, write_study

pytestmark = pytest.mark.workflow

MODELS = ("m1", "m2")
AGGREGATE = {
    "layers_table",
    "fits",
    "figures",
    "benchmarks_table",
    "metric_agreement",
    "decomposition_table",
    "best_layer_table",
}
UPSTREAM = {"stimuli_precomputed", "recordings_precomputed", "activations_precomputed"}


def planned(output: str) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run plans, the target rule `all` left out."""
    jobs = []
    for line in output.splitlines():
        m = re.match(r"^\s*(?:local)?rule (\w+):\s*$", line)
        if m:
            jobs.append((m.group(1), {}))
            continue
        m = re.match(r"^\s+wildcards: (.*)$", line)
        if m and jobs:
            jobs[-1][1].update(kv.split("=", 1) for kv in m.group(1).split(", "))
    return [(rule, wc) for rule, wc in jobs if rule != "all"]


def rules(jobs) -> set[str]:
    return {rule for rule, _ in jobs}


def dry_run(work: Path, cfg: dict, **kw) -> list[tuple[str, dict]]:
    return planned(run_snakemake(work, cfg, "-n", **kw).output)


def clone(src: Path, dst: Path) -> Path:
    """A copy of a finished working directory (results, logs, .snakemake metadata, mtimes)."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A complete run of a small precomputed study with two models: (workdir, config)."""
    work = tmp_path_factory.mktemp("rerun") / "work"
    work.mkdir()
    cfg = write_study(work / "data", models=MODELS)
    run_snakemake(work, cfg)
    assert (work / "results/tables/layers.parquet").exists()
    return work, cfg


def test_a_nothing_changed_plans_no_job(done):
    work, cfg = done
    proc = run_snakemake(work, cfg, "-n")
    assert planned(proc.output) == [], proc.output[-3000:]
    assert "Nothing to be done" in proc.output


# every per-(study, model) stage of a precomputed study
PER_MODEL = {
    "activations_precomputed",
    "eigen",
    "spectra",
    "regression",
    "theory",
    "metrics",
    "controls",
}


def _expect_one_model(jobs, model="m2"):
    per_model = PER_MODEL
    assert rules(jobs) == per_model | AGGREGATE, jobs
    for rule, wc in jobs:
        if rule in per_model:
            assert wc == {"study": "toy", "model": model}, (rule, wc)


def test_b_one_model_file_replaced_reruns_that_model_only(done, tmp_path):
    """The model's activation file gets new content (same path, newer mtime)."""
    work = clone(done[0], tmp_path / "work")
    write_study(tmp_path / "other", seed=1, models=("m2",))
    os.replace(tmp_path / "other/m2.npz", work / "data/m2.npz")
    _expect_one_model(dry_run(work, done[1]))


def test_b_one_model_option_changed_reruns_that_model_only(done, tmp_path):
    """A per-model option of the precomputed kind: the model's `.npz` path (`models.m2`)."""
    work = clone(done[0], tmp_path / "work")
    shutil.copy2(work / "data/m1.npz", work / "data/m2_v2.npz")
    cfg = copy.deepcopy(done[1])
    cfg["studies"]["toy"]["models"]["m2"] = "data/m2_v2.npz"
    _expect_one_model(dry_run(work, cfg))


def test_b_trained_flag_of_one_model_reruns_tables_only(done):
    """`trained: {m2: false}` only labels rows: tables, fits and figures, no model stage."""
    work, cfg = done
    cfg = copy.deepcopy(cfg)
    cfg["studies"]["toy"]["trained"] = {"m2": False}
    assert rules(dry_run(work, cfg)) == AGGREGATE


def test_c_regression_alphas_changed(done):
    work, cfg = done
    cfg = copy.deepcopy(cfg)
    cfg["regression"]["alphas"] = [0.1, 1.0, 10.0, 100.0]
    jobs = dry_run(work, cfg)
    # the controls score with the regression's alpha grid (docs/controls.md)
    assert rules(jobs) == {"regression", "theory", "controls"} | AGGREGATE, jobs
    for stage in ("regression", "theory", "controls"):
        assert sorted(wc["model"] for r, wc in jobs if r == stage) == list(MODELS)


def _repo_copy(dst: Path) -> Path:
    """The workflow's files (what a clone holds), without results, logs, caches or tests."""
    top = {"results", "logs", "benchmarks", ".snakemake", ".git", ".pytest_cache", "tests", ".ci"}

    def ignore(d, names):
        out = {n for n in names if n in ("__pycache__", ".snakemake") or n.endswith(".egg-info")}
        if Path(d).resolve() == REPO:
            out |= top & set(names)
        return out

    shutil.copytree(REPO, dst, ignore=ignore, symlinks=True)
    return dst


# module edited → the stages that must rerun (besides the tables, fits and figures after them)
# (the controls stage imports both: core.controls.profiles uses the theory, scoring the spectra)
EDITS = {
    "core/theory.py": {"theory", "controls"},
    "core/spectra.py": {"spectra", "theory", "controls"},
}


def test_d_edited_package_module_reruns_its_stages(done, tmp_path):
    repo = _repo_copy(tmp_path / "repo")
    work = clone(done[0], tmp_path / "work")
    cfg = done[1]
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(repo / "workflow"))

    def smk(*args):
        cmd = [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(repo / "Snakefile"),
            "--directory",
            str(work),
            "--cores",
            "2",
            "--configfile",
            str(work / "config.yaml"),
            "--replace-workflow-config",
            *args,
        ]
        proc = subprocess.run(
            cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-6000:]
        return out

    # the copy is the same workflow: nothing to do (script paths are not part of provenance)
    assert planned(smk("-n")) == []

    marker = "PREDICTIVITY-EDITED-COPY"
    edited = set()
    for module, stages in EDITS.items():  # edits accumulate: each adds its stages to the plan
        path = repo / "workflow/predictivity" / module
        path.write_text(
            path.read_text() + f'\nimport sys as _sys\nprint("{marker}", file=_sys.stderr)\n'
        )
        edited |= stages
        jobs = planned(smk("-n"))
        assert edited <= rules(jobs) <= edited | AGGREGATE, (module, jobs)
        assert not rules(jobs) & (UPSTREAM | {"regression"}), (module, jobs)

    # run it for real: the copy's package is the one imported (PYTHONPATH), then nothing is left
    out = smk()
    assert marker in out
    assert planned(smk("-n")) == []


def _repo_smk(repo: Path, work: Path, cfg: dict, tmp_path: Path):
    """A runner of the workflow copy in ``repo`` (its own package first on PYTHONPATH) on ``work``."""
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(repo / "workflow"))

    def smk(*args):
        cmd = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory"]
        cmd += [str(work), "--cores", "2", "--configfile", str(work / "config.yaml")]
        cmd += ["--replace-workflow-config", *args]
        proc = subprocess.run(
            cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-6000:]
        return out

    return smk


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_d_ridge_solver_edit_reruns_the_stages_that_solve_ridge_and_the_tables(done, tmp_path):
    repo = _repo_copy(tmp_path / "repo")
    work = clone(done[0], tmp_path / "work")
    smk = _repo_smk(repo, work, done[1], tmp_path)
    _append(repo / "workflow/predictivity/core/ridge.py", "\n_EDITED = True\n")
    jobs = planned(smk("-n"))
    # the metrics (folds) and controls (the solver) import core.ridge too
    stages = {"regression", "theory", "controls", "metrics"}
    assert stages <= rules(jobs) <= stages | AGGREGATE, jobs
    assert sorted(wc["model"] for r, wc in jobs if r == "regression") == list(MODELS)


def test_d_log_format_edit_reruns_nothing(done, tmp_path):
    repo = _repo_copy(tmp_path / "repo")
    work = clone(done[0], tmp_path / "work")
    smk = _repo_smk(repo, work, done[1], tmp_path)
    runner = repo / "workflow/predictivity/scripting.py"
    text = runner.read_text()
    assert "%(asctime)s %(levelname)s" in text
    runner.write_text(text.replace("%(asctime)s %(levelname)s", "%(asctime)s [%(levelname)s]"))
    assert planned(smk("-n")) == []


def _tables(work: Path) -> dict[str, pd.DataFrame]:
    files = ["results/tables/layers.parquet", "results/tables/fits.parquet"]
    files += [
        f"results/{stage}/toy/{m}.parquet"
        for stage in ("regression", "spectra", "theory")
        for m in MODELS
    ]
    return {f: pd.read_parquet(work / f) for f in files}


def test_e_sigkill_mid_run_then_rerun_incomplete_gives_identical_tables(done, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    cfg = write_study(work / "data", models=MODELS)  # the same seeded study as `done`
    cfgfile = work / "config.yaml"
    cfgfile.write_text(yaml.safe_dump(cfg))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(work),
        "--cores",
        "2",
        "--configfile",
        str(cfgfile),
        "--replace-workflow-config",
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    # own session: the kill takes snakemake and the jobs it started, like a crashed node
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not list(work.glob("logs/regression/toy/*.log")):
            assert proc.poll() is None, "snakemake ended before the regression stage began"
            assert time.monotonic() < deadline, "no regression log after 300 s"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
    assert not (work / "results/tables/layers.parquet").exists(), "killed too late"

    # SIGKILL leaves Snakemake's lock behind: `--unlock` first (README), then resume
    run_snakemake(work, cfg, "--unlock")
    resumed = run_snakemake(work, cfg, "--rerun-incomplete")
    assert "Nothing to be done" not in resumed.output
    assert planned(run_snakemake(work, cfg, "-n").output) == []

    ours, reference = _tables(work), _tables(done[0])
    for name, df in reference.items():
        pd.testing.assert_frame_equal(ours[name], df, check_exact=True, obj=name)
    with (
        np.load(work / "results/recordings/toy.npz") as a,
        np.load(done[0] / "results/recordings/toy.npz") as b,
    ):
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])
