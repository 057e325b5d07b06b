"""Loaders of the real data sets (predictivity.datasets) on fixtures written here in the real
formats: MATLAB v5 (scipy.io.savemat, cell arrays of strings) and v7.3 (HDF5 with MATLAB's
attributes, written with h5py), BrainIO netCDF-4 (xarray), .npy + pandas pickles, HDF5 story
responses + Praat TextGrids, NWB-layout HDF5."""

import itertools
import tarfile

import numpy as np
import pandas as pd
import pytest
import scipy.io as sio

# the loaders' readers (pinned in pyproject): pymatreader (MATLAB v5 / v7.3), praatio (TextGrids),
# h5py (NWB, LeBel .hf5; writes the v7.3 fixtures) and xarray + h5netcdf (BrainIO netCDF).
h5py = pytest.importorskip("h5py", reason="h5py is needed to read MATLAB v7.3 / NWB / HDF5 files")

from predictivity.datasets import (
    formats,
    lebel2023,
    majajhong2015,
    mec_file,
    nh2015,
    pereira2018,
    tuckute2023,
)
from predictivity.datasets.download import fetch, unpack
from predictivity.errors import InputError
from predictivity.studies.mec.arena import arena_bins
from predictivity.studies.recordings import prepare_recordings
from predictivity.studies.story import features

# ------------------------------------------------------------------------------------------
# writers of the real formats
# ------------------------------------------------------------------------------------------


def cell(values, shape=None) -> np.ndarray:
    """A MATLAB cell array (object ndarray) for scipy.io.savemat."""
    c = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        c[i] = v
    return c.reshape(shape or (1, len(values)))


def write_mat73(path, variables: dict) -> None:
    """Write a MATLAB v7.3 MAT-file the way MATLAB lays it out: a 512-byte user block with the
    MAT header, every array transposed, chars as uint16 with MATLAB_class 'char', cells as
    object-reference datasets pointing into '#refs#', structs as groups."""
    counter = itertools.count()
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")

        def put(group, name, value):
            if isinstance(value, str):
                if value == "":
                    ds_ = group.create_dataset(name, data=np.array([1, 0], dtype=np.uint64))
                    ds_.attrs["MATLAB_empty"] = np.uint8(1)
                else:
                    units = np.frombuffer(value.encode("utf-16-le"), dtype="<u2")
                    ds_ = group.create_dataset(name, data=units[:, None])  # MATLAB 1×n → HDF5 n×1
                ds_.attrs["MATLAB_class"] = np.bytes_("char")
                ds_.attrs["MATLAB_int_decode"] = np.int32(2)
                return ds_
            if isinstance(value, dict):
                g = group.create_group(name)
                g.attrs["MATLAB_class"] = np.bytes_("struct")
                for k, v in value.items():
                    put(g, k, v)
                return g
            if isinstance(value, np.ndarray) and value.dtype == object:
                arr = value if value.ndim == 2 else value.reshape(1, -1)
                out = np.empty(arr.T.shape, dtype=h5py.ref_dtype)
                for idx in np.ndindex(arr.shape):
                    obj = put(refs, f"r{next(counter)}", arr[idx])
                    out[idx[::-1]] = obj.ref
                ds_ = group.create_dataset(name, data=out, dtype=h5py.ref_dtype)
                ds_.attrs["MATLAB_class"] = np.bytes_("cell")
                return ds_
            arr = np.asarray(value)
            if arr.ndim < 2:
                arr = arr.reshape(1, -1)
            cls = "logical" if arr.dtype == bool else "double"
            data = arr.astype(np.uint8 if cls == "logical" else np.float64).T
            ds_ = group.create_dataset(name, data=data)
            ds_.attrs["MATLAB_class"] = np.bytes_(cls)
            return ds_

        for k, v in variables.items():
            put(f, k, v)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Nov 26 10:00:00 2026 HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")


# ------------------------------------------------------------------------------------------
# MATLAB reader
# ------------------------------------------------------------------------------------------


def test_read_mat_v5_and_v73_agree(tmp_path):
    rng = np.random.default_rng(0)
    R = rng.standard_normal((5, 3))
    variables = {
        "R": R,
        "names": cell(["a", "bé", "ccc", "d", "e"]),
        "comp": cell(["x", "y", "z"], (3, 1)),
        "one": cell(["only"], (1, 1)),
        "s": {"field": np.arange(4.0).reshape(2, 2), "label": "hello"},
        "scalar": 7.0,
        "blank": cell(["a", ""]),
    }
    sio.savemat(tmp_path / "v5.mat", variables)
    write_mat73(tmp_path / "v73.mat", variables)
    assert h5py.is_hdf5(tmp_path / "v73.mat")
    with pytest.raises(NotImplementedError):  # scipy refuses v7.3: pymatreader reads it with h5py
        sio.loadmat(tmp_path / "v73.mat")
    a, b = formats.read_mat(tmp_path / "v5.mat"), formats.read_mat(tmp_path / "v73.mat")
    for d in (a, b):
        np.testing.assert_array_equal(d["R"], R)
        assert list(d["names"]) == ["a", "bé", "ccc", "d", "e"]
        assert list(d["comp"]) == ["x", "y", "z"]
        assert d["one"] == "only"
        assert d["s"]["label"] == "hello"
        np.testing.assert_array_equal(d["s"]["field"], np.arange(4.0).reshape(2, 2))
        assert d["scalar"] == 7.0
        # an empty string reads as an empty array (v5: str, v7.3: float); string_list gives ""
        assert formats.string_list(d["blank"], "blank", "test") == ["a", ""]


