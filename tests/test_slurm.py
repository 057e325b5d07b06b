"""The workflow on a real SLURM cluster: a small study through
`--profile workflow/profiles/slurm` gives the same tables as a local run.

The cluster is the single-node one of `.ci/start-slurm.sh` (Debian slurm-wlm + munge, started as
root without systemd; idempotent, instant when already up). Where it cannot start (not root, no
apt, daemons fail) or the executor plugin is missing, the test is skipped with the reason — unless
PREDICTIVITY_REQUIRE_SLURM=1 (set by .ci/run after starting the cluster), where it fails instead.
Each DAG level costs ~15 s on SLURM here; the study runs in 3 levels (group "prepare", one
group "layer" job per model, group "aggregate").
"""

import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from conftest import REPO, SNAKEFILE, run_snakemake, write_study

pytestmark = pytest.mark.slurm

START = REPO / ".ci" / "start-slurm.sh"
PROFILE = REPO / "workflow" / "profiles" / "slurm"
REASONS = {
    2: "not root",
    3: "cannot install slurm-wlm/munge with apt",
    4: "the SLURM daemons did not start or the node takes no jobs",
}


def _unavailable(reason: str):
    if os.environ.get("PREDICTIVITY_REQUIRE_SLURM") == "1":
        pytest.fail(f"SLURM required (PREDICTIVITY_REQUIRE_SLURM=1) but unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm_cluster():
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        _unavailable("snakemake-executor-plugin-slurm is not installed (pip install -e .)")
    if os.geteuid() != 0:
        _unavailable("not root: .ci/start-slurm.sh starts munged, slurmctld and slurmd as root")
    if shutil.which("bash") is None:
        _unavailable("no bash to run .ci/start-slurm.sh")
    try:
        proc = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        _unavailable(".ci/start-slurm.sh did not finish within 900 s")
    if proc.returncode != 0:
        why = REASONS.get(proc.returncode, f"exit code {proc.returncode}")
        _unavailable(f".ci/start-slurm.sh failed ({why}): {(proc.stdout + proc.stderr)[-1500:]}")


def _run_on_slurm(work, cfg, timeout=900):
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
        "--configfile",
        str(cfgfile),
        "--replace-workflow-config",
        "--profile",
        str(PROFILE),
        # the profile asks 2–4 cores for heavy rules; the local node may have 2, and one
        # thread per job matches the local run exactly
        "--max-threads",
        "1",
        "--latency-wait",
        "10",
        "--retries",
        "0",
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    try:
        proc = subprocess.run(
            cmd, cwd=work.parent, capture_output=True, text=True, env=env, timeout=timeout
        )
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"") + (e.stderr or b"")
        out = out.decode() if isinstance(out, bytes) else out
        ids = re.findall(r"submitted with SLURM jobid (\d+)", out)
        if ids:  # cancel only the jobs this run submitted
            subprocess.run(["scancel", *ids], capture_output=True)
        pytest.fail(f"snakemake on SLURM did not finish in {timeout} s:\n{out[-6000:]}")
    out = proc.stdout + proc.stderr
    hint = ""
    if re.search(r"results/\w+/(?!toy/)[\w.-]+/", out):
        hint = (
            "\nHINT: a cluster job saw studies that are not in the given config: jobs get "
            "--configfile but not --replace-workflow-config (Snakemake 9.27), so the Snakefile "
            "must load config/config.yaml only when no --configfile is given."
        )
    assert proc.returncode == 0, (
        f"snakemake on SLURM failed ({proc.returncode}):\n{out[-8000:]}{hint}"
    )
    return out


def test_small_study_on_slurm_equals_local_run(slurm_cluster, tmp_path):
    local = tmp_path / "local"
    local.mkdir()
    cfg = write_study(local / "data")
    run_snakemake(local, cfg)

    work = tmp_path / "slurm"
    work.mkdir()
    assert write_study(work / "data") == cfg  # the same seeded study, the same relative paths
    out = _run_on_slurm(work, cfg)

    assert "submitted with SLURM jobid" in out, out[-4000:]
    assert "Group job prepare" in out and "Group job aggregate" in out, out[-4000:]

    for f in (
        "results/tables/layers.parquet",
        "results/regression/toy/m1.parquet",
        "results/theory/toy/m1.parquet",
        "results/tables/fits.parquet",
    ):
        a, b = pd.read_parquet(work / f), pd.read_parquet(local / f)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=0, atol=1e-12, obj=f)

    # the cluster run is complete: nothing left to do, also for a local run
    again = run_snakemake(work, cfg, "-n")
    assert "Nothing to be done" in again.output, again.output[-3000:]
