"""The activations of a ``language`` study: per-layer sentence representations (mean or last
token) of a model from :func:`predictivity.studies.language.models.load_model`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from predictivity.errors import InputError
from predictivity.studies.language.models import hidden_states_fn
from predictivity.studies.torch_utils import inference

POOLINGS = ("mean", "last")


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
    pooling: str = "mean",
    batch_size: int = 32,
    threads: int = 1,
    max_tokens: int = 256,
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
    with inference(threads=threads):
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
