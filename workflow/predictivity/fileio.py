"""File I/O of the workflow's scripts: reading users' and stages' files, atomic writes.

Every reader loads with ``allow_pickle=False`` and turns an unreadable file into one
:class:`~predictivity.errors.InputError` naming it; every writer writes a unique temporary file
(``mkstemp``: never through a planted name or link) and renames it into place, so a failed job
leaves no partial output, and a read-only folder or a full disk is one InputError.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from predictivity.errors import InputError


def _reason(e: Exception) -> str:
    """numpy's message, without its advice to load the file "unsafely" with allow_pickle."""
    msg = str(e)
    if "allow_pickle" in msg or "pickle" in msg.lower():
        msg = "it holds Python objects (a pickle), which are never loaded"
    return f"{type(e).__name__}: {msg}"


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
            f"cannot read {what} as a NumPy .npy file ({_reason(e)}).",
            "Save it with numpy.save of a numeric array.",
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
            f"cannot read {what} as a NumPy .npz file ({_reason(e)}).",
            "Save it with numpy.savez(file, layer1=..., layer2=...) of numeric arrays.",
        ) from None
    if not out:
        raise InputError(path, "the .npz holds no arrays.", "Save one array per layer.")
    return out


def open_npz(path: str, what: str = "eigen basis"):
    """``np.load`` of an .npz (allow_pickle=False) left open for reading member by member (a
    stage that reads one layer at a time); InputError naming the file when it cannot be read."""
    try:
        return np.load(Path(path), allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise InputError(
            path,
            f"cannot read {what} as a NumPy .npz file ({_reason(e)}).",
            "Delete it and rerun: the workflow recomputes it.",
        ) from None


def read_parquet(path: str, what: str = "stage table"):
    """``pandas.read_parquet`` of a table another stage wrote; a missing, truncated or
    non-parquet file is one InputError naming it (pyarrow's own message as the reason)."""
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 — any read failure is the file's
        raise InputError(
            path,
            f"cannot read {what} as a Parquet file ({type(e).__name__}: {e}).",
            "Delete it and rerun: the workflow recomputes it.",
        ) from None


def read_lines(path: str, what: str = "stimulus ids") -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise InputError(path, f"{what} file does not exist.", "Check the path in the config.")
    try:
        text = p.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of an id
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file


def _write_error(path, e: OSError) -> InputError:
    return InputError(
        str(path),
        f"cannot write the output ({e.strerror or type(e).__name__}"
        + (f", errno {e.errno}" if e.errno else "")
        + "); nothing was written.",
        "Free disk space, or run in a writable project directory (--directory).",
    )


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", **open_kwargs):
    """Open a new, unique temporary file next to ``path`` and rename it onto ``path`` on success.

    The temporary file is made by :func:`tempfile.mkstemp` (``O_CREAT | O_EXCL``, never through an
    existing name or symlink) in the target's directory, so a planted link is never followed and a
    failed write leaves neither a partial output nor the temporary file. A read-only folder or a
    full disk is one :class:`InputError` naming the file.
    """
    p = Path(path)
    tmp = None
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
        os.replace(tmp, p)
        tmp = None
    except OSError as e:
        raise _write_error(p, e) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_npz(f, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed .npz of ``arrays`` (name → array, in order) into the binary file ``f``.

    What :func:`numpy.savez` writes (one ``<name>.npy`` member each, memory-mappable), but from a
    dict: any name is kept, also ``file`` or ``allow_pickle``, which ``np.savez(f, **arrays)`` would
    take for its own arguments. Object arrays are refused (no pickles).
    """
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, a in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(a), allow_pickle=False)


def save_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """:func:`write_npz` (uncompressed, memory-mappable members) via :func:`atomic_write`."""
    with atomic_write(path) as f:
        write_npz(f, arrays)


def save_parquet(df, path: str) -> None:
    with atomic_write(path) as f:
        df.to_parquet(f, index=False)


def save_tsv(df, path: str) -> None:
    with atomic_write(path, "w", encoding="utf-8", newline="") as f:
        df.to_csv(f, sep="\t", index=False)


def read_stimuli(path: str):
    """The stage-1 table (stimulus_id, optional group, …), ids kept as strings."""
    import pandas as pd

    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def stimulus_groups(stimuli):
    """The CV grouping labels of the stage-1 table, or None when it has no `group` column."""
    return stimuli["group"].to_numpy() if "group" in stimuli.columns else None


def read_model_tables(paths, entries):
    """The per-(study, model) tables at ``paths``, concatenated, with ``study`` and ``model`` as
    their first columns (``entries``: one ``{"study", "model"}`` dict per path, in order); an
    empty DataFrame when there are none."""
    import pandas as pd

    frames = []
    for path, entry in zip(paths, entries):
        df = read_parquet(path)
        df.insert(0, "study", entry["study"])
        df.insert(1, "model", entry["model"])
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
