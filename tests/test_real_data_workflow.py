"""Real data sets end to end: config/real.yaml plans offline; a download (file:// URL) flows through
the sha256 check and a real-format loader into the tables; a changed download is refused."""

import shutil
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io as sio
import yaml
from conftest import REPO, run_snakemake
from scipy.io import wavfile

from predictivity.studies.auditory.sounds import synthesize_sounds

pytestmark = pytest.mark.workflow


def test_real_config_validates_and_dry_run_lists_the_jobs(tmp_path):
    work = tmp_path / "w"
    (work / "data/nh2015_sounds").mkdir(parents=True)
    (work / "data/hvm_public_images").mkdir(parents=True)
    (work / "data/ds003020").mkdir(parents=True)
    np.save(work / "data/mec_rate_maps.npy", np.zeros((2, 20, 20)))  # stands in for the user's file
    cfg = yaml.safe_load((REPO / "config/real.yaml").read_text())
    proc = run_snakemake(work, cfg, "-n")
    for rule, count in [
        ("download", 3),
        ("stimuli_auditory", 2),
        ("recordings_auditory", 2),
        ("stimuli_language", 1),
        ("activations_language", 5),
        ("stimuli_story", 1),
        ("activations_story", 4),
        ("stimuli_it", 1),
        ("recordings_it", 1),
        ("activations_it", 5),
        ("recordings_mec", 1),
        ("train_mec", 4),
        ("layers_table", 1),
    ]:
        assert any(line.split() == [rule, str(count)] for line in proc.output.splitlines()), (
            rule,
            proc.output[-3000:],
        )


def _components_release(root: Path, names, seed=0):
    """A tar like the Tuckute et al. release, holding data/neural/NH2015comp/components.mat (MATLAB v5)."""
    rng = np.random.default_rng(seed)
    comp = root / "release/data/neural/NH2015comp"
    comp.mkdir(parents=True)
    cell = lambda xs: np.array([[x] for x in xs], dtype=object)  # noqa: E731
    R = rng.standard_normal((len(names), 6))
    sio.savemat(
        comp / "components.mat",
        {
            "R": R,
            "W": rng.standard_normal((6, 40)),
            "stim_names": cell(names),
            "component_names": cell([f"comp{i}" for i in range(6)]),
        },
    )
    tar = root / "data.tar"
    with tarfile.open(tar, "w") as t:
        t.add(root / "release/data", arcname="data")
    return tar, R


def test_download_flows_into_tables_and_a_changed_file_is_refused(tmp_path):
    work = tmp_path / "w"
    wavs = work / "sounds"
    wavs.mkdir(parents=True)
    sounds, table = synthesize_sounds(22, duration=0.5, sample_rate=16000, seed=0)
    names = [f"stim{i}_{c}" for i, c in enumerate(table["category"])]
    for name, x in zip(names, sounds):
        wavfile.write(wavs / f"{name}.wav", 16000, x)
    tar, R = _components_release(tmp_path / "src", names[::-1])  # recordings in another order
    cfg = {
        "checksums": str(tmp_path / "checksums.tsv"),
        "downloads": {"comp": {"url": tar.as_uri(), "unpack": True}},
        "studies": {
            "nh2015_components": {
                "kind": "auditory",
                "sounds": {"wav_folder": "sounds", "duration": 0.5},
                "dataset": {"loader": "nh2015_components", "download": "comp"},
                "models": {"filterbank": {"network": "filterbank"}},
            }
        },
        "theory": {"n_p": 3, "n_subsets": 2},
        "fits": {"n_boot": 20},
    }
    run_snakemake(work, cfg)
    rec = np.load(work / "results/recordings/nh2015_components.npz")
    stimuli = pd.read_csv(work / "results/stimuli/nh2015_components.tsv", sep="\t")
    # aligned by name: row k of the recordings is the response to the k-th WAV of the stimulus table
    expected = R[[names[::-1].index(s) for s in stimuli["stimulus_id"]]]
    np.testing.assert_allclose(rec["mean"], expected)
    assert list(rec["target_name"]) == [f"comp{i}" for i in range(6)]
    layers = pd.read_parquet(work / "results/tables/layers.parquet")
    assert (layers["n_targets"] == 6).all() and len(layers) == 4
    # the first download's hash is recorded in the working directory, not in `checksums`
    recorded = (work / "results/downloads/checksums.tsv").read_text()
    assert "downloads.comp" in recorded and not (tmp_path / "checksums.tsv").exists()

    # the source changes: the recorded sha256 no longer matches → one clear error, nothing left
    shutil.rmtree(tmp_path / "src")
    _components_release(tmp_path / "src", names[::-1], seed=1)
    shutil.rmtree(work / "results")
    (work / "results/downloads").mkdir(parents=True)
    (work / "results/downloads/checksums.tsv").write_text(recorded)
    proc = run_snakemake(work, cfg, check=False)
    assert proc.returncode != 0
    assert "downloads.comp" in proc.output and "sha256" in proc.output
    assert not (work / "results/downloads/comp").exists()
    leftovers = (
        list((work / "results/downloads").iterdir())
        if (work / "results/downloads").exists()
        else []
    )
    assert [p.name for p in leftovers] == ["checksums.tsv"], leftovers


