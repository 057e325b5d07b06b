"""Shared fixtures: a small precomputed study on disk and a runner for the real workflow."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"


def run_snakemake(workdir: Path, config: dict | None = None, *args: str, check: bool = True):
    """Run the real workflow from *another* directory, with only the given config (the README's
    "run from anywhere" form). Returns the CompletedProcess (stdout+stderr merged)."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--cores",
        "2",
    ]
    if config is not None:
        cfg = workdir / "config.yaml"
        cfg.write_text(yaml.safe_dump(config))
        cmd += ["--configfile", str(cfg), "--replace-workflow-config"]
    cmd += list(args)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        cmd, cwd=workdir.parent, capture_output=True, text=True, env=env, timeout=900
    )
    proc.output = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.output[-6000:]}")
    return proc


def write_study(root: Path, P=60, N=8, R=2, layers=((40,), (90,), (5, 6)), seed=0, models=("m1",)):
    """Random recordings (P × N × R) and per-model .npz layers; returns a precomputed config."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    Z = rng.standard_normal((P, 10))
    Y = Z @ rng.standard_normal((10, N))
    Yr = Y[:, :, None] + rng.standard_normal((P, N, R)) * 0.7
    np.save(root / "rec.npy", Yr.astype(np.float64))
    (root / "ids.txt").write_text("".join(f"s{i}\n" for i in range(P)))
    model_paths = {}
    for m in models:
        arrays = {}
        for l_i, shape in enumerate(layers):
            W = rng.standard_normal((10, int(np.prod(shape))))
            A = np.maximum(Z @ W + rng.standard_normal((P, W.shape[1])) * 0.5, 0)
            arrays[f"L{l_i}"] = A.reshape((P,) + tuple(shape)).astype(np.float32)
        np.savez(root / f"{m}.npz", **arrays)
        model_paths[m] = f"{root.name}/{m}.npz"
    return {
        "studies": {
            "toy": {
                "kind": "precomputed",
                "recordings": f"{root.name}/rec.npy",
                "stimulus_ids": f"{root.name}/ids.txt",
                "models": model_paths,
            }
        },
        "regression": {"folds": 5, "seed": 0},
        "theory": {"n_p": 5, "n_subsets": 2},
    }


@pytest.fixture(scope="session")
def builtin_run(tmp_path_factory):
    """One complete run of the tiny four-kind built-in config (test_builtin_workflow.tiny_config),
    shared by every test that only reads it or clones it: (workdir, config). Never modify it."""
    from test_builtin_workflow import SENTENCES, tiny_config

    work = tmp_path_factory.mktemp("builtin") / "work"
    work.mkdir()
    sentences = work / "sentences.txt"
    sentences.write_text("\n".join(SENTENCES) + "\n")
    cfg = tiny_config(sentences)
    run_snakemake(work, cfg)
    return work, cfg


@pytest.fixture
def study(tmp_path):
    """(workdir, config) of a small precomputed study; inputs under workdir/data."""
    work = tmp_path / "work"
    work.mkdir()
    cfg = write_study(work / "data")
    return work, cfg


def _no_network(*args, **kwargs):
    raise AssertionError("network access attempted (tests must run offline)")


@pytest.fixture(scope="module")
def no_network():
    """HF_HUB_OFFLINE=1 and no socket may connect, for a whole test module (packaged models must
    load from site-packages, never from a hub)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        yield
