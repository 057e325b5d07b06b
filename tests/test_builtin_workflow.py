"""End-to-end: all four built-in study kinds, shrunk to seconds, through the real workflow."""

import pandas as pd
import pytest
from conftest import run_snakemake

pytestmark = pytest.mark.workflow

SENTENCES = [
    "The cat slept on the warm windowsill all afternoon.",
    "Rain fell steadily over the quiet harbour town.",
    "She solved the puzzle before anyone else had started.",
    "Old maps often show islands that do not exist.",
    "The committee postponed its decision until spring.",
    "A small boy waved at the passing train.",
    "Bread rises faster in a warm kitchen.",
    "The violinist tuned her instrument twice.",
    "Mountains block the wet winds from the sea.",
    "He forgot his umbrella at the museum.",
    "Light travels faster than sound.",
    "The library closes early on Sundays.",
    "Children built a fort out of blankets.",
    "The river flooded the lower fields last year.",
    "Nobody expected the meeting to last so long.",
]


def tiny_config(sentences_path):
    return {
        "studies": {
            "mec": {
                "kind": "mec",
                "stimuli": {"n_bins": 5},
                "recordings": {
                    "n_grid": 12,
                    "n_border": 4,
                    "n_head_direction": 2,
                    "n_heterogeneous": 6,
                },
                "training": {
                    "n_train_steps": 10,
                    "batch_size": 20,
                    "n_validation": 20,
                    "log_every": 5,
                },
                "rate_maps": {"n_trajectories": 200},
                "models": {
                    "rnn": {
                        "cell": "rnn",
                        "activation": "relu",
                        "n_hidden": 16,
                        "n_place_cells": 32,
                    },
                    "rnn_untrained": {
                        "cell": "rnn",
                        "activation": "relu",
                        "n_hidden": 16,
                        "n_place_cells": 32,
                        "training": {"n_train_steps": 0},
                    },
                },
            },
            "it": {
                "kind": "it",
                "images": {"n_images": 25, "image_size": 64},
                "simulate": {"n_sites": 10, "feature_size": 32},
                "models": {
                    "squeeze": {
                        "arch": "squeezenet1_1",
                        "layers": ["features.1", "features.4", "features.7"],
                    }
                },
            },
            "auditory": {
                "kind": "auditory",
                "sounds": {"n_sounds": 22, "duration": 0.5},
                "simulate": {"n_voxels": 10},
                "models": {
                    "filterbank": {"network": "filterbank"},
                    "resemblyzer_untrained": {"network": "resemblyzer_untrained"},
                },
            },
            "language": {
                "kind": "language",
                "sentences": str(sentences_path),
                "simulate": {"n_voxels": 10},
                "models": {"minilm": {"network": "minilm"}},
            },
        },
        "theory": {"n_p": 3, "n_subsets": 2},
        "fits": {"n_boot": 20},
    }


def test_four_builtin_kinds_end_to_end(builtin_run):
    work = builtin_run[0]  # the tiny config run once for the session (conftest.builtin_run)
    layers = pd.read_parquet(work / "results/tables/layers.parquet")
    assert set(layers["study"]) == {"mec", "it", "auditory", "language"}
    counts = layers.groupby("study")["n_stimuli"].first().to_dict()
    assert counts == {"mec": 25, "it": 25, "auditory": 22, "language": 15}
    assert list(layers.loc[layers["model"] == "minilm", "layer"]) == ["embeddings"] + [
        f"layer{i}" for i in range(1, 7)
    ]
    trained = layers.drop_duplicates("model").set_index("model")["trained"]
    assert trained["rnn"] == True and trained["rnn_untrained"] == False  # noqa: E712
    assert pd.isna(trained["filterbank"])
    history = pd.read_csv(work / "results/models/mec/rnn.history.tsv", sep="\t")
    assert list(history["step"]) == [0, 5, 10] and history["decoding_error_cm"].notna().all()
    fits = pd.read_parquet(work / "results/tables/fits.parquet")
    assert {"mec", "it", "auditory", "language", "pooled"} == set(fits["scope"])


def test_blank_sentence_file_is_one_clear_error(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    (work / "blank.txt").write_text("\n  \n\n")
    cfg = tiny_config(work / "blank.txt")
    cfg["studies"] = {"language": cfg["studies"]["language"]}
    proc = run_snakemake(work, cfg, check=False)
    assert proc.returncode != 0
    assert "blank.txt" in proc.output and "predictivity: error" in proc.output
    assert not (work / "results/stimuli/language.tsv").exists()


def test_unknown_layer_name_is_one_clear_error(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    cfg = tiny_config(work / "unused.txt")
    cfg["studies"] = {"it": cfg["studies"]["it"]}
    cfg["studies"]["it"]["models"]["squeeze"]["layers"] = ["features.1", "features.99"]
    proc = run_snakemake(work, cfg, check=False)
    assert proc.returncode != 0
    assert "features.99" in proc.output and "studies.it.models.squeeze" in proc.output
    assert not (work / "results/activations/it/squeeze.npz").exists()