def test_pereira_sentences_and_passage_groups_flow_through(tmp_path):
    """A Pereira 2018 participant file (MATLAB v5, real layout): the sentences become the stimuli,
    passages the CV groups, and the voxels the recordings."""
    from test_builtin_workflow import SENTENCES

    rng = np.random.default_rng(3)
    n = len(SENTENCES)
    X = rng.standard_normal((n, 12))
    passage = np.repeat(np.arange(1, 6), 3)[:n].astype(float)
    cell = lambda xs: np.array([[x] for x in xs], dtype=object)  # noqa: E731
    work = tmp_path / "w"
    (work / "P01").mkdir(parents=True)
    sio.savemat(
        work / "P01/data_384sentences.mat",
        {
            "examples_passagesentences": X,
            "keySentences": cell(SENTENCES),
            "labelsPassageForEachSentence": passage[:, None],
        },
    )
    cfg = {
        "studies": {
            "pereira": {
                "kind": "language",
                "dataset": {"loader": "pereira2018", "path": "P01/data_384sentences.mat"},
                "models": {"minilm_untrained": {"network": "minilm", "trained": False}},
            }
        },
        "theory": {"n_p": 3, "n_subsets": 2},
        "fits": {"n_boot": 20},
    }
    run_snakemake(work, cfg)
    stimuli = pd.read_csv(work / "results/stimuli/pereira.tsv", sep="\t")
    assert list(stimuli["sentence"]) == SENTENCES and stimuli["group"].nunique() == 5
    rec = np.load(work / "results/recordings/pereira.npz")
    np.testing.assert_allclose(rec["mean"], X)
    layers = pd.read_parquet(work / "results/tables/layers.parquet")
    assert len(layers) == 7 and (layers["n_targets"] == 12).all()


def test_lebel_story_study_flows_through(tmp_path):
    """LeBel et al. 2023 layout (derivative/preprocessed_data/<subject>/<story>.hf5 + TextGrids):
    TRs become the stimuli, stories the CV groups, and MiniLM's word features the activations."""
    from test_datasets import write_lebel

    work = tmp_path / "w"
    rng = np.random.default_rng(5)
    stories = {"alternateithicatom": 60, "souls": 48, "avatar": 52}
    write_lebel(work / "ds003020", rng, stories, n_vox=8)
    cfg = {
        "studies": {
            "lebel": {
                "kind": "story",
                "dataset": {
                    "loader": "lebel2023",
                    "path": "ds003020",
                    "options": {"subject": "UTS01", "stories": list(stories)},
                },
                "features": {"delays": [1, 2], "context_words": 16},
                "models": {"minilm": {"network": "minilm"}},
            }
        },
        "regression": {"folds": 3},
        "theory": {"n_p": 3, "n_subsets": 2},
        "fits": {"n_boot": 20},
    }
    run_snakemake(work, cfg)
    stimuli = pd.read_csv(work / "results/stimuli/lebel.tsv", sep="\t")
    assert len(stimuli) == sum(v - 20 for v in stories.values()) and stimuli["group"].nunique() == 3
    layers = pd.read_parquet(work / "results/tables/layers.parquet")
    assert (
        len(layers) == 7
        and (layers["n_units"] == 2 * 384).all()
        and (layers["n_targets"] == 8).all()
    )

    cfg["regression"]["folds"] = 5  # 3 stories cannot fill 5 folds: one clear error
    shutil.rmtree(work / "results")
    proc = run_snakemake(work, cfg, check=False)
    assert (
        proc.returncode != 0
        and "3 stimulus groups" in proc.output
        and "regression.folds" in proc.output
    )
