"""File I/O of the workflow's scripts: reading users' and stages' files, atomic writes.

Every reader loads with ``allow_pickle=False`` and turns an unreadable file into one
:class:`~predictivity.errors.InputError` naming it; every writer writes a temporary file and
renames it into place, so a failed job leaves no partial output.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from predictivity.errors import InputError


def load_npy(path: str, what: str = "array") -> np.ndarray:
    """np.load of a .npy with allow_pickle=False; unreadable files raise InputError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(
            path,
            f"{what} file does not exist.",
            "Check the path in the config (relative paths resolve against the working directory).",
        )
    try:
        return np.load(p, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 — any read failure is the user's file
        raise InputError(
            path,
            f"cannot read {what} as a NumPy .npy file ({type(e).__name__}: {e}).",
            "Save it with numpy.save (no pickled objects).",
        ) from None


def load_npz(path: str, what: str = "activations") -> dict[str, np.ndarray]:
    """All arrays of an .npz in file order, allow_pickle=False; InputError on failure."""
    p = Path(path)
    if not p.is_file():
        raise InputError(
            path,
            f"{what} file does not exist.",
            "Check the path in the config (relative paths resolve against the working directory).",
        )
    try:
        with np.load(p, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001
        raise InputError(
            path,
            f"cannot read {what} as a NumPy .npz file ({type(e).__name__}: {e}).",
            "Save it with numpy.savez(file, layer1=..., layer2=...) (no pickled objects).",
        ) from None
    if not out:
        raise InputError(path, "the .npz holds no arrays.", "Save one array per layer.")
    return out


def read_lines(path: str, what: str = "stimulus ids") -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise InputError(path, f"{what} file does not exist.", "Check the path in the config.")
    try:
        text = p.read_text(encoding="utf-8")
    except Exception as e:  # noqa: BLE001
        raise InputError(
            path,
            f"cannot read {what} as UTF-8 text ({type(e).__name__}).",
            "Save it as UTF-8 text, one entry per line.",
        ) from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def save_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """np.savez (uncompressed, memory-mappable members) via a temporary file renamed into place."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, p)


def save_parquet(df, path: str) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, p)


def save_tsv(df, path: str) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    df.to_csv(tmp, sep="\t", index=False)
    os.replace(tmp, p)


def read_stimuli(path: str):
    """The stage-1 table (stimulus_id, optional group, …), ids kept as strings."""
    import pandas as pd

    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def stimulus_groups(stimuli):
    """The CV grouping labels of the stage-1 table, or None when it has no `group` column."""
    return stimuli["group"].to_numpy() if "group" in stimuli.columns else None