def test_read_mat_bad_file(tmp_path):
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(InputError, match="bad.mat"):
        formats.read_mat(bad)


# ------------------------------------------------------------------------------------------
# 1. NH2015 components
# ------------------------------------------------------------------------------------------


def _components_vars(rng, n_sounds=165, n_vox=40):
    names = [f"stim{i}_sound_{i % 11}" for i in range(n_sounds)]
    return {
        "R": rng.standard_normal((n_sounds, 6)),
        "W": rng.standard_normal((6, n_vox)),
        "stim_names": cell(names),  # 1 × 165 cell
        "category_labels": cell([f"cat{i % 11}" for i in range(n_sounds)], (n_sounds, 1)),
        "component_names": cell(
            ["low_freq", "high_freq", "pitch", "speech", "music", "song"], (6, 1)
        ),  # 6 × 1 cell
    }


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_nh2015_components(tmp_path, version):
    rng = np.random.default_rng(1)
    v = _components_vars(rng)
    path = tmp_path / "components.mat"
    if version == "v5":
        sio.savemat(path, v)
        # the file reads back the way the Tuckute et al. code indexes it
        raw = sio.loadmat(path)
        assert (
            raw["stim_names"][0][0][0] == "stim0_sound_0"
            and raw["component_names"][0][0][0] == "low_freq"
        )
    else:
        write_mat73(path, v)
    d = nh2015.load_nh2015_components(path)
    assert d.responses.shape == (165, 6, 1)
    np.testing.assert_allclose(d.responses[:, :, 0], v["R"])
    assert list(d.stimuli.stimulus_id) == list(v["stim_names"].ravel())
    assert d.stimuli.category[12] == "cat1"
    assert d.target_names == list(v["component_names"].ravel())
    assert d.extra["W_shape"] == (6, 40)
    # reorder to another sound order (as the NH2015 voxel data)
    order = list(v["stim_names"].ravel())[::-1]
    r = nh2015.load_nh2015_components(path, stimulus_order=order)
    np.testing.assert_allclose(r.responses[:, :, 0], v["R"][::-1])
    assert list(r.stimuli.stimulus_id) == order
    rec = prepare_recordings(d.responses, str(path), d.target_names)
    assert rec["mean"].shape == (165, 6)
    with pytest.raises(InputError, match="not in stim_names"):
        nh2015.load_nh2015_components(path, stimulus_order=["nope"])


def test_nh2015_components_shape_mismatch(tmp_path):
    v = _components_vars(np.random.default_rng(2))
    v["R"] = v["R"][:100]
    sio.savemat(tmp_path / "c.mat", v)
    with pytest.raises(InputError, match="R has shape"):
        nh2015.load_nh2015_components(tmp_path / "c.mat")


# ------------------------------------------------------------------------------------------
# 2. Tuckute et al. 2023 release (NH2015, B2021)
# ------------------------------------------------------------------------------------------

SOUNDS = [
    f"stim{i}_{w}"
    for i, w in enumerate(
        itertools.islice(itertools.cycle(["alarm_clock", "bird", "speech", "music", "dog"]), 165)
    )
]


