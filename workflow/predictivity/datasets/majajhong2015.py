"""Majaj, Hong et al. 2015: macaque IT multi-unit sites from Brain-Score's public assembly
(BrainIO netCDF-4: one DataArray ``presentation × neuroid × time_bin``; MultiIndex levels stored as
plain coords: ``image_id``, ``repetition``, ``object_name``, …, ``region``, ``neuroid_id``,
``time_bin_start``/``time_bin_end``). Time bin 70–170 ms, region IT, repetitions grouped by
``image_id`` → images × sites × repetitions, ``group = object_name``. Serves the ``it`` kind
(loader ``majajhong2015``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from predictivity.datasets.dataset import Dataset, call_with_options
from predictivity.datasets.stimulus_sets import read_brainio_stimulus_set
from predictivity.errors import InputError

__all__ = ["load_majajhong2015", "open_dataset", "read_brainio_stimulus_set"]

log = logging.getLogger(__name__)


def _coord(da, name):
    return np.asarray(da[name].values) if name in da.coords else None


def load_majajhong2015(
    path,
    region: str = "IT",
    time_bin=(70, 170),
    group_by: str | None = "object_name",
    stimulus_csv=None,
) -> Dataset:
    """IT multi-unit responses of Majaj, Hong et al. 2015 from Brain-Score's public assembly.

    Reads the BrainIO netCDF-4 file (``assy_dicarlo_MajajHong2015_public.nc``) with xarray (engine
    h5netcdf; a netCDF-3 file would be read by scipy). The file holds one data variable with dims
    ``presentation × neuroid × time_bin`` (its name is the assembly identifier or ``data``); the
    BrainIO MultiIndex levels are stored as plain coordinates on those dims.

    Steps: keep the time bin with ``time_bin_start == time_bin[0]`` and ``time_bin_end`` (or
    ``time_bin_stop``) ``== time_bin[1]`` (70–170 ms, the benchmark's bin); keep neuroids with
    ``region == region``; group presentations by ``image_id`` (images in order of first
    appearance). Images were shown a different number of times, so **every image keeps only its
    first R repetitions, R = the minimum count over images** (ordered by the ``repetition`` coord
    when present, else file order); the number dropped is logged and kept in ``extra``. The mean
    over repetitions is therefore over R presentations per image, the same R for every image, which
    the split-half noise ceiling needs.

    Options (``dataset.options``; no other config key sets them):

    region : neuroid region kept (default ``IT``).
    time_bin : (start, end) in ms of the time bin kept (default 70–170, the benchmark's bin).
    group_by : presentation coordinate used as CV group (default ``object_name``: all images of one
        object stay in one fold); taken from the assembly, else from ``stimulus_csv`` (the BrainIO
        stimulus set CSV, joined on ``image_id``). None = no group.
    stimulus_csv : optional path of that CSV (default none).

    Returns responses images × sites × R; stimuli ``stimulus_id`` (= ``image_id``), ``group`` and
    every presentation coordinate constant within an image (``object_name``, ``category_name``,
    ``variation``, …); targets ``target_name`` (``neuroid_id``) + neuroid coordinates.
    """
    import xarray as xr

    source = str(path)
    if not Path(path).is_file():
        raise InputError(source, "file does not exist.", "Download the assembly first.")
    try:
        ds = xr.open_dataset(path)
    except Exception as e:  # noqa: BLE001 - xarray raises many types for a bad file
        raise InputError(
            source,
            f"cannot open as netCDF: {e}.",
            "Download the assembly again (check its sha256).",
        ) from e
    with ds:
        cands = [v for v in ds.data_vars if {"presentation", "neuroid"} <= set(ds[v].dims)]
        if len(cands) != 1:
            raise InputError(
                source,
                f"expected one data variable with dims presentation × neuroid, "
                f"found {cands or list(ds.data_vars)}.",
                "Use a BrainIO NeuroidAssembly file.",
            )
        da = ds[cands[0]]
        if "image_id" not in da.coords:
            if "stimulus_id" not in da.coords:  # newer BrainIO packages name it stimulus_id
                raise InputError(
                    source,
                    "has no 'image_id' (or 'stimulus_id') coordinate.",
                    "Use a BrainIO assembly file.",
                )
            da = da.rename({"stimulus_id": "image_id"})
        # time bin
        if "time_bin" in da.dims:
            start = _coord(da, "time_bin_start")
            stop = _coord(da, "time_bin_end")
            if stop is None:
                stop = _coord(da, "time_bin_stop")
            if start is None or stop is None:
                raise InputError(
                    source,
                    "time_bin has no time_bin_start/time_bin_end coordinates.",
                    "Use a BrainIO assembly file.",
                )
            hit = np.flatnonzero(
                (np.asarray(start, float) == float(time_bin[0]))
                & (np.asarray(stop, float) == float(time_bin[1]))
            )
            if len(hit) != 1:
                bins = ", ".join(f"{a}-{b}" for a, b in zip(np.ravel(start), np.ravel(stop)))
                raise InputError(
                    source,
                    f"no unique time bin {time_bin[0]}-{time_bin[1]} ms (bins: {bins}).",
                    "Set time_bin to one of the file's bins.",
                )
            da = da.isel(time_bin=int(hit[0]))
        # region
        regions = _coord(da, "region")
        if regions is None:
            raise InputError(
                source, "has no 'region' coordinate on neuroid.", "Use a BrainIO assembly file."
            )
        sites = np.flatnonzero(regions.astype(str) == str(region))
        if len(sites) == 0:
            raise InputError(
                source,
                f"no neuroid with region {region!r} (regions: {sorted(set(regions.astype(str)))}).",
                "Pick one of those regions.",
            )
        da = da.isel(neuroid=sites).transpose("presentation", "neuroid")
        X = np.asarray(da.values, dtype=np.float64)
        pres = {
            name: np.asarray(c.values)
            for name, c in da.coords.items()
            if c.dims == ("presentation",)
        }
        neur = {
            name: np.asarray(c.values) for name, c in da.coords.items() if c.dims == ("neuroid",)
        }
    pres_df = pd.DataFrame(pres)
    pres_df["image_id"] = pres_df["image_id"].astype(str)
    pres_df["_order"] = np.arange(len(pres_df))
    sort_cols = ["repetition", "_order"] if "repetition" in pres_df.columns else ["_order"]
    ranked = pres_df.sort_values(sort_cols, kind="stable")
    rank = ranked.groupby("image_id", sort=False).cumcount().reindex(pres_df.index).to_numpy()
    images = pd.unique(pres_df["image_id"])
    counts = pres_df.groupby("image_id", sort=False).size().reindex(images).to_numpy()
    R = int(counts.min())
    dropped = int(counts.sum() - R * len(images))
    if dropped:
        log.warning(
            "%s: images were shown %d–%d times; keeping the first %d repetitions of each "
            "(%d presentations dropped)",
            source,
            counts.min(),
            counts.max(),
            R,
            dropped,
        )
    img_index = pd.Index(images).get_indexer(pres_df["image_id"])
    keep = rank < R
    Y = np.empty((len(images), X.shape[1], R))
    Y[img_index[keep], :, rank[keep]] = X[keep]
    # per-image table: presentation coords constant within image
    first = pres_df.drop_duplicates("image_id").set_index("image_id").reindex(images)
    const = [
        c
        for c in pres_df.columns
        if c not in ("image_id", "_order", "repetition")
        and pres_df.groupby("image_id", sort=False)[c].nunique(dropna=False).max() == 1
    ]
    stimuli = pd.DataFrame({"stimulus_id": images})
    for c in const:
        stimuli[c] = first[c].to_numpy()
    if stimulus_csv is not None:
        sset = read_brainio_stimulus_set(stimulus_csv)
        add = [c for c in sset.columns if c not in stimuli.columns and c != "image_id"]
        stimuli = stimuli.merge(
            sset[["image_id"] + add].rename(columns={"image_id": "stimulus_id"}),
            on="stimulus_id",
            how="left",
            validate="one_to_one",
        )
    if group_by is not None:
        if group_by not in stimuli.columns or stimuli[group_by].isna().any():
            raise InputError(
                source,
                f"no {group_by!r} for every image (neither in the assembly nor "
                "in the stimulus CSV).",
                "Pass the stimulus set CSV (image_dicarlo_hvm-public.csv) or set group_by to null.",
            )
        stimuli["group"] = stimuli[group_by].astype(str)
    targets = pd.DataFrame(neur)
    tname = (
        targets["neuroid_id"].astype(str)
        if "neuroid_id" in targets
        else pd.Series([f"site{i}" for i in sites])
    )
    targets.insert(0, "target_name", tname.to_numpy())
    return Dataset(
        Y,
        stimuli,
        targets.reset_index(drop=True),
        {"repetitions_per_image": counts, "presentations_dropped": dropped},
    )


def open_dataset(
    path, options: dict, *, verified: bool = False, source: str = "dataset"
) -> Dataset:
    """Registry entry: ``path`` is the assembly ``.nc`` file or a directory holding it (the first
    ``*.nc`` below it, sorted); ``options`` are :func:`load_majajhong2015`'s keywords."""
    p = Path(path)
    if p.is_dir():
        hits = sorted(p.rglob("*.nc"))
        if not hits:
            raise InputError(
                str(p),
                "no .nc (BrainIO netCDF) file below this directory.",
                "Point `dataset.path` at the assembly .nc file.",
            )
        p = hits[0]
    return call_with_options(load_majajhong2015, source, p, options=options)
