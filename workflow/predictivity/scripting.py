"""Helpers shared by the workflow's thin scripts: logging, thread limits, clean failure, I/O.

Every script's body is a ``main(snakemake)`` function run through :func:`run`, which

* sends :mod:`logging` output to the rule's ``log:`` file (and stderr),
* limits BLAS and torch threads to the rule's ``threads:`` (threadpoolctl),
* turns an :class:`~predictivity.errors.InputError` into one clear line on stderr and in the log
  and a non-zero exit, after which Snakemake deletes the job's outputs (no partial output).

File I/O lives here and in the scripts, never in the computational modules.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np

from .errors import InputError

log = logging.getLogger("predictivity")


def setup_logging(logfile: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if logfile:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(logfile, mode="w"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)


def run(main, smk) -> None:
    """Run ``main(smk)`` with logging, thread limits and clean errors (see module docstring)."""
    logfile = smk.log[0] if len(smk.log) else None
    setup_logging(logfile)
    if (getattr(smk, "config", None) or {}).get("offline", True):
        # config `offline: true` (the default): nothing reaches a model hub at run time
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
    threads = int(getattr(smk, "threads", 1) or 1)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    from threadpoolctl import threadpool_limits
    try:
        with threadpool_limits(limits=threads):
            main(smk)
    except InputError as e:
        for h in logging.getLogger().handlers:
            if isinstance(h, logging.FileHandler):
                h.handle(log.makeRecord(log.name, logging.ERROR, __file__, 0, "%s", (e,), None))
        print(f"predictivity: error: {e}", file=sys.stderr)
        sys.exit(1)


def load_npy(path: str, what: str = "array") -> np.ndarray:
    """np.load of a .npy with allow_pickle=False; unreadable files raise InputError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(path, f"{what} file does not exist.", "Check the path in the config (relative paths resolve against the working directory).")
    try:
        return np.load(p, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 — any read failure is the user's file
        raise InputError(path, f"cannot read {what} as a NumPy .npy file ({type(e).__name__}: {e}).",
                         "Save it with numpy.save (no pickled objects).") from None


def load_npz(path: str, what: str = "activations") -> dict[str, np.ndarray]:
    """All arrays of an .npz in file order, allow_pickle=False; InputError on failure."""
    p = Path(path)
    if not p.is_file():
        raise InputError(path, f"{what} file does not exist.", "Check the path in the config (relative paths resolve against the working directory).")
    try:
        with np.load(p, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001
        raise InputError(path, f"cannot read {what} as a NumPy .npz file ({type(e).__name__}: {e}).",
                         "Save it with numpy.savez(file, layer1=..., layer2=...) (no pickled objects).") from None
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
        raise InputError(path, f"cannot read {what} as UTF-8 text ({type(e).__name__}).", "Save it as UTF-8 text, one entry per line.") from None
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


def read_recordings(path: str) -> dict:
    """The stage-2 file: mean (P × N kept), target, target_name, ceiling, counts."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def read_activations(path: str) -> dict[str, np.ndarray]:
    """The stage-3 file: layer name → (P × units) array, in layer order."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def stimulus_groups(stimuli):
    """The CV grouping labels of the stage-1 table, or None when it has no `group` column."""
    return stimuli["group"].to_numpy() if "group" in stimuli.columns else None
