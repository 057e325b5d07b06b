"""Readers of the file formats the real-data loaders meet, and checked access to what they read.

* MATLAB ``.mat`` (v4/v5/v7 and v7.3 = HDF5): :func:`read_mat`, with ``pymatreader``. It reads
  the MATLAB fixtures of ``tests/test_datasets.py`` (v5 and v7.3: cells of strings of any shape,
  1-element cells, nested cells, structs) exactly as the former own v7.3 reader did, so that reader
  is gone; ``mat73`` was not taken (it wraps each string of a cell in a list, and is GPL-3).
* Praat TextGrids (long or short text format, UTF-8 or UTF-16): :func:`read_textgrid`, with
  ``praatio``, which reads the TextGrid fixtures of ``tests/test_datasets.py`` (escaped quotes,
  empty labels, point tiers) exactly as the former own parser did; ``textgrid`` was not taken (it
  refuses an interval ending after the grid's ``xmax``).
* NWB 2.x (HDF5) spike times and tracked position: :func:`read_nwb_units_position`, with h5py
  (it reads four datasets; ``pynwb`` was not evaluated).
* :func:`need`, :func:`numeric_array`, :func:`string_list`, :func:`cell_list`: a variable of a
  loaded file, checked; anything else is an :class:`~predictivity.errors.InputError` naming the
  file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from predictivity.errors import InputError


def read_mat(path, source: str | None = None) -> dict:
    """Read a MATLAB ``.mat`` file (v4/v5/v7 via scipy, v7.3 via h5py) with ``pymatreader``.

    Structs → dicts, cell arrays → lists (a 1-element cell → its element), char arrays → ``str``,
    numeric arrays → squeezed ndarrays in MATLAB's shape (1×1 → Python scalar), the same for v5
    and v7.3 files (an empty char array is an empty array). Variables whose names start with
    ``__`` are skipped. A missing or unreadable file is an :class:`InputError` naming ``source``
    (default: the path).
    """
    import pymatreader

    path = Path(path)
    source = source or str(path)
    if not path.is_file():
        raise InputError(
            source, f"{path} does not exist.", "Check the path (download the data first)."
        )
    try:
        d = pymatreader.read_mat(str(path))
    except Exception as e:  # noqa: BLE001 - scipy and h5py raise many types for a bad file
        raise InputError(
            source,
            f"cannot read {path} as a MATLAB file ({type(e).__name__}: {e}).",
            "Check that the file is complete (its sha256) and a .mat file.",
        ) from e
    return {k: v for k, v in d.items() if not k.startswith("__")}


def string_list(value, what: str, source: str) -> list[str]:
    """A cell array of strings (any shape) as a flat list of str."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value, dtype=object).ravel()
        out = []
        for v in arr:
            if isinstance(v, np.ndarray) and v.size <= 1:  # '' reads as an empty array
                v = v.ravel()[0] if v.size else ""
            if isinstance(v, bytes):
                v = v.decode()
            if not isinstance(v, str):
                raise InputError(
                    source,
                    f"{what} holds a {type(v).__name__}, expected strings.",
                    "Check that this is the original file.",
                )
            out.append(v.strip())
        return out
    raise InputError(
        source,
        f"{what} is a {type(value).__name__}, expected a cell array of strings.",
        "Check that this is the original file.",
    )


def need(d: dict, name: str, source: str, what: str = "variable"):
    if name not in d:
        raise InputError(
            source,
            f"has no {what} {name!r} (found: {', '.join(sorted(d)) or 'none'}).",
            "Check that this is the right file of the data release.",
        )
    return d[name]


def numeric_array(value, name: str, source: str, ndim: int | None = None) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind not in "fiub":
        raise InputError(
            source,
            f"{name} has dtype {a.dtype}, expected numbers.",
            "Check that this is the original file.",
        )
    a = a.astype(np.float64)
    if ndim is not None and a.ndim != ndim:
        raise InputError(
            source,
            f"{name} has shape {a.shape}, expected {ndim} dimensions.",
            "Check that this is the original file.",
        )
    return a


