"""Unit tests of predictivity.studies.story (language-model activations of stories, words → TRs).

Nothing reaches the network: HF_HUB_OFFLINE=1 and sockets refuse to connect. GPT-2/OPT are tiny
models built here (as in test_language.py); MiniLM is the packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
h5py = pytest.importorskip("h5py")

from predictivity.datasets.lebel2023 import load_lebel2023  # noqa: E402
from predictivity.errors import InputError  # noqa: E402
from predictivity.studies.language.models import load_model  # noqa: E402
from predictivity.studies.story.activations import (  # noqa: E402
    story_activations,
    story_windows,
    word_activations,
)
from predictivity.studies.story.features import (  # noqa: E402
    fir_delays,
    lanczos_downsample,
    lebel_tr_features,
)

ROOT = Path(__file__).resolve().parents[1]
VOCAB = (
    "i went to the store and bought milk because my grandmother's kitchen was "
    "unbelievably empty . she said we don't need anything but then we walked home "
    "through the rain , laughing at extraordinary neighbours who sang"
).split()
TEXTS = [" ".join(VOCAB[i : i + 12]) for i in range(0, len(VOCAB), 3)] * 3


@pytest.fixture(scope="module", autouse=True)
def offline(no_network):
    """The whole module runs offline (conftest.no_network)."""
    yield


def _words(rng, n):
    return [str(w) for w in rng.choice(VOCAB, size=n)]


def _bpe(specials):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=list(specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(TEXTS, trainer)
    return tok


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """2-block GPT-2 (GPT-2-like tokenizer, 128 positions) and OPT (``</s>`` BOS), d = 32."""
    from tokenizers import processors
    from transformers import GPT2Config, GPT2Model, OPTConfig, OPTModel, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("tiny_story_models")
    gpt_dir, opt_dir = root / "gpt2-tiny", root / "opt-tiny"
    tok = _bpe(["<|endoftext|>"])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    fast.save_pretrained(gpt_dir)
    torch.manual_seed(200)
    GPT2Model(
        GPT2Config(
            n_layer=2,
            n_embd=32,
            n_head=2,
            vocab_size=len(fast),
            n_positions=128,
            bos_token_id=0,
            eos_token_id=0,
        )
    ).save_pretrained(gpt_dir)

    tok = _bpe(["<s>", "<pad>", "</s>", "<unk>"])
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
    torch.manual_seed(201)
    OPTModel(
        OPTConfig(
            vocab_size=len(fast),
            hidden_size=32,
            num_hidden_layers=2,
            ffn_dim=64,
            num_attention_heads=2,
            max_position_embeddings=256,
            word_embed_proj_dim=32,
            pad_token_id=1,
            bos_token_id=2,
            eos_token_id=2,
        )
    ).save_pretrained(opt_dir)
    return {"gpt2": load_model(str(gpt_dir)), "opt": load_model(str(opt_dir))}


@pytest.fixture(scope="module")
def minilm():
    return load_model("minilm", trained=True)


def _models(kind, tiny, minilm):
    return minilm if kind == "minilm" else tiny[kind]


# ------------------------------------------------------------------------------ word activations
def _keyword_defaults(func, names):
    params = inspect.signature(func).parameters
    return {k: params[k].default for k in names}


def test_keyword_defaults_equal_schema_defaults():
    """The config schema holds the defaults; the functions' keyword defaults must equal them."""
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    study = schema["definitions"]["story_study"]["properties"]
    features = {k: v["default"] for k, v in study["features"]["properties"].items()}
    model = next(iter(study["models"]["patternProperties"].values()))["properties"]
    expected = {
        "context_words": features["context_words"],
        "batch_size": model["batch_size"]["default"],
    }
    assert _keyword_defaults(word_activations, expected) == expected
    got = _keyword_defaults(story_activations, [*expected, "delays"])
    assert {**got, "delays": list(got["delays"])} == {**expected, "delays": features["delays"]}
    assert _keyword_defaults(story_windows, ["context_words"]) == {
        "context_words": features["context_words"]
    }