def write_tuckute_release(root, rng, n_vox=30, n_b=20, n_b_sounds=192):
    nh, b = root / "data" / "neural" / "NH2015", root / "data" / "neural" / "B2021"
    nh.mkdir(parents=True)
    b.mkdir(parents=True)
    stim_meta = np.array(
        [(f"{s}.wav".encode(), i % 11) for i, s in enumerate(SOUNDS)],
        dtype=[("stim_name", "S64"), ("category", "<i8")],
    )
    np.save(nh / "neural_stim_meta.npy", stim_meta)
    Y = rng.standard_normal((165, n_vox, 3))
    n_reps = np.where(np.arange(n_vox) % 5 == 4, 2, 3)
    Y[:, n_reps == 2, 2] = np.nan  # voxels of subjects with only two scans
    np.save(nh / "voxel_features_array.npy", Y)
    vmeta = np.array(
        [(i // 10, b"lh" if i % 2 else b"rh", i, -i, i, n_reps[i]) for i in range(n_vox)],
        dtype=[
            ("subj_idx", "<i8"),
            ("hemi", "S2"),
            ("x_ras", "<i8"),
            ("y_ras", "<i8"),
            ("voxel_id", "<i8"),
            ("n_reps", "<i8"),
        ],
    )
    np.save(nh / "voxel_features_meta.npy", vmeta)
    kept = np.flatnonzero(n_reps == 3)
    pd.DataFrame(
        {
            "subj_idx": kept // 10,
            "hemi": ["lh" if i % 2 else "rh" for i in kept],
            "voxel_id": kept,
            "tonotopic": (kept % 3 == 0).astype(float),
            "speech": (kept % 2 == 0).astype(float),
            "any_roi": (kept % 3 == 0).astype(float),
            "kell_r_reliability": rng.random(len(kept)),
        }
    ).to_pickle(nh / "df_roi_meta.pkl")
    YB = rng.standard_normal((n_b_sounds, n_b, 3))
    np.save(b / "voxel_features_array.npy", YB)
    pd.DataFrame(
        {
            "subj_idx": np.arange(n_b) // 5,
            "voxel_id": np.arange(n_b),
            "pitch": (np.arange(n_b) % 4 == 0).astype(float),
        }
    ).to_pickle(b / "df_roi_meta.pkl")
    b_names = [f"{s}.wav" for s in SOUNDS] + [f"extra{i}.wav" for i in range(n_b_sounds - 165)]
    sio.savemat(
        b / "stim_info_v4.mat", {"stim_info": {"stim_names": cell(b_names, (n_b_sounds, 1))}}
    )
    return Y, kept, YB


def test_tuckute2023_requires_verification(tmp_path):
    write_tuckute_release(tmp_path, np.random.default_rng(3))
    with pytest.raises(InputError, match="unpickling runs code"):
        tuckute2023.load_tuckute2023(tmp_path, "NH2015")


def test_tuckute2023_from_verified_archive(tmp_path):
    rng = np.random.default_rng(4)
    src = tmp_path / "release"
    Y, kept, YB = write_tuckute_release(src, rng)
    arc = tmp_path / "data.tar"
    with tarfile.open(arc, "w") as tar:
        tar.add(src / "data", arcname="data")
    # the download rule's path: fetch (checksum recorded) → unpack → load with verified=True
    table = tmp_path / "checksums.tsv"
    got = fetch(
        arc.as_uri(), tmp_path / "dl" / "data.tar", checksums_tsv=table, key="auditory.archive"
    )
    root = unpack(got.path, tmp_path / "dl" / "tuckute2023")
    d = tuckute2023.load_tuckute2023(root, "NH2015", verified=True)
    assert d.responses.shape == (165, len(kept), 3)
    np.testing.assert_array_equal(d.responses, Y[:, kept])
    assert np.isfinite(d.responses).all()
    assert list(d.stimuli.stimulus_id) == SOUNDS
    assert list(d.targets.column) == list(kept)
    assert d.targets.target_name[0] == f"NH2015_v{kept[0]}"
    assert {"tonotopic", "speech", "kell_r_reliability", "hemi"} <= set(d.targets.columns)
    roi = tuckute2023.load_tuckute2023(root, "NH2015", verified=True, roi="tonotopic")
    assert (roi.targets.tonotopic == 1).all() and roi.responses.shape[1] == int(
        (kept % 3 == 0).sum()
    )
    b = tuckute2023.load_tuckute2023(root / "data", "B2021", verified=True)
    assert b.responses.shape == (165, 20, 3)
    np.testing.assert_array_equal(b.responses, YB[:165])
    assert list(b.stimuli.stimulus_id) == SOUNDS
    b_all = tuckute2023.load_tuckute2023(root, "B2021", verified=True, n_sounds=192)
    assert b_all.stimuli.stimulus_id.iloc[-1] == "extra26"
    rec = prepare_recordings(d.responses, "NH2015", d.target_names)
    assert rec["mean"].shape == (165, len(kept)) and rec["ceiling"].shape == (len(kept),)


def test_tuckute2023_missing_directory(tmp_path):
    with pytest.raises(InputError, match="no B2021 directory"):
        tuckute2023.load_tuckute2023(tmp_path, "B2021", verified=True)


# ------------------------------------------------------------------------------------------
# 3. MajajHong2015 (BrainIO netCDF-4)
# ------------------------------------------------------------------------------------------


def write_brainio_assembly(
    path, rng, with_object_name=True, name="dicarlo.MajajHong2015.public", id_name="image_id"
):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    images = [f"img{i:02d}" for i in range(12)]
    objects = {img: f"obj{i // 3}" for i, img in enumerate(images)}
    reps = {img: 3 + (i % 3) for i, img in enumerate(images)}  # 3, 4 or 5 repetitions
    rows = [(img, r) for r in range(5) for img in images if r < reps[img]]
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    n_sites = 10
    region = np.array(["V4"] * 4 + ["IT"] * 6)
    data = rng.standard_normal((len(rows), n_sites, 2)).astype(np.float32)
    coords = {
        id_name: ("presentation", [r[0] for r in rows]),
        "repetition": ("presentation", [r[1] for r in rows]),
        "stimulus": ("presentation", np.arange(len(rows))),
        "variation": ("presentation", [6] * len(rows)),
        "neuroid_id": ("neuroid", [f"Chabo_L_M_{i}" for i in range(n_sites)]),
        "region": ("neuroid", region),
        "animal": ("neuroid", ["Chabo"] * 5 + ["Tito"] * 5),
        "time_bin_start": ("time_bin", [0, 70]),
        "time_bin_end": ("time_bin", [50, 170]),
    }
    if with_object_name:
        coords["object_name"] = ("presentation", [objects[r[0]] for r in rows])
    da = xr.DataArray(data, dims=("presentation", "neuroid", "time_bin"), coords=coords)
    dset = da.to_dataset(name=name)
    dset.attrs.update(
        identifier="dicarlo.MajajHong2015.public", stimulus_set_identifier="dicarlo.hvm-public"
    )
    dset.to_netcdf(path, engine="h5netcdf")
    return data, rows, images, objects, reps, region


def test_majajhong2015(tmp_path, caplog):
    rng = np.random.default_rng(5)
    path = tmp_path / "assy_dicarlo_MajajHong2015_public.nc"
    data, rows, images, objects, reps, region = write_brainio_assembly(path, rng)
    with h5py.File(path) as f:  # netCDF-4 = HDF5, as the BrainIO spec says
        assert "dicarlo.MajajHong2015.public" in f
    d = majajhong2015.load_majajhong2015(path)
    it = np.flatnonzero(region == "IT")
    assert d.responses.shape == (12, 6, 3)  # min repetitions = 3
    assert list(d.stimuli.stimulus_id) == list(dict.fromkeys(r[0] for r in rows))
    assert list(d.stimuli.group) == [objects[i] for i in d.stimuli.stimulus_id]
    assert d.target_names == [f"Chabo_L_M_{i}" for i in it]
    assert (d.targets.region == "IT").all()
    # values: image img04, repetition 2 → the presentation with that (image, repetition), bin 70–170
    p = rows.index(("img04", 2))
    k = list(d.stimuli.stimulus_id).index("img04")
    np.testing.assert_allclose(d.responses[k, :, 2], data[p, it, 1])
    # repetitions beyond the minimum are dropped, not averaged in
    assert d.extra["presentations_dropped"] == sum(reps.values()) - 3 * 12
    assert "variation" in d.stimuli.columns and "repetition" not in d.stimuli.columns
    # other time bin and region
    v4 = majajhong2015.load_majajhong2015(path, region="V4", time_bin=(0, 50))
    p0 = rows.index(("img00", 0))
    np.testing.assert_allclose(
        v4.responses[list(v4.stimuli.stimulus_id).index("img00"), :, 0], data[p0, :4, 0]
    )
    with pytest.raises(InputError, match="no unique time bin"):
        majajhong2015.load_majajhong2015(path, time_bin=(70, 270))
    with pytest.raises(InputError, match="region"):
        majajhong2015.load_majajhong2015(path, region="V1")


def test_majajhong2015_object_name_from_stimulus_csv(tmp_path):
    rng = np.random.default_rng(6)
    path = tmp_path / "assy.nc"
    _, _, images, objects, _, _ = write_brainio_assembly(
        path, rng, with_object_name=False, name="data", id_name="stimulus_id"
    )  # newer packaging
    with pytest.raises(InputError, match="stimulus CSV"):
        majajhong2015.load_majajhong2015(path)
    csv = tmp_path / "image_dicarlo_hvm-public.csv"
    pd.DataFrame(
        {
            "image_id": images,
            "object_name": [objects[i] for i in images],
            "category_name": ["animals"] * 12,
            "filename": [f"{i}.png" for i in images],
        }
    ).to_csv(csv, index=False)
    d = majajhong2015.load_majajhong2015(path, stimulus_csv=csv)
    assert list(d.stimuli.group) == [objects[i] for i in d.stimuli.stimulus_id]
    assert (d.stimuli.category_name == "animals").all()
    assert "group" not in majajhong2015.load_majajhong2015(path, group_by=None).stimuli.columns
    imgs = tmp_path / "images"
    imgs.mkdir()
    for i in images:
        (imgs / f"{i}.png").write_bytes(b"png")
    assert (
        majajhong2015.read_brainio_stimulus_set(csv, imgs)["path"]
        .map(lambda p: p.endswith(".png"))
        .all()
    )


# ------------------------------------------------------------------------------------------
# 4. Pereira 2018
# ------------------------------------------------------------------------------------------


def write_pereira(path, rng, n_sent=12, n_vox=30, version="v5"):
    X = rng.standard_normal((n_sent, n_vox))
    sentences = [f"Sentence number {i} about a topic." for i in range(n_sent)]
    passage = np.repeat(np.arange(1, n_sent // 3 + 1), 3).astype(float)  # 3 sentences / passage
    meta = {
        "atlases": cell(["languageLH", "gordon"]),
        "rois": cell([cell(["LH_AntTemp", "LH_PostTemp"], (2, 1)), cell(["g1"], (1, 1))]),
        "roiColumns": cell(
            [
                cell([np.array([[1.0], [2.0], [3.0]]), np.array([[10.0], [11.0]])], (2, 1)),
                cell([np.array([[20.0], [21.0], [2.0]])], (1, 1)),
            ]
        ),
        "colToCoord": rng.integers(0, 80, size=(n_vox, 3)).astype(float),
        "nvoxels": float(n_vox),
    }
    v = {
        "examples_passagesentences": X,
        "keySentences": cell(sentences, (n_sent, 1)),
        "labelsPassageForEachSentence": passage[:, None],
        "labelsPassageCategory": np.array([[1.0], [2.0], [1.0], [2.0]]),
        "keyPassageCategory": cell(["beekeeping", "dreams"]),
        "meta": meta,
    }
    if version == "v5":
        sio.savemat(path, v)
    else:
        write_mat73(path, v)
    return X, sentences, passage, meta


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_pereira2018(tmp_path, version):
    rng = np.random.default_rng(7)
    path = tmp_path / "data_384sentences.mat"
    X, sentences, passage, meta = write_pereira(path, rng, version=version)
    if version == "v5":  # the indexing of published readers works on the fixture
        raw = sio.loadmat(path)
        assert raw["keySentences"][0][0][0] == sentences[0]
        assert raw["meta"]["atlases"][0][0][0][0] == "languageLH"
    d = pereira2018.load_pereira2018(path)
    assert d.responses.shape == (12, 30, 1)
    np.testing.assert_allclose(d.responses[:, :, 0], X)
    assert list(d.stimuli.sentence) == sentences
    assert list(d.stimuli.group) == [f"passage{int(p)}" for p in passage]
    assert list(d.stimuli.passage_category[:6]) == ["beekeeping"] * 3 + ["dreams"] * 3
    assert d.stimuli.stimulus_id[0] == "s001"
    np.testing.assert_allclose(d.targets[["x", "y", "z"]].to_numpy(), meta["colToCoord"])
    lh = pereira2018.load_pereira2018(path, atlas="languageLH")
    assert list(lh.targets.column) == [0, 1, 2, 9, 10]
    assert list(lh.targets.roi) == ["LH_AntTemp"] * 3 + ["LH_PostTemp"] * 2
    np.testing.assert_allclose(lh.responses[:, :, 0], X[:, [0, 1, 2, 9, 10]])
    post = pereira2018.load_pereira2018(path, atlas="languageLH", rois="LH_PostTemp")
    assert list(post.targets.column) == [9, 10]
    g = pereira2018.load_pereira2018(
        path, atlas="gordon"
    )  # a single-ROI atlas (cell squeezed away)
    assert list(g.targets.column) == [1, 19, 20]
    with pytest.raises(InputError, match="not in meta.atlases"):
        pereira2018.load_pereira2018(path, atlas="MD")


def test_pereira2018_experiment1(tmp_path):
    rng = np.random.default_rng(8)
    X = rng.standard_normal((180, 25))
    sio.savemat(
        tmp_path / "data_180concepts_sentences.mat",
        {"examples": X, "keyConcept": cell([f"word{i}" for i in range(180)], (180, 1))},
    )
    d = pereira2018.load_pereira2018(tmp_path / "data_180concepts_sentences.mat")
    assert d.responses.shape == (180, 25, 1) and d.stimuli.concept[5] == "word5"
    assert "group" not in d.stimuli.columns


# ------------------------------------------------------------------------------------------
# 5. LeBel 2023: TextGrid, Lanczos, FIR, loader
# ------------------------------------------------------------------------------------------


def textgrid_long(tiers: dict[str, list[tuple[float, float, str]]], xmax: float) -> str:
    out = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        "xmin = 0 ",
        f"xmax = {xmax} ",
        "tiers? <exists> ",
        f"size = {len(tiers)} ",
        "item []: ",
    ]
    for t, (name, ivs) in enumerate(tiers.items(), 1):
        out += [
            f"    item [{t}]:",
            '        class = "IntervalTier" ',
            f'        name = "{name}" ',
            "        xmin = 0 ",
            f"        xmax = {xmax} ",
            f"        intervals: size = {len(ivs)} ",
        ]
        for i, (a, b, lab) in enumerate(ivs, 1):
            out += [
                f"        intervals [{i}]:",
                f"            xmin = {a} ",
                f"            xmax = {b} ",
                f'            text = "{lab}" ',
            ]
    return "\n".join(out) + "\n"


def textgrid_short(tiers, xmax) -> str:
    out = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        "0",
        str(xmax),
        "<exists>",
        str(len(tiers)),
    ]
    for name, ivs in tiers.items():
        out += ['"IntervalTier"', f'"{name}"', "0", str(xmax), str(len(ivs))]
        for a, b, lab in ivs:
            out += [str(a), str(b), f'"{lab}"']
    return "\n".join(out) + "\n"


def _story_words(rng, duration):
    t, ivs = 0.0, []
    vocab = ["i", "went", "to", "the", "store", "sp", "{LG}", "", "and", "bought", "milk"]
    while t < duration - 1:
        d = float(rng.uniform(0.15, 0.6))
        ivs.append((round(t, 3), round(t + d, 3), str(rng.choice(vocab))))
        t += d
    ivs.append((round(t, 3), duration, ""))
    return ivs


def test_textgrid_long_and_short_formats(tmp_path):
    tiers = {
        "phone": [(0, 0.2, "AY1"), (0.2, 0.5, "sp")],
        "word": [(0, 0.2, "I"), (0.2, 0.5, "sp"), (0.5, 0.9, 'said ""hi""'), (0.9, 1.2, "")],
    }
    (tmp_path / "l.TextGrid").write_text(textgrid_long(tiers, 1.2))
    (tmp_path / "s.TextGrid").write_text(textgrid_short(tiers, 1.2))
    (tmp_path / "u.TextGrid").write_text(textgrid_long(tiers, 1.2), encoding="utf-16")
    frames = [
        formats.read_textgrid(tmp_path / f) for f in ("l.TextGrid", "s.TextGrid", "u.TextGrid")
    ]
    for f in frames:
        pd.testing.assert_frame_equal(f, frames[0])
    assert list(frames[0].tier) == ["phone"] * 2 + ["word"] * 4
    assert frames[0].label[4] == 'said "hi"'
    (tmp_path / "o.TextGrid").write_text(
        textgrid_long({"word": [(0, 0.6, "a"), (0.5, 1.2, "b")]}, 1.2)
    )
    with pytest.raises(InputError, match="o.TextGrid"):  # overlapping intervals: not a TextGrid
        formats.read_textgrid(tmp_path / "o.TextGrid")
    w = lebel2023.textgrid_words(tmp_path / "l.TextGrid")
    assert list(w.word) == ["i", 'said "hi"'] and list(w.time) == [0.1, 0.7]
    with pytest.raises(InputError, match="TextGrid"):
        (tmp_path / "bad.TextGrid").write_text("hello")
        formats.read_textgrid(tmp_path / "bad.TextGrid")


def _lanczos_brute(word_times, feats, tr_times, window, cutoff_mult):
    """Direct transcription of the Huth lab's lanczosfun / lanczosinterp2D, element by element."""
    cutoff = 1 / np.mean(np.diff(tr_times)) * cutoff_mult
    out = np.zeros((len(tr_times), feats.shape[1]))
    for i, tt in enumerate(tr_times):
        for j, wt in enumerate(word_times):
            t = (tt - wt) * cutoff
            if t == 0:
                val = 1.0
            elif abs(t) > window:
                val = 0.0
            else:
                val = window * np.sin(np.pi * t) * np.sin(np.pi * t / window) / (np.pi**2 * t**2)
            out[i] += val * feats[j]
    return out


@pytest.mark.parametrize("window,cutoff_mult", [(3, 1.0), (2, 0.5), (5, 1.3)])
def test_lanczos_matches_brute_force(window, cutoff_mult):
    rng = np.random.default_rng(9)
    word_times = np.sort(rng.uniform(-5, 60, 150))
    word_times[3] = 2.0 * 7 - 9.0  # exactly on a TR: kernel value 1
    feats = rng.standard_normal((150, 4))
    tr_times = lebel2023.lebel_tr_times(35)
    got = features.lanczos_downsample(
        word_times, feats, tr_times, window=window, cutoff_mult=cutoff_mult
    )
    np.testing.assert_allclose(
        got,
        _lanczos_brute(word_times, feats, tr_times, window, cutoff_mult),
        rtol=1e-12,
        atol=1e-12,
    )
    # one "word" per TR at the TR times: Lanczos interpolation reproduces the samples exactly
    np.testing.assert_allclose(
        features.lanczos_downsample(tr_times, feats[:35], tr_times), feats[:35], atol=1e-12
    )


def test_fir_delays():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((10, 3))
    D = features.fir_delays(X, (1, 2, 3, 4))
    assert D.shape == (10, 12)
    for k, d in enumerate((1, 2, 3, 4)):
        for t in range(10):
            expect = X[t - d] if t - d >= 0 else np.zeros(3)
            np.testing.assert_array_equal(D[t, 3 * k : 3 * k + 3], expect)
    np.testing.assert_array_equal(
        features.fir_delays(X, (0, -1))[:, 3:], np.vstack([X[1:], np.zeros((1, 3))])
    )
    groups = ["a"] * 4 + ["b"] * 6
    G = features.fir_delays(X, (1, 2), groups=groups)
    np.testing.assert_array_equal(G[4], np.zeros(6))  # story b's first TR sees nothing of story a
    np.testing.assert_array_equal(G[5, :3], X[4])
    np.testing.assert_array_equal(G[:4], features.fir_delays(X[:4], (1, 2)))


def write_lebel(root, rng, stories, n_vox=15):
    resp_dir = root / "derivative" / "preprocessed_data" / "UTS01"
    tg_dir = root / "derivative" / "TextGrids"
    resp_dir.mkdir(parents=True)
    tg_dir.mkdir(parents=True)
    respdict, resps = {}, {}
    for s, n_total in stories.items():
        respdict[s] = n_total
        n_resp = n_total - 5 - 10 - 5
        Y = rng.standard_normal((n_resp, n_vox)).astype(np.float32)
        with h5py.File(resp_dir / f"{s}.hf5", "w") as f:
            f.create_dataset("resp", data=Y)
        resps[s] = Y
        dur = (n_total - 5) * 2.0 - 10
        words = _story_words(rng, dur)
        tiers = {"phone": [(a, b, "AH0") for a, b, _ in words], "word": words}
        (tg_dir / f"{s}.TextGrid").write_text(textgrid_long(tiers, dur))
    return resp_dir, tg_dir, respdict, resps


def test_lebel2023(tmp_path):
    rng = np.random.default_rng(11)
    stories = {"alternateithicatom": 60, "souls": 48}
    resp_dir, tg_dir, respdict, resps = write_lebel(tmp_path, rng, stories)
    d = lebel2023.load_lebel2023(resp_dir, tg_dir, list(stories), respdict=respdict)
    n = {s: v - 20 for s, v in stories.items()}
    assert d.responses.shape == (sum(n.values()), 15, 1)
    np.testing.assert_allclose(
        d.responses[: n["alternateithicatom"], :, 0], resps["alternateithicatom"]
    )
    assert list(d.stimuli.group.unique()) == list(stories)
    assert d.stimuli.stimulus_id[0] == "alternateithicatom_tr0010"
    assert d.stimuli.tr_time[0] == pytest.approx(10 * 2.0 - 10 + 1)
    words = d.extra["words"]
    assert not words.word.isin(["sp", "{lg}", ""]).any()
    assert set(words.story) == set(stories)
    # word features → TR stimuli: one row per TR, 4 delays
    feats = rng.standard_normal((len(words), 5))
    X = features.lebel_tr_features(words, feats, d.stimuli, d.extra["tr_times"], (1, 2, 3, 4))
    assert X.shape == (len(d.stimuli), 20)
    s0 = words.story == "alternateithicatom"
    Z = features.lanczos_downsample(
        words.time[s0], feats[s0.to_numpy()], d.extra["tr_times"]["alternateithicatom"]
    )
    Z = Z[d.stimuli.tr_index[: n["alternateithicatom"]]]
    Z = (Z - Z.mean(0)) / Z.std(0)
    np.testing.assert_allclose(
        X[: n["alternateithicatom"], 5:10], features.fir_delays(Z, (2,)), atol=1e-12
    )
    # without respdict the grid is inferred from the response length
    d2 = lebel2023.load_lebel2023(resp_dir, tg_dir, ["souls"])
    assert list(d2.stimuli.tr_index) == list(range(10, 10 + n["souls"]))
    with pytest.raises(InputError, match="response TRs"):
        lebel2023.load_lebel2023(resp_dir, tg_dir, ["souls"], respdict={"souls": 40})
    with pytest.raises(InputError, match="does not exist"):
        lebel2023.load_lebel2023(resp_dir, tg_dir, ["nostory"])


# ------------------------------------------------------------------------------------------
# 6. MEC rate maps from user files
# ------------------------------------------------------------------------------------------


def test_mec_rate_map_npy_rebinned(tmp_path):
    rng = np.random.default_rng(12)
    maps = rng.random((7, 40, 40))
    np.save(tmp_path / "maps.npy", maps)
    d = mec_file.load_mec_recordings(tmp_path / "maps.npy", box_width=2.2, n_bins=20)
    assert d.responses.shape == (400, 7, 1)
    block = maps.reshape(7, 20, 2, 20, 2).mean(axis=(2, 4))  # [cell, iy, ix]
    np.testing.assert_allclose(d.responses[:, :, 0], block.reshape(7, 400).T)
    pd.testing.assert_frame_equal(d.stimuli, arena_bins(2.2, 20))
    # same resolution is the identity; NaN (unvisited) source bins are skipped
    same = mec_file.rebin_rate_maps(maps[:, :20, :20], 20)
    np.testing.assert_allclose(same, maps[:, :20, :20].reshape(7, 400).T)
    m = maps.copy()
    m[:, 0, 0] = np.nan
    r = mec_file.rebin_rate_maps(m, 20)
    np.testing.assert_allclose(r[0, 0], maps[0, [0, 1, 1], [1, 0, 1]].mean())
    m[:, :2, :2] = np.nan
    np.save(tmp_path / "holes.npy", m)
    with pytest.raises(InputError, match="never visited"):
        mec_file.load_mec_recordings(tmp_path / "holes.npy", 2.2, 20)
    filled = mec_file.load_mec_recordings(tmp_path / "holes.npy", 2.2, 20, unvisited="nearest")
    assert np.isfinite(filled.responses).all()


def _trajectory(rng, T=20000, box=2.2):
    """Positions covering the whole arena (i.i.d. uniform samples; the loaders do not care)."""
    return rng.uniform(-box / 2, box / 2, (T, 2))


def test_mec_positions_and_spikes_npz_and_mat(tmp_path):
    rng = np.random.default_rng(13)
    box, nb, dt = 2.2, 10, 0.02
    pos = _trajectory(rng, box=box)
    spikes = rng.poisson(0.2, (len(pos), 3))
    np.savez(tmp_path / "s.npz", positions=pos + box / 2, spikes=spikes, dt=dt)  # corner origin
    d = mec_file.load_mec_recordings(tmp_path / "s.npz", box_width=box, n_bins=nb, origin="corner")
    # reference: histogram by hand
    ix = np.clip(np.floor((pos[:, 0] + box / 2) / box * nb).astype(int), 0, nb - 1)
    iy = np.clip(np.floor((pos[:, 1] + box / 2) / box * nb).astype(int), 0, nb - 1)
    b = iy * nb + ix
    occ = np.bincount(b, minlength=nb * nb) * dt
    ref = (
        np.stack([np.bincount(b, weights=spikes[:, c], minlength=nb * nb) for c in range(3)], 1)
        / occ[:, None]
    )
    np.testing.assert_allclose(d.responses[:, :, 0], ref)
    assert d.target_names == ["cell0", "cell1", "cell2"]
    halves = mec_file.load_mec_recordings(
        tmp_path / "s.npz",
        box_width=box,
        n_bins=nb,
        origin="corner",
        split_halves=True,
        unvisited="mean",
    )
    assert halves.responses.shape == (nb * nb, 3, 2)
    # same data as MATLAB v5 (rate maps variable)
    sio.savemat(tmp_path / "maps.mat", {"rate_maps": ref.T.reshape(3, nb, nb)})
    m = mec_file.load_mec_recordings(tmp_path / "maps.mat", box_width=box, n_bins=nb)
    np.testing.assert_allclose(m.responses[:, :, 0], ref)
    write_mat73(tmp_path / "maps73.mat", {"rate_maps": ref.T.reshape(3, nb, nb)})
    np.testing.assert_allclose(
        mec_file.load_mec_recordings(tmp_path / "maps73.mat", box_width=box, n_bins=nb).responses[
            :, :, 0
        ],
        ref,
    )


def write_nwb(path, times, pos, spike_times, conversion=0.01):
    """Minimal NWB 2.x layout: /units (DynamicTable) + /processing/behavior/Position/<SpatialSeries>."""
    with h5py.File(path, "w") as f:
        f.attrs["neurodata_type"] = "NWBFile"
        f.attrs["namespace"] = "core"
        f.attrs["nwb_version"] = "2.7.0"
        u = f.create_group("units")
        u.attrs.update(
            neurodata_type="Units", namespace="core", colnames=np.array([b"spike_times"])
        )
        u.create_dataset("id", data=np.arange(100, 100 + len(spike_times)))
        u.create_dataset("spike_times", data=np.concatenate(spike_times))
        u.create_dataset("spike_times_index", data=np.cumsum([len(s) for s in spike_times]))
        beh = f.create_group("processing/behavior")
        beh.attrs.update(neurodata_type="ProcessingModule", description="behavior")
        position = beh.create_group("Position")
        position.attrs.update(neurodata_type="Position", namespace="core")
        ss = position.create_group("animal_position")
        ss.attrs.update(neurodata_type="SpatialSeries", namespace="core")
        dset = ss.create_dataset("data", data=pos / conversion)  # stored in cm
        dset.attrs.update(conversion=conversion, resolution=-1.0, unit="meters")
        ss.create_dataset("timestamps", data=times)


def test_mec_nwb(tmp_path):
    rng = np.random.default_rng(14)
    box, nb, dt = 2.2, 8, 0.02
    pos = _trajectory(rng, T=15000, box=box)
    times = 5.0 + np.arange(len(pos)) * dt
    spike_times = [np.sort(rng.uniform(times[0], times[-1], n)) for n in (800, 1500)]
    write_nwb(tmp_path / "sess.nwb", times, pos, spike_times)
    info = formats.read_nwb_units_position(tmp_path / "sess.nwb")
    np.testing.assert_allclose(info["positions"], pos)
    assert info["series"].endswith("Position/animal_position")
    d = mec_file.load_mec_recordings(
        tmp_path / "sess.nwb", box_width=box, n_bins=nb, origin="centre", unvisited="mean"
    )
    assert d.target_names == ["100", "101"]
    b = np.clip(np.floor((pos + box / 2) / box * nb).astype(int), 0, nb - 1)
    b = b[:, 1] * nb + b[:, 0]
    occ = np.bincount(b, minlength=nb * nb) * dt
    for c, st in enumerate(spike_times):
        nearest = np.argmin(np.abs(times[None, :] - st[:, None]), axis=1)
        ref = np.bincount(b[nearest], minlength=nb * nb) / occ
        np.testing.assert_allclose(d.responses[:, c, 0], ref)
    rec = prepare_recordings(d.responses, "sess.nwb", d.target_names)
    assert rec["mean"].shape == (nb * nb, 2)


def test_mec_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="unsupported"):
        (tmp_path / "x.csv").write_text("1,2")
        mec_file.load_mec_recordings(tmp_path / "x.csv", 2.2, 20)
    np.save(tmp_path / "flat.npy", np.ones((5, 5)))
    with pytest.raises(InputError, match="rate_maps have shape"):
        mec_file.load_mec_recordings(tmp_path / "flat.npy", 2.2, 20)
    np.savez(tmp_path / "nodt.npz", positions=np.zeros((10, 2)), spikes=np.zeros((10, 1)))
    with pytest.raises(InputError, match="dt"):
        mec_file.load_mec_recordings(tmp_path / "nodt.npz", 2.2, 20)
    with h5py.File(tmp_path / "empty.nwb", "w") as f:
        f.create_group("units").create_dataset("spike_times", data=np.zeros(1))
    with pytest.raises(InputError, match="SpatialSeries"):
        mec_file.load_mec_recordings(tmp_path / "empty.nwb", 2.2, 20)


# ------------------------------------------------------------------------------------------
# the registry
# ------------------------------------------------------------------------------------------


def test_registry_matches_the_schema_and_refuses_unknown_options(tmp_path):
    import yaml
    from conftest import REPO

    from predictivity.datasets.registry import LOADERS, load_dataset

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    assert set(LOADERS) == set(schema["definitions"]["dataset"]["properties"]["loader"]["enum"])
    sio.savemat(tmp_path / "components.mat", _components_vars(np.random.default_rng(0)))
    d = load_dataset("nh2015_components", tmp_path, {}, source="studies.x.dataset")
    assert d.responses.shape == (165, 6, 1)
    with pytest.raises(InputError, match=r"studies\.x\.dataset\.options.*'regoin'"):
        load_dataset("nh2015_components", tmp_path, {"regoin": "IT"}, source="studies.x.dataset")
    with pytest.raises(InputError, match="unknown loader"):
        load_dataset("nh2016", tmp_path, {}, source="studies.x.dataset")
