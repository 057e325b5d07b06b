"""Study kind ``table``: per-layer results computed elsewhere (e.g. a paper's supplementary table).

Config shape::

    studies:
      <study>:
        kind: table
        path: <file.csv or .parquet>
        columns: {model: <col>, layer: <col>, pr: <col>, score: <col>}   # pr is linear, not log
        filter: {<col>: <value>}                                        # optional row filter

The script reads the file (CSV or Parquet) and calls :func:`standardise_table`, which returns
rows in the shape of the layers table (docs/design.md#tables) so that
:mod:`predictivity.aggregate.fits` and the figures treat them like a computed study, with the
score in ``score`` (``r2`` and ``pearson_r`` are NaN and there are no theory columns). Their only
PR convention is the table's own ``pr``, and no layer is an input layer or a duplicate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from predictivity.errors import InputError

#: Keys ``studies.<study>.columns`` must map.
REQUIRED_KEYS = ("model", "layer", "pr", "score")

#: Columns returned by :func:`standardise_table`, in order.
TABLE_COLUMNS = [
    "study",
    "model",
    "layer",
    "layer_index",
    "pr",
    "log_pr",
    "score",
    "r2",
    "pearson_r",
    "trained",
]

MIN_ROWS = 3


def infer_trained(model: str):
    """Whether a model name denotes a trained network, from its name alone.

    ``False`` if the name contains ``untrained`` (case-insensitive); otherwise ``True`` if it
    contains ``trained`` or ``supervised`` (which also covers ``Self-Supervised``); otherwise
    missing (``pd.NA``). Task names are not interpreted. The Elmoznino & Bonner (2024) model
    strings (``arch|task|kind|source`` with kind ``Untrained``/``Supervised``/``Self-Supervised``)
    are all classified by this rule.
    """
    s = str(model).lower()
    if "untrained" in s:
        return False
    if "trained" in s or "supervised" in s:
        return True
    return pd.NA


def _listing(values, k: int = 5) -> str:
    values = list(values)
    more = f" and {len(values) - k} more" if len(values) > k else ""
    return ", ".join(str(v) for v in values[:k]) + more


def _apply_filter(raw: pd.DataFrame, filt: dict, study: str, source: str) -> pd.DataFrame:
    key = f"studies.{study}.filter"
    mask = np.ones(len(raw), dtype=bool)
    for col, value in filt.items():
        if col not in raw.columns:
            raise InputError(
                source,
                f"config key {key} filters on column {col!r}, which the file does not "
                f"have (columns: {_listing(raw.columns, 50)}).",
                f"use one of the file's columns in {key}, or remove the filter.",
            )
        values = value if isinstance(value, (list, tuple, set)) else [value]
        colv = raw[col]
        m = colv.isin(values).to_numpy()
        if not m.any():  # e.g. a number in the config against a text column, or the reverse
            m = colv.astype(str).isin([str(v) for v in values]).to_numpy()
        mask &= m
    return raw.loc[mask]


def standardise_table(
    raw: pd.DataFrame, study: str, columns: dict, filter: dict | None = None, source: str = ""
) -> pd.DataFrame:
    """Turn a per-layer results table into layers-table rows of one ``table`` study.

    Parameters
    ----------
    raw : the file's contents, as read (CSV or Parquet).
    study : the study's name in the config.
    columns : ``studies.<study>.columns``: maps ``model``, ``layer``, ``pr`` (linear participation
        ratio, > 0) and ``score`` (the layer's neural predictivity, any scale) to the file's columns.
    filter : ``studies.<study>.filter``: ``{column: value}`` (or ``{column: [values]}``); only rows
        equal to every given value are kept. Values are compared as given, then as text.
    source : the file's path, named in error messages.

    Returns
    -------
    DataFrame with :data:`TABLE_COLUMNS`: ``layer_index`` is the 0-based order of the layer
    within its model as it appears in the file (after filtering); ``log_pr = ln(pr)``;
    ``r2`` and ``pearson_r`` are NaN; ``trained`` (nullable boolean) by :func:`infer_trained`.

    Raises
    ------
    InputError naming ``source`` and ``studies.<study>.columns`` (or ``.filter``) when a key is
    not mapped, a mapped column is missing, the filter column is missing, ``pr`` is not finite and
    positive, ``score`` is not finite, a (model, layer) pair appears twice, or fewer than 3 rows
    remain.
    """
    source = str(source) or f"studies.{study}.path"
    key = f"studies.{study}.columns"
    columns = dict(columns or {})
    unmapped = [k for k in REQUIRED_KEYS if not columns.get(k)]
    if unmapped:
        raise InputError(
            source,
            f"config key {key} does not map {', '.join(unmapped)}.",
            f"give {key} the keys {', '.join(REQUIRED_KEYS)}, each naming a column of the file "
            f"(columns: {_listing(raw.columns, 50)}).",
        )
    missing = [f"{k}: {columns[k]!r}" for k in REQUIRED_KEYS if columns[k] not in raw.columns]
    if missing:
        raise InputError(
            source,
            f"config key {key} names column(s) the file does not have ({', '.join(missing)}); "
            f"the file's columns are: {_listing(raw.columns, 50)}.",
            f"correct {key} to name existing columns.",
        )
    if filter:
        raw = _apply_filter(raw, filter, study, source)
    n = len(raw)
    if n < MIN_ROWS:
        where = f" after applying studies.{study}.filter={filter!r}" if filter else ""
        raise InputError(
            source,
            f"{n} row(s){where}; at least {MIN_ROWS} layers are needed for a fit.",
            f"check studies.{study}.filter and the file's contents.",
        )

    model = raw[columns["model"]].astype(str).to_numpy()
    layer = raw[columns["layer"]].astype(str).to_numpy()
    pr = pd.to_numeric(raw[columns["pr"]], errors="coerce").to_numpy(dtype=float)
    score = pd.to_numeric(raw[columns["score"]], errors="coerce").to_numpy(dtype=float)

    bad = ~(np.isfinite(pr) & (pr > 0))
    if bad.any():
        rows = [
            f"{m}/{l}={raw[columns['pr']].iloc[i]!r}"
            for i, (m, l) in enumerate(zip(model, layer))
            if bad[i]
        ]
        raise InputError(
            source,
            f"column {columns['pr']!r} (mapped as pr in {key}) must be a finite, positive, "
            f"linear participation ratio; {int(bad.sum())} row(s) are not: {_listing(rows)}.",
            "remove or filter those rows, and map pr to the linear PR (not its log).",
        )
    bad = ~np.isfinite(score)
    if bad.any():
        rows = [f"{m}/{l}" for i, (m, l) in enumerate(zip(model, layer)) if bad[i]]
        raise InputError(
            source,
            f"column {columns['score']!r} (mapped as score in {key}) has {int(bad.sum())} "
            f"missing or non-finite value(s): {_listing(rows)}.",
            f"remove those rows or exclude them with studies.{study}.filter.",
        )
    pairs = pd.Series(list(zip(model, layer)))
    dup = pairs[pairs.duplicated()]
    if len(dup):
        raise InputError(
            source,
            f"{len(dup)} (model, layer) pair(s) appear more than once "
            f"({_listing(f'{m}/{l}' for m, l in dup)}), so the table holds several results per layer.",
            f"add studies.{study}.filter to keep one row per layer (e.g. one region or benchmark), "
            f"or map {key}.model to a column that tells the variants apart.",
        )

    out = pd.DataFrame(
        {
            "study": str(study),
            "model": model,
            "layer": layer,
            "layer_index": pd.Series(model).groupby(model, sort=False).cumcount().to_numpy(),
            "pr": pr,
            "log_pr": np.log(pr),
            "score": score,
            "r2": np.nan,
            "pearson_r": np.nan,
            "trained": pd.array([infer_trained(m) for m in model], dtype="boolean"),
        }
    )
    out["layer_index"] = out["layer_index"].astype("int64")
    return out[TABLE_COLUMNS]
