"""Language-model activations for story listening (LeBel et al. 2023): words → TRs.

Pure functions, no file I/O: the caller loads the model
(:func:`predictivity.studies.language.models.load_model`) and the recordings (the ``lebel2023``
loader of :mod:`predictivity.datasets`), and writes every output.

Stages
------
1. :func:`word_activations` — contextual representations of every word of one story: the model
   runs over the word sequence in sliding windows (:func:`story_windows`), sub-word tokens are
   mapped to words with the fast tokenizer's ``word_ids()`` and averaged per word; every hidden
   state is returned (``embeddings``, ``layer1`` … ``layerL``, named as in
   :func:`predictivity.studies.language.activations.sentence_activations`).
2. :func:`story_activations` — per story, word activations → TR features with
   :func:`~predictivity.studies.story.features.lebel_tr_features` (Lanczos downsampling onto the story's TR grid,
   z-scoring over the kept TRs, FIR delays within the story: the Huth lab's conventions), rows in
   the order of the stimulus table of ``load_lebel2023``.

Window scheme (:func:`story_windows`)
-------------------------------------
With C = ``context_words`` and S = ``stride`` (default ``max(1, C // 2)``), the story's words are
cut into consecutive *target blocks* of S words, ``[t0, t0 + S)``. Each block is computed in one
window, the words ``[max(0, t0 + S − 1 − C), t0 + S)``: it *ends* at the block's last word and
reaches C words back from it. Only the representations of the block's words are kept. Hence

- every word j sees at most C preceding words (its representation never depends on words before
  ``j − C``), and at least ``C − S + 1`` of them (≥ C/2 + 1 with the default stride), except the
  first words of the story, which see everything before them;
- no window extends past its block, so a word sees at most ``S − 1`` following words — and only
  in a bidirectional encoder (BERT/MiniLM: no attention mask is imposed inside a window; the
  model is used as trained). In a causal model (GPT-2, OPT) a word never sees the future;
- ``stride=1`` is the Huth-lab scheme "each word with its C preceding words": one window per
  word, the word last, so the representation of word j is a function of exactly
  ``words[max(0, j − C) : j + 1]`` (also for BERT: no right context; for j ≤ C that window starts
  with the story's first word, which is tokenised without a leading space). It costs ≈ C/2 times
  more forward passes than the default.

The default costs about two forward passes over the story (windows of C + 1 words every S = C/2).

Tokenisation
------------
Words are passed to the tokenizer pre-split (``is_split_into_words=True``) with a space prepended
to every word but the story's first, so that a word gets the tokens it has in the running text
``" ".join(words)`` wherever its window starts (GPT-2/OPT byte-level BPE: ``Ġword``; WordPiece
ignores the space; SentencePiece: ``▁word``). Each window gets the tokenizer's special tokens
(``[CLS] … [SEP]`` for BERT, the BOS ``</s>`` for OPT, none for GPT-2); they belong to no word
(``word_ids()`` is ``None``) and enter no average. A window longer than the model's position limit
(or ``max_tokens``) loses context words at its *left* (logged as a warning); one whose target
block alone does not fit is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from predictivity.errors import InputError
from predictivity.studies.language.models import hidden_states_fn
from predictivity.studies.story.features import lebel_tr_features
from predictivity.studies.torch_utils import inference

log = logging.getLogger(__name__)


def _stride(context_words: int, stride: int | None, source: str) -> tuple[int, int]:
    C = int(context_words)
    if C < 0:
        raise InputError(
            source, f"context_words must be ≥ 0, got {context_words}.", "set a count of words."
        )
    S = max(1, C // 2) if stride is None else int(stride)
    if not 1 <= S <= C + 1:
        raise InputError(
            source,
            f"stride {stride} is outside 1 … context_words + 1 = {C + 1}.",
            "use a stride of at most context_words / 2 (so every word keeps half the context), or "
            "1 for one window per word.",
        )
    return C, S


def story_windows(
    n_words: int,
    context_words: int = 20,
    stride: int | None = None,
    source: str = "windows",
) -> list[tuple[int, int, int]]:
    """The windows of the module's scheme for a story of ``n_words`` words.

    Returns a list of ``(start, t0, t1)``: the model sees words ``[start, t1)`` and the
    representations of words ``[t0, t1)`` (the target block, ``t1 − t0 = stride`` except for the
    last block) are kept; ``start = max(0, t1 − 1 − context_words)``. The target blocks tile
    ``0 … n_words − 1`` in order. Before the position-limit trimming of :func:`word_activations`.
    """
    C, S = _stride(context_words, stride, source)
    out = []
    for t0 in range(0, int(n_words), S):
        t1 = min(t0 + S, int(n_words))
        out.append((max(0, t1 - 1 - C), t0, t1))
    return out


def _state_names(model) -> list[str]:
    n_states = model.config.num_hidden_layers + 1
    return ["embeddings"] + [f"layer{i}" for i in range(1, n_states)]


def _pretokenized(words: Sequence[str], lo: int, hi: int) -> list[str]:
    """Words ``lo … hi−1`` as pre-split tokenizer input, a space before every word but word 0."""
    return [w if j == 0 else " " + w for j, w in zip(range(lo, hi), words[lo:hi])]


def word_activations(
    words: Sequence[str],
    tokenizer,
    model,
    context_words: int = 20,
    threads: int = 1,
    batch_size: int = 16,
    stride: int | None = None,
    max_tokens: int | None = None,
    source: str = "story",
) -> dict[str, np.ndarray]:
    """Contextual per-word activations of one story, every hidden state.

    Parameters
    ----------
    words : sequence of str
        The story's W words in order (e.g. the ``word`` column of a story in
        ``load_lebel2023(...).extra["words"]``); each is stripped of surrounding whitespace.
    tokenizer, model
        As returned by :func:`predictivity.studies.language.models.load_model` (a *fast* tokenizer: ``word_ids``
        is needed): BERT-style encoders (MiniLM) or decoder-only LMs (GPT-2, OPT, …).
    context_words, stride : int
        C and S of the window scheme (module doc, :func:`story_windows`): each word sees at most C
        and (away from the story start) at least C − S + 1 preceding words, and at most S − 1
        following words (bidirectional models only). ``stride=None`` → ``max(1, C // 2)``.
    threads : int
        ``torch.set_num_threads`` during the forward passes (restored afterwards).
    batch_size : int
        Windows per forward pass (padded on the right; real tokens keep positions 0…n−1).
    max_tokens : int or None
        Longest window in tokens including special tokens; ``None`` → the model's position limit.
        Longer windows drop context words on the left (a warning says how many windows).
    source : str
        Label named in error messages (the story).

    Returns
    -------
    dict layer name → float32 array (W × d): ``embeddings``, ``layer1`` … ``layerL`` as in
    :func:`predictivity.studies.language.activations.sentence_activations`; row j = the mean of the hidden states of
    word j's sub-word tokens in the window that holds j as a target. Deterministic for fixed
    inputs, scheme, batch_size and threads (eval mode, ``torch.no_grad``).

    Raises
    ------
    InputError
        No words, an empty word, a word with no token (e.g. only characters the tokenizer
        drops), a bad
        stride/context, a slow tokenizer, or a target block longer than the token limit.
    """
    import torch

    C, S = _stride(context_words, stride, source)
    if int(batch_size) < 1 or int(threads) < 1:
        raise InputError(source, "batch_size and threads must be ≥ 1.", "set positive integers.")
    words = [str(w).strip() for w in words]
    if not words:
        raise InputError(source, "the story has no words.", "check the story's word table.")
    if not getattr(tokenizer, "is_fast", False):
        raise InputError(
            source,
            "the tokenizer is not a fast (Rust) tokenizer; word_ids() is needed.",
            "load the model with predictivity.studies.language.models.load_model.",
        )
    W = len(words)
    blank = [j for j, w in enumerate(words) if not w]
    if blank:
        raise InputError(
            source,
            f"{len(blank)} empty word(s) (first: word {blank[0]}).",
            "drop empty labels from the word table.",
        )

    # tokens per word (tokenisation of a pre-split word does not depend on its neighbours)
    enc = tokenizer(
        _pretokenized(words, 0, W),
        is_split_into_words=True,
        add_special_tokens=False,
        verbose=False,
    )  # no "longer than the maximum sequence length" warning
    wid = np.array([-1 if i is None else i for i in enc.word_ids()], dtype=np.int64)
    n_tok = np.bincount(wid[wid >= 0], minlength=W)
    empty = np.flatnonzero(n_tok == 0)
    if empty.size:
        raise InputError(
            source,
            f"{empty.size} word(s) give no token (first: word {empty[0]} {words[empty[0]]!r}).",
            "remove or replace such words before computing activations.",
        )
    n_special = int(tokenizer.num_special_tokens_to_add(pair=False))
    positions = getattr(model.config, "max_position_embeddings", None)
    limits = [int(x) for x in (max_tokens, positions) if x]
    limit = min(limits) if limits else None

    windows = story_windows(W, C, S, source)
    if limit is not None:
        csum = np.r_[0, np.cumsum(n_tok)]
        trimmed = 0
        for k, (start, t0, t1) in enumerate(windows):
            if csum[t1] - csum[t0] + n_special > limit:
                raise InputError(
                    source,
                    f"words {t0}…{t1 - 1} alone take {csum[t1] - csum[t0] + n_special} tokens, more "
                    f"than the limit of {limit}.",
                    "lower the stride (1 = one word per window) or raise max_tokens up to the "
                    "model's position limit.",
                )
            new = start
            while csum[t1] - csum[new] + n_special > limit:
                new += 1
            if new != start:
                windows[k] = (new, t0, t1)
                trimmed += 1
        if trimmed:
            log.warning(
                "%s: %d of %d windows exceed %d tokens and lost context words on the left "
                "(context_words=%d).",
                source,
                trimmed,
                len(windows),
                limit,
                C,
            )

    names = _state_names(model)
    n_states = len(names)
    out: dict[str, np.ndarray] = {}
    with inference(threads=threads):
        forward = hidden_states_fn(model, n_states)
        for b0 in range(0, len(windows), int(batch_size)):
            chunk = windows[b0 : b0 + int(batch_size)]
            batch = tokenizer(
                [_pretokenized(words, start, t1) for start, _, t1 in chunk],
                is_split_into_words=True,
                padding=True,
                padding_side="right",
                return_tensors="pt",
            )
            hidden = forward(batch)
            # averaging matrix A (b × S_max × T): A[i, j, t] = 1/n if token t belongs to the
            # j-th target word of window i (n = that word's token count)
            T = batch["input_ids"].shape[1]
            A = torch.zeros(len(chunk), S, T, dtype=hidden[0].dtype)
            for i, (start, t0, t1) in enumerate(chunk):
                ids = np.array([-1 if w is None else w + start for w in batch.word_ids(i)])
                for j in range(t0, t1):
                    tok = np.flatnonzero(ids == j)
                    if tok.size != n_tok[j]:  # pragma: no cover - tokenisation not context-free
                        raise RuntimeError(
                            f"word {j} has {tok.size} tokens in its window, {n_tok[j]} in the story"
                        )
                    A[i, j - t0, torch.from_numpy(tok)] = 1.0 / tok.size
            for name, h in zip(names, hidden):
                pooled = torch.bmm(A, h).float().numpy()  # b × S × d
                if name not in out:
                    out[name] = np.empty((W, h.shape[-1]), np.float32)
                for i, (_, t0, t1) in enumerate(chunk):
                    out[name][t0:t1] = pooled[i, : t1 - t0]
    return out


def _story_column(stimuli: pd.DataFrame, source: str) -> str:
    for col in ("story", "group"):
        if col in stimuli.columns:
            return col
    raise InputError(
        source,
        "the stimulus table has neither a `story` nor a `group` column.",
        "use the stimuli of the lebel2023 dataset loader (load_lebel2023).",
    )


def story_activations(
    words_by_story: Mapping[str, pd.DataFrame] | pd.DataFrame,
    stimuli: pd.DataFrame,
    tr_times: Mapping[str, np.ndarray],
    tokenizer,
    model,
    delays: Sequence[int] = (1, 2, 3, 4),
    context_words: int = 20,
    stride: int | None = None,
    batch_size: int = 16,
    threads: int = 1,
    max_tokens: int | None = None,
    zscore: bool = True,
    window: int = 3,
    cutoff_mult: float = 1.0,
    layers: Sequence[str] | None = None,
    source: str = "stories",
) -> dict[str, np.ndarray]:
    """Per-layer TR features of the stories of a LeBel-style stimulus table.

    For each story of ``stimuli`` (first appearance order): :func:`word_activations` of its words,
    then, per layer, :func:`~predictivity.studies.story.features.lebel_tr_features` on the story's rows sorted by
    ``tr_index`` — Lanczos-downsample the word rows (at ``time``) onto ``tr_times[story]``, keep the
    rows ``tr_index``, z-score each feature over them (``zscore``), stack FIR ``delays`` (whole
    TRs, zeros before the story's first kept TR; never across stories). The rows are then put back
    where the stimulus table has them.

    Parameters
    ----------
    words_by_story : dict story → DataFrame with ``word`` and ``time`` columns (rows in spoken
        order), or one DataFrame with a ``story`` column — ``load_lebel2023(...).extra["words"]``.
    stimuli : DataFrame, P rows (TRs) in study order: ``story`` (else ``group``) and ``tr_index``
        (row of the story's grid), as ``load_lebel2023(...).stimuli``. Within a story the
        ``tr_index`` values must be consecutive (any row order), so that a FIR delay of one row is
        one TR.
    tr_times : dict story → the story's full TR grid (``load_lebel2023(...).extra["tr_times"]``).
    tokenizer, model : as returned by :func:`predictivity.studies.language.models.load_model`.
    delays, zscore, window, cutoff_mult : of
        :func:`~predictivity.studies.story.features.lebel_tr_features`.
    context_words, stride, batch_size, threads, max_tokens : of :func:`word_activations`.
    layers : names of the hidden states to return (default: all).
    source : label named in error messages.

    Returns
    -------
    dict layer name → float32 array (P × d·len(delays)), row p = stimulus p; columns delay-major
    (``[:, k·d:(k+1)·d]`` = the features ``delays[k]`` TRs earlier), as ``fir_delays``.
    """
    story_col = _story_column(stimuli, source)
    if "tr_index" not in stimuli.columns:
        raise InputError(
            source,
            "the stimulus table has no `tr_index` column.",
            "use the stimuli of the lebel2023 dataset loader (load_lebel2023).",
        )
    if isinstance(words_by_story, pd.DataFrame):
        if "story" not in words_by_story.columns:
            raise InputError(
                source,
                "the word table has no `story` column.",
                "pass load_lebel2023(...).extra['words'] or a dict story → words.",
            )
        words_by_story = {s: g for s, g in words_by_story.groupby("story", sort=False)}
    stories = pd.unique(stimuli[story_col].to_numpy())
    labels = stimuli[story_col].to_numpy()
    out: dict[str, np.ndarray] = {}
    for story in stories:
        where = f"{source} story {story!r}"
        if story not in words_by_story:
            raise InputError(where, "has TRs but no word table.", "pass the words of every story.")
        if story not in tr_times:
            raise InputError(
                where, "has TRs but no TR grid in tr_times.", "pass the TR times of every story."
            )
        words = words_by_story[story]
        missing = [c for c in ("word", "time") if c not in words.columns]
        if missing:
            raise InputError(
                where,
                f"the word table lacks column(s) {missing}.",
                "give `word` and `time` (s) per word, as load_lebel2023.",
            )
        rows = np.flatnonzero(labels == story)
        tr_index = stimuli["tr_index"].to_numpy()[rows].astype(np.int64)
        order = np.argsort(tr_index, kind="stable")
        if np.any(np.diff(tr_index[order]) != 1):
            raise InputError(
                where,
                "its TRs (tr_index) are not consecutive or repeat one.",
                "keep a contiguous block of TRs per story, so FIR delays are whole TRs.",
            )
        sub = pd.DataFrame({"story": story, "tr_index": tr_index[order]})
        wtab = pd.DataFrame({"story": story, "time": words["time"].to_numpy(np.float64)})
        acts = word_activations(
            words["word"].tolist(),
            tokenizer,
            model,
            context_words=context_words,
            threads=threads,
            batch_size=batch_size,
            stride=stride,
            max_tokens=max_tokens,
            source=where,
        )
        if layers is not None:
            unknown = [name for name in layers if name not in acts]
            if unknown:
                raise InputError(
                    source,
                    f"unknown layer(s) {unknown}; the model has {list(acts)}.",
                    "name hidden states as embeddings, layer1, …",
                )
            acts = {name: acts[name] for name in layers}
        for name, F in acts.items():
            X = lebel_tr_features(
                wtab,
                F,
                sub,
                {story: tr_times[story]},
                delays=delays,
                zscore=zscore,
                window=window,
                cutoff_mult=cutoff_mult,
            )
            if name not in out:
                out[name] = np.zeros((len(stimuli), X.shape[1]), np.float32)
            out[name][rows[order]] = X
    return out