def test_story_windows_scheme():
    for C, stride in [(10, None), (10, 1), (10, 11), (7, 3), (0, 1)]:
        win = story_windows(53, C, stride)
        step = max(1, C // 2) if stride is None else stride
        targets = np.concatenate([np.arange(t0, t1) for _, t0, t1 in win])
        np.testing.assert_array_equal(targets, np.arange(53))  # blocks tile the story in order
        for start, t0, t1 in win:
            assert t1 - t0 <= step and start <= t0
            assert t1 - 1 - start == min(C, t1 - 1)  # the block's last word sees exactly C words
            assert t0 - start >= min(C - step + 1, t0)  # its first word sees ≥ C − S + 1
    for bad in [
        dict(context_words=4, stride=6),
        dict(context_words=4, stride=0),
        dict(context_words=-1, stride=None),
    ]:
        with pytest.raises(InputError, match="story"):
            word_activations(["a", "b"], None, None, **bad)


@pytest.mark.parametrize("kind", ["gpt2", "opt", "minilm"])
def test_shapes_and_subword_average_match_brute_force(kind, tiny, minilm):
    """A story that fits one window: every word's row = the mean of its tokens' hidden states in
    one straight model call on the running text (token spans found by prefix tokenisation)."""
    tokenizer, model = _models(kind, tiny, minilm)
    words = [
        "I",
        "went",
        "to",
        "my",
        "grandmother's",
        "unbelievably",
        "empty",
        "kitchen,",
        "and",
        "she",
        "said:",
        "don't",
        "laugh!",
        "Extraordinary",
        "neighbours",
    ]
    acts = word_activations(words, tokenizer, model, context_words=64, batch_size=2)
    n_layers, d = {"gpt2": (2, 32), "opt": (2, 32), "minilm": (6, 384)}[kind]
    assert list(acts) == ["embeddings"] + [f"layer{i}" for i in range(1, n_layers + 1)]
    for x in acts.values():
        assert x.shape == (len(words), d) and x.dtype == np.float32 and np.isfinite(x).all()

    text = " ".join(words)
    full = tokenizer(text)["input_ids"]
    bare = tokenizer(text, add_special_tokens=False)["input_ids"]
    off = next(o for o in range(len(full)) if full[o : o + len(bare)] == bare)
    ends = [
        len(tokenizer(" ".join(words[: j + 1]), add_special_tokens=False)["input_ids"])
        for j in range(len(words))
    ]
    spans = list(zip([0] + ends[:-1], ends))
    assert ends[-1] == len(bare) and max(b - a for a, b in spans) >= 3  # real sub-word averaging
    with torch.no_grad():
        hs = model(input_ids=torch.tensor([full]), output_hidden_states=True).hidden_states
    for name, h in zip(acts, hs):
        brute = np.stack([h[0, off + a : off + b].mean(0).numpy() for a, b in spans])
        np.testing.assert_allclose(acts[name], brute, atol=2e-5, rtol=1e-4)


def test_causal_window_locality(tiny):
    """GPT-2: a word's representation ignores words more than context_words before it."""
    tokenizer, model = tiny["gpt2"]
    rng = np.random.default_rng(0)
    words = _words(rng, 90)
    C, k = 10, 30
    other = _words(np.random.default_rng(1), k) + words[k:]  # words 0…k−1 changed
    for stride in (None, 1, 3):
        a = word_activations(words, tokenizer, model, context_words=C, stride=stride, batch_size=4)
        b = word_activations(other, tokenizer, model, context_words=C, stride=stride, batch_size=4)
        for name in a:
            np.testing.assert_allclose(a[name][k + C :], b[name][k + C :], atol=1e-5)
        assert not np.allclose(a["layer2"][k], b["layer2"][k], atol=1e-4)  # context does matter
    # stride 1 (Huth-lab style): word j = f(words[j − C : j + 1]) exactly, whatever precedes
    a = word_activations(words, tokenizer, model, context_words=C, stride=1, batch_size=16)
    c = word_activations(
        _words(rng, 7) + words, tokenizer, model, context_words=C, stride=1, batch_size=16
    )
    for name in a:  # (from C + 1 on: the story's first word is tokenised without a leading space)
        np.testing.assert_allclose(c[name][8 + C :], a[name][C + 1 :], atol=1e-5)


def test_windows_longer_than_the_position_limit_lose_left_context(tiny, caplog):
    tokenizer, model = tiny["gpt2"]  # 128 positions
    words = _words(np.random.default_rng(2), 150)
    with caplog.at_level(logging.WARNING, logger="predictivity.studies.story.activations"):
        a = word_activations(words, tokenizer, model, context_words=140, stride=4)
    assert "lost context words" in caplog.text
    assert all(np.isfinite(x).all() for x in a.values())
    b = word_activations(words, tokenizer, model, context_words=140, stride=4, max_tokens=128)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    with pytest.raises(InputError, match="alone take"):
        word_activations(words, tokenizer, model, context_words=140, stride=141)
    with pytest.raises(InputError, match="empty word"):
        word_activations(["a", " ", "b"], tokenizer, model)


def test_minilm_right_context_only_within_the_block(minilm):
    """MiniLM is bidirectional: with stride 1 no word sees the next one; with stride S a word
    sees the rest of its block (documented)."""
    tokenizer, model = minilm
    words = _words(np.random.default_rng(3), 24)
    changed = list(words)
    changed[13] = "extraordinary" if words[13] != "extraordinary" else "milk"
    for stride, sees_next in [(1, False), (4, True)]:  # with stride 4, word 12 shares block 12…15
        a = word_activations(words, tokenizer, model, context_words=8, stride=stride)
        b = word_activations(changed, tokenizer, model, context_words=8, stride=stride)
        np.testing.assert_allclose(a["layer6"][:12], b["layer6"][:12], atol=1e-5)
        assert np.allclose(a["layer6"][12], b["layer6"][12], atol=1e-5) != sees_next
    with pytest.raises(InputError, match="no token"):  # BERT's text cleaning drops U+200B
        word_activations(["a", "\u200b", "b"], tokenizer, model)


# ------------------------------------------------------------------------------ story → TRs
def _textgrid(words, xmax):
    out = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        "0",
        str(xmax),
        "<exists>",
        "1",
        '"IntervalTier"',
        '"word"',
        "0",
        str(xmax),
        str(len(words)),
    ]
    for a, b, lab in words:
        out += [str(a), str(b), f'"{lab}"']
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def lebel(tmp_path_factory):
    """A two-story LeBel-style release on disk, read by datasets.load_lebel2023."""
    rng = np.random.default_rng(4)
    root = tmp_path_factory.mktemp("lebel")
    stories = {"wheretheressmoke": 38, "souls": 32}  # TRs in the run (respdict)
    for s, n_total in stories.items():
        with h5py.File(root / f"{s}.hf5", "w") as f:
            f.create_dataset("resp", data=rng.standard_normal((n_total - 20, 6)).astype(np.float32))
        dur = (n_total - 5) * 2.0 - 10
        t, ivs = 0.0, []
        while t < dur - 1:
            d = float(rng.uniform(0.2, 0.6))
            ivs.append(
                (
                    round(t, 3),
                    round(t + d, 3),
                    "sp" if rng.random() < 0.1 else str(rng.choice(VOCAB)),
                )
            )
            t += d
        (root / f"{s}.TextGrid").write_text(_textgrid(ivs, dur))
    return load_lebel2023(root, root, list(stories), respdict=stories)


