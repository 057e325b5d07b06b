"""Your own responses for the it, auditory and language kinds (`recordings: {path, stimulus_ids}`):
matching rows to stimuli by id, one clear error for missing or extra ids, the rerun-hash
boundaries of the stages, and two end-to-end runs (an image folder, a WAV folder)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_snakemake
from scipy.io import wavfile

from predictivity.codehash import import_closure
from predictivity.errors import InputError
from predictivity.studies.recordings import check_one_source, own_recordings

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "workflow" / "predictivity"
IDS = [f"img{i:02d}" for i in range(12)]


def _responses(P=12, N=5, R=2, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((P, 3))
    Y = (latent @ rng.standard_normal((3, N)))[:, :, None] + 0.5 * rng.standard_normal((P, N, R))
    return Y


# --------------------------------------------------------------------------------- matching
def test_rows_in_any_order_give_the_same_arrays():
    Y = _responses()
    ordered, targets = own_recordings(Y, IDS, IDS, "r.npy", "ids.txt")
    perm = np.random.default_rng(1).permutation(len(IDS))
    # shuffled rows, ids with a file extension (matched by stem)
    shuffled, _ = own_recordings(Y[perm], [f"{IDS[k]}.png" for k in perm], IDS, "r", "i")
    assert ordered.keys() == shuffled.keys()
    for key in ordered:
        np.testing.assert_array_equal(ordered[key], shuffled[key])
    np.testing.assert_array_equal(ordered["mean"], Y.mean(axis=2))
    assert targets["target_name"].tolist() == ["0", "1", "2", "3", "4"]
    assert int(ordered["n_repetitions"]) == 2 and np.isfinite(ordered["ceiling"]).all()
    # 2-D responses: one repetition, no ceiling
    single, _ = own_recordings(Y[:, :, 0], IDS, IDS, "r", "i")
    assert int(single["n_repetitions"]) == 1 and np.isnan(single["ceiling"]).all()


def test_missing_ids_are_one_error_listing_some():
    Y = _responses()
    with pytest.raises(InputError) as err:
        own_recordings(Y[2:], IDS[2:], IDS, "r.npy", "ids.txt")
    msg = str(err.value)
    assert err.value.source == "ids.txt" and "\n" not in msg
    assert "2 of 12 stimuli have no recordings" in msg and "img00, img01" in msg
    assert "Fix:" in msg


def test_extra_ids_are_one_error_listing_some():
    Y = _responses(P=14)
    ids = [*IDS, "cat", "dog"]
    with pytest.raises(InputError) as err:
        own_recordings(Y, ids, IDS, "r.npy", "ids.txt")
    msg = str(err.value)
    assert err.value.source == "ids.txt" and "\n" not in msg
    assert "2 of 14 ids are not stimuli of the study (e.g. cat, dog)" in msg
    assert "img00" in msg  # what the study's ids look like


def test_ids_must_be_one_unique_id_per_row():
    Y = _responses()
    with pytest.raises(InputError, match="11 stimulus ids for 12 stimuli"):
        own_recordings(Y, IDS[:11], IDS, "r.npy", "ids.txt")
    with pytest.raises(InputError, match="duplicate stimulus ids"):
        own_recordings(Y, [*IDS[:11], IDS[0]], IDS, "r.npy", "ids.txt")
    with pytest.raises(InputError, match="r.npy"):
        own_recordings(np.array(["a"] * 12), IDS, IDS, "r.npy", "ids.txt")


def test_sentence_line_numbers_as_aliases():
    """Language: a sentence is named by its id (s0001 …) or its line number in the file."""
    stimulus_ids = ["s0001", "s0002", "s0003", "s0004"]
    lines = ["1", "2", "4", "5"]  # line 3 of the file was blank
    Y = _responses(P=4, N=3)
    by_id, _ = own_recordings(Y, stimulus_ids, stimulus_ids, "r", "i")
    perm = [3, 1, 0, 2]
    by_line, _ = own_recordings(
        Y[perm],
        [lines[k] for k in perm],
        stimulus_ids,
        "r",
        "i",
        aliases=dict(zip(lines, stimulus_ids)),
    )
    np.testing.assert_array_equal(by_id["mean"], by_line["mean"])
    with pytest.raises(InputError, match=r"1 of 5 ids are not stimuli of the study \(e\.g\. 3\)"):
        own_recordings(
            _responses(P=5, N=3),
            [*lines, "3"],  # line 3 is blank: no sentence
            stimulus_ids,
            "r",
            "i",
            aliases=dict(zip(lines, stimulus_ids)),
        )


def test_dataset_and_own_recordings_exclude_each_other():
    check_one_source(None, None, "studies.x")
    check_one_source({"loader": "nh2015_components"}, None, "studies.x")
    check_one_source(None, {"path": "r.npy"}, "studies.x")
    with pytest.raises(InputError, match="studies.x: both `dataset` and `recordings`"):
        check_one_source({"loader": "nh2015_components"}, {"path": "r.npy"}, "studies.x")


# ------------------------------------------------------------------------ rerun-hash closures
NETWORK_MODULES = {
    "predictivity.studies.it.networks",
    "predictivity.studies.it.architectures",
    "predictivity.studies.it.efficientnet",
    "predictivity.studies.it.activations",
    "predictivity.studies.auditory.models",
    "predictivity.studies.auditory.crepe",
    "predictivity.studies.auditory.resemblyzer",
    "predictivity.studies.auditory.filterbank",
    "predictivity.studies.language.models",
    "predictivity.studies.language.activations",
    "predictivity.studies.torch_utils",
}


@pytest.mark.parametrize("kind", ["it", "auditory", "language"])
def test_stage_closures(kind):
    recordings = set(import_closure(REPO / "scripts" / f"recordings_{kind}.py", PACKAGE))
    assert "predictivity.studies.recordings" in recordings
    assert not recordings & NETWORK_MODULES
    for stage in ("stimuli", "activations"):
        closure = set(import_closure(REPO / "scripts" / f"{stage}_{kind}.py", PACKAGE))
        assert "predictivity.studies.noise" not in closure, stage
        assert not {m for m in closure if m.endswith(".simulate")}, stage
        assert "predictivity.studies.recordings" not in closure, stage


# ------------------------------------------------------------------------------ end to end
def _write_images(folder: Path, names):
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        base = rng.integers(0, 256, (1, 1, 3))
        noise = rng.integers(0, 60, (40, 40, 3))
        img = np.clip(base + noise + 4 * k, 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{name}.png")


def _write_wavs(folder: Path, names, sr=16000):
    folder.mkdir(parents=True)
    t = np.arange(int(0.5 * sr)) / sr
    for k, name in enumerate(names):
        x = 0.3 * np.sin(2 * np.pi * (200 + 90 * k) * t) * (1 + 0.5 * np.sin(2 * np.pi * 4 * t))
        wavfile.write(folder / f"{name}.wav", sr, np.round(x * 32767).astype(np.int16))


def _write_responses(work: Path, ids, name, order, suffix=""):
    Y = _responses(P=len(ids))
    np.save(work / f"{name}.npy", Y[order])
    (work / f"{name}.txt").write_text("".join(f"{ids[k]}{suffix}\n" for k in order))
    return {"path": f"{name}.npy", "stimulus_ids": f"{name}.txt"}


def _study(kind, folder, recordings):
    if kind == "it":
        return {
            "kind": "it",
            "images": {"folder": folder, "image_size": 32},
            "recordings": recordings,
            "models": {
                "squeeze": {"arch": "squeezenet1_1", "layers": ["features.1", "features.4"]}
            },
        }
    return {
        "kind": "auditory",
        "sounds": {"wav_folder": folder, "duration": 0.5},
        "recordings": recordings,
        "models": {"filterbank": {"network": "filterbank"}},
    }


SETTINGS = {"regression": {"folds": 3}, "theory": {"n_p": 3, "n_subsets": 2}}


def _assert_same_tables(work: Path):
    layers = pd.read_parquet(work / "results/tables/layers.parquet")
    a = layers[layers["study"] == "ordered"].drop(columns="study").reset_index(drop=True)
    b = layers[layers["study"] == "shuffled"].drop(columns="study").reset_index(drop=True)
    assert len(a) >= 2 and (a["n_stimuli"] == 12).all()
    pd.testing.assert_frame_equal(a, b)
    ra = np.load(work / "results/recordings/ordered.npz")
    rb = np.load(work / "results/recordings/shuffled.npz")
    for key in ra.files:
        np.testing.assert_array_equal(ra[key], rb[key])


@pytest.mark.workflow
@pytest.mark.parametrize("kind", ["it", "auditory"])
def test_own_responses_end_to_end(tmp_path, kind):
    """Same responses in stimulus order and shuffled (ids with the file extension) → identical
    tables; the simulated recordings are not generated."""
    work = tmp_path / "w"
    work.mkdir()
    names = [f"stim_{c}" for c in "qwertyuiopas"]  # stimulus order = sorted names
    (_write_images if kind == "it" else _write_wavs)(work / "stimuli", names)
    ids = sorted(names)
    perm = np.random.default_rng(3).permutation(len(ids))
    ext = ".png" if kind == "it" else ".wav"
    config = {
        "studies": {
            "ordered": _study(
                kind, "stimuli", _write_responses(work, ids, "ordered", np.arange(len(ids)))
            ),
            "shuffled": _study(kind, "stimuli", _write_responses(work, ids, "shuffled", perm, ext)),
        },
        **SETTINGS,
    }
    run_snakemake(work, config, "results/tables/layers.parquet")
    _assert_same_tables(work)
    log = (work / "logs/recordings/shuffled.log").read_text()
    assert "12 stimuli × 5 targets (5 kept) × 2 repetitions" in log


@pytest.mark.workflow
def test_missing_and_extra_ids_stop_the_recordings_stage(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    names = [f"pic{k:02d}" for k in range(12)]
    _write_images(work / "stimuli", names)
    missing = _write_responses(work, names[:11], "missing", np.arange(11))
    extra = _write_responses(work, [*names, "pic99"], "extra", np.arange(13))
    config = {
        "studies": {
            "missing": _study("it", "stimuli", missing),
            "extra": _study("it", "stimuli", extra),
        },
        **SETTINGS,
    }
    targets = ["results/recordings/missing.npz", "results/recordings/extra.npz"]
    proc = run_snakemake(work, config, *targets, "--keep-going", check=False)
    assert proc.returncode != 0
    assert "missing.txt: 1 of 12 stimuli have no recordings (e.g. pic11)" in proc.output
    assert "extra.txt: 1 of 13 ids are not stimuli of the study (e.g. pic99)" in proc.output
    assert not any((work / t).exists() for t in targets)
