"""The stimuli of a ``language`` study: the lines of a sentence file → a table with stable ids."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from predictivity.errors import InputError

_WS = re.compile(r"\s+")


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