def test_story_activations_rows_and_fir_delays(lebel, tiny):
    tokenizer, model = tiny["gpt2"]
    stim, words, grids = lebel.stimuli, lebel.extra["words"], lebel.extra["tr_times"]
    delays = (1, 2, 3, 4)
    kw = dict(context_words=12, batch_size=8)
    X = story_activations(words, stim, grids, tokenizer, model, delays=delays, **kw)
    assert list(X) == ["embeddings", "layer1", "layer2"]
    for x in X.values():
        assert x.shape == (len(stim), 32 * len(delays)) and x.dtype == np.float32
        assert np.isfinite(x).all() and np.abs(x).max() > 0

    # by hand, from the word features: Lanczos → kept TRs → z-score → whole-TR shifts
    per_story = {
        s: word_activations(words.word[words.story == s].tolist(), tokenizer, model, **kw)
        for s in stim.story.unique()
    }
    for s, acts in per_story.items():
        rows = np.flatnonzero(stim.story == s)
        for name, F in acts.items():
            Z = lanczos_downsample(words.time[words.story == s], F, grids[s])[stim.tr_index[rows]]
            Z = (Z - Z.mean(0)) / Z.std(0)
            np.testing.assert_allclose(X[name][rows], fir_delays(Z, delays), atol=1e-5)
            for k, d in enumerate(delays):
                block = X[name][rows, 32 * k : 32 * (k + 1)]
                np.testing.assert_allclose(block[d:], Z[:-d], atol=1e-5)  # d TRs later
                assert not block[:d].any()  # nothing before the story's first kept TR
    # = lebel_tr_features on the whole study's word features
    allw = np.vstack([per_story[s]["layer2"] for s in words.story.unique()])
    np.testing.assert_allclose(
        X["layer2"], lebel_tr_features(words, allw, stim, grids, delays), atol=1e-5
    )

    # rows follow the stimulus table's order (shuffled across stories); dict input; deterministic
    perm = np.random.default_rng(5).permutation(len(stim))
    by_story = {s: g.reset_index(drop=True) for s, g in words.groupby("story")}
    Y = story_activations(
        by_story,
        stim.iloc[perm].reset_index(drop=True),
        grids,
        tokenizer,
        model,
        delays=delays,
        layers=["layer2", "embeddings"],
        **kw,
    )
    assert list(Y) == ["layer2", "embeddings"]
    for name in Y:
        np.testing.assert_array_equal(Y[name], X[name][perm])
    again = story_activations(words, stim, grids, tokenizer, model, delays=delays, **kw)
    for name in X:
        np.testing.assert_array_equal(again[name], X[name])


def test_story_activations_bad_inputs(lebel, tiny):
    tokenizer, model = tiny["gpt2"]
    stim, words, grids = lebel.stimuli, lebel.extra["words"], lebel.extra["tr_times"]
    with pytest.raises(InputError, match="no word table"):
        story_activations({"souls": words[words.story == "souls"]}, stim, grids, tokenizer, model)
    gap = stim.drop(index=stim.index[3]).reset_index(drop=True)
    with pytest.raises(InputError, match="not consecutive"):
        story_activations(words, gap, grids, tokenizer, model)
    with pytest.raises(InputError, match="unknown layer"):
        story_activations(words, stim, grids, tokenizer, model, layers=["layer9"], context_words=4)
    with pytest.raises(InputError, match="neither a `story` nor a `group`"):
        story_activations(words, stim.drop(columns=["story", "group"]), grids, tokenizer, model)
