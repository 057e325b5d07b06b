"""Real data sets end to end: config/real.yaml plans offline from downloads alone; without network
the download job says where to put the file by hand; downloads (file:// URLs) flow through the
sha256 check into the stimuli (BrainIO stimulus set, WAV archive) and through real-format loaders
into the tables; a changed download is refused."""

import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io as sio
import yaml
from conftest import REPO, run_snakemake
from scipy.io import wavfile

from predictivity.datasets.download import MANIFEST
from predictivity.studies.auditory.sounds import synthesize_sounds

pytestmark = pytest.mark.workflow


def _job_inputs(output: str, rule: str) -> list[str]:
    """The inputs of a dry run's job of `rule` (the `input:` line of its block)."""
    blocks = output.split(f"rule {rule}:")[1:]
    assert blocks, f"no job of rule {rule}"
    line = next(ln for ln in blocks[0].splitlines() if ln.strip().startswith("input:"))
    return [x.strip() for x in line.split("input:", 1)[1].split(",")]


def test_real_config_plans_offline_from_downloads_alone(tmp_path):
    """config/real.yaml in an empty directory, offline: every input is a download job (no folder
    put in place by hand), and each stimuli job waits for the download of its stimulus set."""
    work = tmp_path / "w"
    work.mkdir()
    cfg = yaml.safe_load((REPO / "config/real.yaml").read_text())
    proc = run_snakemake(work, cfg, "-n")
    assert "MissingInputException" not in proc.output
    for rule, count in [
        ("download", 7),
        ("stimuli_auditory", 2),
        ("recordings_auditory", 2),
        ("stimuli_language", 1),
        ("activations_language", 5),
        ("stimuli_story", 1),
        ("activations_story", 4),
        ("stimuli_it", 1),
        ("recordings_it", 1),
        ("activations_it", 5),
        ("layers_table", 1),
    ]:
        assert any(line.split() == [rule, str(count)] for line in proc.output.splitlines()), (
            rule,
            proc.output[-3000:],
        )
    assert set(_job_inputs(proc.output, "stimuli_it")) == {
        "results/downloads/hvm_public_images",
        "results/downloads/hvm_public_csv",
    }
    assert _job_inputs(proc.output, "stimuli_auditory") == ["results/downloads/natsound165"]
    assert "results/downloads/lebel2023_UTS03" in _job_inputs(proc.output, "stimuli_story")
    assert not (work / "data").exists()


def test_no_network_fails_in_the_download_job_with_one_line(tmp_path):
    """An unreachable URL: the download job fails with one line naming the URL, the missing
    connection, where to put the file by hand (the path the job then takes it from, see
    test_download.py) and that its sha256 is not pinned yet; nothing is left in results/."""
    work = tmp_path / "w"
    work.mkdir()
    url = "http://127.0.0.1:9/release/assy.nc"
    cfg = {
        "downloads": {"assy": {"url": url}},
        "studies": {  # a study that reads it (only the download is run here)
            "a": {
                "kind": "auditory",
                "sounds": {"wav_folder": {"download": "assy"}},
                "models": {"filterbank": {"network": "filterbank"}},
            }
        },
    }
    proc = run_snakemake(work, cfg, "results/downloads/assy", check=False)
    assert proc.returncode != 0 and "Error in rule download" in proc.output
    lines = [ln for ln in proc.output.splitlines() if f"no connection to {url}" in ln]
    assert lines, proc.output[-3000:]
    hand = work / "data/downloads/assy/assy.nc"
    assert f"downloads.assy: no connection to {url} (" in lines[0]
    assert f"put the file at {hand} (" in lines[0]
    assert "not pinned yet" in lines[0]
    assert not (work / "results/downloads/assy").exists()


def _brainio_stimulus_set(root: Path, rng):
    """A BrainIO stimulus set like hvm-public: a CSV (image_id, filename, object_name, …) whose
    file names are not the ids, and a flat zip of the images; each image one colour."""
    from PIL import Image

    rows, colours = [], {}
    for k in range(10):
        image_id = f"{rng.integers(16**12):012x}{k:02d}"
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        rows.append(
            {
                "image_id": image_id,
                "filename": f"obj{k // 2}_view{k % 2}.png",
                "object_name": f"obj{k // 2}",
                "category_name": "cat" if k < 6 else "dog",
            }
        )
        colours[image_id] = colour
    zpath = root / "image_test_set.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for r in rows:
            img = Image.new("RGB", (48, 40), colours[r["image_id"]])
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            z.writestr(r["filename"], buf.getvalue())
    table = pd.DataFrame(rows).sample(frac=1.0, random_state=1)  # CSV order ≠ zip order
    csv = root / "image_test_set.csv"
    table.to_csv(csv, index=False)
    return csv, zpath, table, colours