def cell_list(value) -> list:
    """A (squeezed) cell array as a list; a single element (squeezed away) becomes [element]."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        return list(value.ravel())
    if isinstance(value, list):
        return value
    return [value]


def read_textgrid(path) -> pd.DataFrame:
    """All intervals (and points) of a Praat TextGrid, long or short text format (UTF-8 or UTF-16).

    Returns a table ``tier`` (tier name), ``tier_index`` (0-based), ``start``, ``end`` (seconds;
    ``end == start`` for point tiers) and ``label`` (str), in file order, empty intervals included.
    An unreadable file, overlapping intervals in a tier or two tiers of one name are an
    :class:`InputError`.
    """
    from praatio import textgrid

    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "TextGrid does not exist.", "Download the story's TextGrid.")
    try:
        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=True)
    except Exception as e:  # noqa: BLE001 - praatio raises many types for a bad file
        raise InputError(
            str(path),
            f"is not a readable Praat TextGrid ({type(e).__name__}: {e}).",
            "Use the TextGrids of the data release (derivative/TextGrids).",
        ) from e
    rows = []
    for t, tier in enumerate(grid.tiers):
        for entry in tier.entries:
            if len(entry) == 3:  # Interval(start, end, label)
                a, b, lab = entry
            else:  # Point(time, label)
                a, lab = entry
                b = a
            rows.append((tier.name, t, float(a), float(b), str(lab)))
    return pd.DataFrame(rows, columns=["tier", "tier_index", "start", "end", "label"])


def attr_str(obj, name: str) -> str | None:
    """An HDF5 attribute as str (bytes decoded, a 1-element array unwrapped); None if absent."""
    v = obj.attrs.get(name)
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray):
        v = v.ravel()[0] if v.size else ""
        return v.decode() if isinstance(v, bytes) else str(v)
    return str(v)


def read_nwb_units_position(path, position_series: str | None = None) -> dict:
    """Spike times per unit and tracked position from an NWB 2.x file, read with h5py.

    NWB paths read:

    * ``/units/spike_times`` (all units' spike times concatenated, seconds) and
      ``/units/spike_times_index`` (per unit, the end offset of its spikes in ``spike_times``);
      ``/units/id`` (unit ids).
    * position: a ``SpatialSeries`` inside a ``Position`` container (``neurodata_type``
      attribute) under ``/processing/behavior`` (else anywhere under ``/processing`` or
      ``/acquisition``): ``data`` (T × 2 or more; multiplied by its ``conversion`` attribute and
      shifted by ``offset`` when present, giving metres) and ``timestamps`` (or ``starting_time``
      with attribute ``rate``). ``position_series`` picks a series by name when there are several.

    Returns ``{"spike_times": [array per unit], "unit_ids": array, "positions": (T, 2),
    "times": (T,), "series": path of the SpatialSeries}``.
    """
    import h5py

    source = str(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise InputError(source, f"cannot open as NWB/HDF5: {e}.", "Check the file.") from e
    with f:
        if "units" not in f or "spike_times" not in f["units"]:
            raise InputError(
                source, "has no /units/spike_times.", "Store spikes in the NWB units table."
            )
        st = np.asarray(f["units/spike_times"][()], dtype=np.float64)
        if "spike_times_index" in f["units"]:
            ends = np.asarray(f["units/spike_times_index"][()], dtype=np.int64)
        else:
            ends = np.array([len(st)])
        starts = np.r_[0, ends[:-1]]
        spikes = [st[a:b] for a, b in zip(starts, ends)]
        ids = np.asarray(f["units/id"][()]) if "id" in f["units"] else np.arange(len(spikes))

        series = []

        def visit(name, obj):
            if isinstance(obj, h5py.Group) and attr_str(obj, "neurodata_type") == "SpatialSeries":
                parent = obj.parent
                in_position = attr_str(parent, "neurodata_type") == "Position"
                series.append((name, in_position))

        for root in ("processing/behavior", "processing", "acquisition"):
            if root in f:
                f[root].visititems(lambda n, o, r=root: visit(f"{r}/{n}", o))
                if series:
                    break
        series = list(dict.fromkeys(series))
        if position_series is not None:
            series = [s for s in series if s[0].split("/")[-1] == position_series]
        preferred = [s for s in series if s[1]] or series
        if not preferred:
            raise InputError(
                source,
                "has no SpatialSeries (Position) under /processing/behavior.",
                "Store the tracked position as a Position/SpatialSeries in the "
                "behavior processing module.",
            )
        if len(preferred) > 1:
            raise InputError(
                source,
                f"has several position series: {[s[0] for s in preferred]}.",
                "Name one with position_series.",
            )
        g = f[preferred[0][0]]
        data = np.asarray(g["data"][()], dtype=np.float64)
        conv = float(np.asarray(g["data"].attrs.get("conversion", 1.0)))
        off = float(np.asarray(g["data"].attrs.get("offset", 0.0)))
        data = data * conv + off
        if "timestamps" in g:
            times = np.asarray(g["timestamps"][()], dtype=np.float64)
        elif "starting_time" in g:
            t0 = float(g["starting_time"][()])
            rate = float(g["starting_time"].attrs["rate"])
            times = t0 + np.arange(len(data)) / rate
        else:
            raise InputError(
                source,
                f"{preferred[0][0]} has neither timestamps nor starting_time.",
                "Store timestamps with the position.",
            )
    if data.ndim == 1 or data.shape[1] < 2:
        raise InputError(
            source,
            f"position data have shape {data.shape}, expected T × 2.",
            "Store x and y positions.",
        )
    return {
        "spike_times": spikes,
        "unit_ids": ids,
        "positions": data[:, :2],
        "times": times,
        "series": preferred[0][0],
    }
