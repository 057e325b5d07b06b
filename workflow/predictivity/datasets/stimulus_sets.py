"""BrainIO stimulus sets: a CSV (one row per stimulus: ``image_id`` or ``stimulus_id``,
``filename``, metadata such as ``object_name``) beside a zip of the files.

BrainIO's own loader (``brainio.stimuli.StimulusSetLoader``) takes each row's file as
``<unpacked zip>/<filename>`` and its id from ``stimulus_id`` (``image_id`` in legacy sets such as
``hvm-public``); the file names need not be the ids (hvm-public's are not). :func:`read_brainio_stimulus_set`
does the same; :func:`stimulus_set_table` turns the images read from those files into the study's
stimulus table keyed by the set's ids. Used by the ``it`` stimuli stage (``images.stimulus_csv``)
and by the ``majajhong2015`` loader (``stimulus_csv`` option).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pandas as pd

from predictivity.errors import InputError


def read_brainio_stimulus_set(csv_path, image_dir=None) -> pd.DataFrame:
    """A BrainIO stimulus set CSV as a table with a string ``image_id`` column.

    The id column is ``image_id``, else ``stimulus_id`` (renamed to ``image_id``); ids must be
    unique. With ``image_dir`` (the unpacked zip) a ``path`` column is added: each row's file is
    ``image_dir/<filename>`` (column ``filename``, else the legacy ``image_file_name``); a name
    that is absolute or contains ``..`` is refused, and every file must exist.
    """
    csv_path = Path(csv_path)
    try:
        df = pd.read_csv(csv_path)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise InputError(
            str(csv_path), f"cannot read the stimulus CSV: {e}.", "Download it again."
        ) from e
    if "image_id" not in df.columns and "stimulus_id" in df.columns:
        df = df.rename(columns={"stimulus_id": "image_id"})
    if "image_id" not in df.columns:
        raise InputError(
            str(csv_path),
            "has no image_id / stimulus_id column.",
            "Use the BrainIO stimulus set CSV.",
        )
    df["image_id"] = df["image_id"].astype(str)
    dup = df["image_id"][df["image_id"].duplicated()].unique().tolist()
    if dup:
        raise InputError(
            str(csv_path),
            f"{len(dup)} image id(s) appear more than once, e.g. {', '.join(dup[:3])}.",
            "Use the BrainIO stimulus set CSV as downloaded.",
        )
    if image_dir is not None:
        column = next((c for c in ("filename", "image_file_name") if c in df.columns), None)
        if column is None:
            raise InputError(
                str(csv_path),
                "has no filename (or image_file_name) column.",
                "Use the BrainIO stimulus set CSV.",
            )
        paths = []
        for name in df[column].astype(str):
            rel = PurePosixPath(name.replace("\\", "/"))
            if rel.is_absolute() or ".." in rel.parts:
                raise InputError(
                    str(csv_path),
                    f"file name {name!r} leaves the image folder (absolute or '..').",
                    "Use the BrainIO stimulus set CSV as downloaded.",
                )
            paths.append(Path(image_dir).joinpath(*rel.parts))
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise InputError(
                str(image_dir),
                f"{len(missing)} of {len(paths)} image(s) of the stimulus set are missing, "
                f"e.g. {missing[0]}.",
                "Point `images.folder` at the unpacked stimulus zip.",
            )
        df["path"] = [str(p) for p in paths]
    return df


def stimulus_set_table(
    images_table: pd.DataFrame, stimulus_set: pd.DataFrame, group_by: str | None, source: str
) -> pd.DataFrame:
    """The stimulus table of images read from a stimulus set's files, in the set's row order.

    images_table : the table of :func:`predictivity.studies.it.images.load_image_folder` for
        ``stimulus_set["path"]`` (same rows, same order).
    stimulus_set : :func:`read_brainio_stimulus_set` with ``image_dir``.
    group_by : a column of the set whose value is each image's CV group (e.g. ``object_name``:
        all images of one object stay in one fold); None = every image its own group.

    Returns ``images_table`` with ``stimulus_id`` = the set's ``image_id`` (so recordings match by
    the dataset's ids), ``file_stem`` = the former id, ``group``, and every other column of the set
    that the table does not already have.
    """
    if len(images_table) != len(stimulus_set):
        raise InputError(source, "the images and the stimulus set differ in length.", "")
    out = images_table.reset_index(drop=True).copy()
    sset = stimulus_set.reset_index(drop=True)
    out.insert(1, "file_stem", out["stimulus_id"].astype(str))
    out["stimulus_id"] = sset["image_id"].astype(str).to_numpy()
    for col in sset.columns:
        if col not in out.columns and col not in ("image_id", "path"):
            out[col] = sset[col].to_numpy()
    if group_by is None:
        out["group"] = out["stimulus_id"]
    else:
        if group_by not in sset.columns or sset[group_by].isna().any():
            raise InputError(
                source,
                f"has no {group_by!r} value for every image (columns: "
                f"{', '.join(map(str, sset.columns))}).",
                "Set `images.group_by` to one of those columns, or to null.",
            )
        out["group"] = sset[group_by].astype(str).to_numpy()
    return out