def test_stimuli_come_from_downloaded_stimulus_sets(tmp_path):
    """Stimulus sets as downloads (file:// URLs): a BrainIO CSV + zip becomes the IT stimuli
    (ids and CV groups from the CSV, pixels from the zip's files), and a tar of WAVs the sounds."""
    src = tmp_path / "src"
    src.mkdir()
    csv, zpath, table, colours = _brainio_stimulus_set(src, np.random.default_rng(0))
    sounds, sound_table = synthesize_sounds(11, duration=0.5, sample_rate=16000, seed=0)
    names = [f"stim{i}_{c}" for i, c in enumerate(sound_table["category"])]
    wav_dir = src / "natsound/stimuli/wav"
    wav_dir.mkdir(parents=True)
    for name, x in zip(names, sounds):
        wavfile.write(wav_dir / f"{name}.wav", 16000, x)
    (wav_dir.parent / "category_labels.csv").write_text("not a sound\n")
    tar = src / "natsound.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        t.add(src / "natsound", arcname="natsound")
    cfg = {
        "downloads": {
            "sset_csv": {"url": csv.as_uri()},
            "sset_zip": {"url": zpath.as_uri(), "unpack": True},
            "sounds": {"url": tar.as_uri(), "unpack": True},
        },
        "studies": {
            "it": {
                "kind": "it",
                "images": {
                    "folder": {"download": "sset_zip"},
                    "stimulus_csv": {"download": "sset_csv", "path": "image_test_set.csv"},
                    "group_by": "object_name",
                    "image_size": 32,
                },
                "models": {"alexnet": {"arch": "alexnet"}},
            },
            "aud": {
                "kind": "auditory",
                "sounds": {
                    "wav_folder": {"download": "sounds", "path": "natsound/stimuli/wav"},
                    "duration": 0.5,
                },
                "models": {"filterbank": {"network": "filterbank"}},
            },
        },
    }
    work = tmp_path / "w"
    work.mkdir()
    run_snakemake(work, cfg, "results/stimuli/it.tsv", "results/stimuli/aud.tsv")
    it = pd.read_csv(work / "results/stimuli/it.tsv", sep="\t")
    assert list(it["stimulus_id"]) == list(table["image_id"])  # the CSV's ids, in its order
    assert list(it["file_stem"]) == [f[:-4] for f in table["filename"]]
    assert list(it["group"]) == list(table["object_name"])
    assert list(it["category_name"]) == list(table["category_name"])
    images = np.load(work / "results/stimuli/it.images.npy")
    assert images.shape == (10, 32, 32, 3)
    for k, image_id in enumerate(it["stimulus_id"]):  # row k holds the file of image_id k
        assert tuple(images[k].reshape(-1, 3).mean(0).round().astype(int)) == colours[image_id]
    aud = pd.read_csv(work / "results/stimuli/aud.tsv", sep="\t")
    assert sorted(aud["stimulus_id"]) == sorted(names)


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
    work.mkdir()
    rng = np.random.default_rng(5)
    stories = {"alternateithicatom": 60, "souls": 48, "avatar": 52}
    root = tmp_path / "openneuro/ds003020"  # stands in for the public bucket
    _, _, respdict, _ = write_lebel(root, rng, stories, n_vox=8)
    (root / "derivative/respdict.json").write_text(json.dumps(respdict))
    files = ["derivative/respdict.json"]
    files += [f"derivative/preprocessed_data/UTS01/{s}.hf5" for s in stories]
    files += [f"derivative/TextGrids/{s}.TextGrid" for s in stories]
    cfg = {
        "downloads": {"lebel": {"url": root.as_uri() + "/", "files": dict.fromkeys(files)}},
        "studies": {
            "lebel": {
                "kind": "story",
                "dataset": {
                    "loader": "lebel2023",
                    "download": "lebel",
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
    manifest = (work / "results/downloads/lebel" / MANIFEST).read_text()
    assert all(f"  {f}" in manifest for f in files)  # every listed file, each hashed
    recorded = (work / "results/downloads/checksums.tsv").read_text()
    assert all(f"downloads.lebel/{f}" in recorded for f in files)
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
