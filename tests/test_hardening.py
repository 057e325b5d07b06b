"""The adversarial battery: hostile downloads, planted links, odd layer names, extreme scales,
schema edge cases and write faults. Each case ends in one InputError (or a clean result), never
in code execution, a write through a link, a silent NaN or a traceback. End-to-end cases are
marked ``slow``.
"""

import errno
import hashlib
import os
import pickle
import tarfile

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, run_snakemake, write_study
from scipy.io import wavfile

from predictivity import fileio
from predictivity.checks import check_layer, check_recordings, check_stimulus_ids
from predictivity.config import check_config, load_schema
from predictivity.core.ridge import cross_validated_ridge, make_folds, score_layers
from predictivity.core.spectra import layer_spectrum
from predictivity.core.theory import p_grid
from predictivity.datasets import tuckute2023
from predictivity.datasets.download import MANIFEST, fetch, unpack, verify_manifest
from predictivity.datasets.registry import load_dataset
from predictivity.errors import InputError

# --------------------------------------------------------------------------------------------
# 1. deserialisation: a crafted pickle never runs
# --------------------------------------------------------------------------------------------


class _Evil:
    """Unpickling this runs ``touch <marker>``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_release(root, marker):
    """A Tuckute-layout release whose df_roi_meta.pkl would create ``marker`` when unpickled."""
    from test_datasets import write_tuckute_release

    write_tuckute_release(root, np.random.default_rng(0))
    for d in ("NH2015", "B2021"):
        (root / "data" / "neural" / d / "df_roi_meta.pkl").write_bytes(
            pickle.dumps(_Evil(marker), protocol=4)
        )
    tar = root.parent / f"{root.name}.tar"
    with tarfile.open(tar, "w") as t:
        t.add(root / "data", arcname="data")
    return tar


def _download(tmp_path, tar, sha256=None):
    """The download rule's steps: fetch (pinned by ``sha256`` or recorded) → unpack + manifest."""
    got = fetch(
        tar.as_uri(),
        tmp_path / "dl" / "data.tar",
        sha256=sha256,
        checksums_tsv=tmp_path / "recorded.tsv",
        key="downloads.t",
    )
    return unpack(
        got.path,
        tmp_path / "dl" / "t",
        key="downloads.t",
        manifest={"sha256": got.sha256, "pinned": got.pinned},
    )


@pytest.mark.parametrize("pinned", [False, True], ids=["trust_on_first_use", "pinned"])
def test_crafted_pickle_never_runs(tmp_path, pinned):
    marker = tmp_path / "PWNED"
    tar = _evil_release(tmp_path / "src", marker)
    sha = hashlib.sha256(tar.read_bytes()).hexdigest() if pinned else None
    root = _download(tmp_path, tar, sha)
    verified = "pinned" if pinned else "recorded"
    with pytest.raises(InputError) as e:
        load_dataset("tuckute2023_nh2015", root, {}, verified=verified, source="studies.x.dataset")
    assert not marker.exists()
    # unpinned: refused before reading; pinned: the allowlisting unpickler refuses os.system
    assert ("Pin the download" in str(e.value)) != pinned
    assert pinned <= ("not allowed" in str(e.value))
    # even a direct call that claims verification does not run it
    with pytest.raises(InputError, match="not allowed"):
        tuckute2023.load_tuckute2023(root, "B2021", verified=True)
    assert not marker.exists()


def test_pinned_release_still_loads_and_a_tampered_file_is_refused(tmp_path):
    from test_datasets import write_tuckute_release

    write_tuckute_release(tmp_path / "src", np.random.default_rng(1))
    tar = tmp_path / "src.tar"
    with tarfile.open(tar, "w") as t:
        t.add(tmp_path / "src" / "data", arcname="data")
    root = _download(tmp_path, tar, hashlib.sha256(tar.read_bytes()).hexdigest())
    d = load_dataset("tuckute2023_nh2015", root, {}, verified="pinned")
    assert d.responses.shape[0] == 165 and "hemi" in d.targets.columns
    meta = root / "data" / "neural" / "NH2015" / "df_roi_meta.pkl"
    meta.write_bytes(meta.read_bytes() + b"\0")
    with pytest.raises(InputError, match="changed since it was downloaded"):
        load_dataset("tuckute2023_nh2015", root, {}, verified="pinned")
    (root / "data" / "extra.npy").write_bytes(b"x")
    with pytest.raises(InputError, match="not a file of the download"):
        verify_manifest(root / "data", "k")


def test_reverification_cost_is_measured(tmp_path):
    """Re-verification is one sha256 pass: measured here on 100 MB (reported in the README)."""
    import time

    d = tmp_path / "d"
    d.mkdir()
    (d / "big.bin").write_bytes(os.urandom(100 * 2**20))
    from predictivity.datasets.download import sha256_file, write_manifest

    write_manifest(d, {"big.bin": sha256_file(d / "big.bin")}, "0" * 64, True)
    t = time.perf_counter()
    verify_manifest(d, "k")
    assert time.perf_counter() - t < 10


@pytest.mark.slow
@pytest.mark.parametrize("case", ["trust_on_first_use", "pinned", "dotdot", "absolute"])
def test_crafted_pickle_end_to_end(tmp_path, case):
    marker = tmp_path / "PWNED"
    tar = _evil_release(tmp_path / "src", marker)
    outside = tmp_path / "src"  # an unpacked copy of the evil release outside the download
    work = tmp_path / "w"
    wavs = work / "sounds"
    wavs.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(22):
        wavfile.write(wavs / f"stim{i}_x.wav", 16000, rng.standard_normal(8000).astype(np.float32))
    dataset = {"loader": "tuckute2023_nh2015", "download": "t"}
    download = {"url": tar.as_uri(), "unpack": True}
    if case == "pinned":
        download["sha256"] = hashlib.sha256(tar.read_bytes()).hexdigest()
    if case == "dotdot":
        dataset["path"] = "../../../src"
    if case == "absolute":
        dataset["path"] = str(outside)
    cfg = {
        "downloads": {"t": download},
        "studies": {
            "a": {
                "kind": "auditory",
                "sounds": {"wav_folder": "sounds", "duration": 0.5},
                "dataset": dataset,
                "models": {"filterbank": {"network": "filterbank"}},
            }
        },
    }
    proc = run_snakemake(work, cfg, "results/recordings/a.npz", check=False)
    assert proc.returncode != 0
    assert not marker.exists()
    expected = {
        "trust_on_first_use": "Pin the download",
        "pinned": "not allowed",
        "dotdot": "leaves the download directory",
        "absolute": "leaves the download directory",
    }[case]
    assert expected in proc.output, proc.output[-3000:]
    if case in ("trust_on_first_use", "pinned"):
        # first-use hashes go to the working directory, never into the workflow's source tree
        recorded = work / "results/downloads/checksums.tsv"
        assert (case == "trust_on_first_use") == recorded.is_file()
        assert "downloads.t" not in (REPO / "resources/checksums.tsv").read_text()


# --------------------------------------------------------------------------------------------
# 2. writes: unique temporary files, never through a planted link; any layer name
# --------------------------------------------------------------------------------------------

WRITERS = {
    "npz": (lambda p: fileio.save_npz(p, {"a": np.ones((3, 2))}), [".tmp.npz", ".tmp"]),
    "parquet": (lambda p: fileio.save_parquet(pd.DataFrame({"a": [1]}), p), [".tmp"]),
    "tsv": (lambda p: fileio.save_tsv(pd.DataFrame({"a": [1]}), p), [".tmp"]),
}


@pytest.mark.parametrize("kind", WRITERS)
def test_planted_symlink_at_old_temp_names_is_not_followed(tmp_path, kind):
    write, suffixes = WRITERS[kind]
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "results" / f"out.{kind}"
    out.parent.mkdir()
    for suffix in suffixes:
        os.symlink(victim, out.with_name(out.name + suffix))
    write(out)
    assert victim.read_text() == "precious"
    assert out.is_file() and not out.is_symlink()
    leftovers = {p.name for p in out.parent.iterdir()} - {out.name}
    assert leftovers == {out.name + s for s in suffixes}  # only the planted links


@pytest.mark.parametrize("names", [["allow_pickle"], ["file"], ["file", "allow_pickle", "x"]])
def test_any_layer_name_round_trips(tmp_path, names):
    arrays = {n: np.full((4, i + 1), i, dtype=np.float32) for i, n in enumerate(names)}
    fileio.save_npz(tmp_path / "m.npz", arrays)
    back = fileio.load_npz(str(tmp_path / "m.npz"))
    assert list(back) == names
    for n in names:
        np.testing.assert_array_equal(back[n], arrays[n])


def test_read_only_folder_is_one_error(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):  # root writes anywhere: simulate a read-only file system

        def read_only(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(fileio.tempfile, "mkstemp", read_only)
    try:
        with pytest.raises(InputError, match="cannot write the output"):
            fileio.save_parquet(pd.DataFrame({"a": [1]}), ro / "t.parquet")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("kind", WRITERS)
def test_full_disk_is_one_error_and_leaves_nothing(tmp_path, monkeypatch, kind):
    real_fdopen = os.fdopen

    def full(fd, mode="r", *args, **kwargs):  # every write goes to /dev/full (ENOSPC)
        os.close(fd)
        return real_fdopen(os.open("/dev/full", os.O_WRONLY), mode, *args, **kwargs)

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    monkeypatch.setattr(fileio.os, "fdopen", full)
    out = tmp_path / f"out.{kind}"
    with pytest.raises(InputError, match="cannot write the output") as e:
        WRITERS[kind][0](out)
    assert str(errno.ENOSPC) in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_npz_error_gives_no_unsafe_advice(tmp_path):
    np.savez(tmp_path / "obj.npz", a=np.array([{"x": 1}], dtype=object))
    (tmp_path / "cut.npz").write_bytes((tmp_path / "obj.npz").read_bytes()[:50])
    for name in ("obj.npz", "cut.npz"):
        with pytest.raises(InputError) as e:
            fileio.load_npz(str(tmp_path / name))
        assert "allow_pickle" not in str(e.value)
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object))
    with pytest.raises(InputError) as e:
        fileio.load_npy(str(tmp_path / "obj.npy"))
    assert "allow_pickle" not in str(e.value) and "never loaded" in str(e.value)


def test_unreadable_stage_table_is_one_error_naming_it(tmp_path):
    """A stage's parquet that is not parquet (truncated, overwritten, missing) is one InputError
    naming the file, not pyarrow's traceback; and every script that reads another stage's table
    reads it through that reader (table_study reads the user's own table, with its own error)."""
    good = tmp_path / "good.parquet"
    pd.DataFrame({"a": [1.0, 2.0]}).to_parquet(good)
    pd.testing.assert_frame_equal(fileio.read_parquet(str(good)), pd.read_parquet(good))
    (tmp_path / "text.parquet").write_text("layer,fold\nconv1,0\n")
    (tmp_path / "cut.parquet").write_bytes(good.read_bytes()[:40])
    for name in ("text.parquet", "cut.parquet", "missing.parquet"):
        path = str(tmp_path / name)
        with pytest.raises(InputError, match="cannot read the regression folds") as e:
            fileio.read_parquet(path, "the regression folds")
        assert path in str(e.value) and "rerun" in str(e.value)
    direct = [
        p.name
        for p in sorted((REPO / "scripts").glob("*.py"))
        if "pd.read_parquet(" in p.read_text() and p.name != "table_study.py"
    ]
    assert direct == []


# --------------------------------------------------------------------------------------------
# 3. numeric range
# --------------------------------------------------------------------------------------------


def _layer(scale, dtype, P=40, M=30):
    return (np.random.default_rng(0).standard_normal((P, M)) * scale).astype(dtype)


@pytest.mark.parametrize(
    "scale,dtype",
    [(1e-30, np.float32), (1e30, np.float32), (1e20, np.float64), (1e-20, np.float64)],
)
def test_activation_scale_out_of_range_is_one_error(scale, dtype):
    with pytest.raises(InputError, match="usable range") as e:
        check_layer("L", _layer(scale, dtype), 40, "m.npz", dtype=np.dtype(dtype).name)
    assert "m.npz" in str(e.value) and "'L'" in str(e.value)


@pytest.mark.parametrize("scale", [1e-12, 1.0, 1e12])
def test_activation_scale_in_range_passes(scale):
    check_layer("L", _layer(scale, np.float32), 40, "m.npz")


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_recording_scale_out_of_range_is_one_error(scale):
    Y = np.random.default_rng(0).standard_normal((40, 5, 2)) * scale
    with pytest.raises(InputError, match="usable range"):
        check_recordings(Y, "rec.npy")


def test_spectra_of_an_overflowing_layer_is_one_error():
    X = _layer(1e30, np.float32)
    Yc = np.random.default_rng(1).standard_normal((40, 3))
    with pytest.raises(InputError, match="too large"):
        layer_spectrum(X, Yc - Yc.mean(0), name="L")


def test_alpha_grid_below_rounding_is_one_error():
    """float64 activations at 1e12 with alpha_scaling none: every alpha acts as 0 (R² ≈ −1e26)."""
    X = _layer(1e12, np.float64, M=80)
    Y = np.random.default_rng(2).standard_normal((40, 3))
    with pytest.raises(InputError, match="rounding level"):
        cross_validated_ridge(X, Y, make_folds(40, 4), alpha_scaling="none")
    df = cross_validated_ridge(X, Y, make_folds(40, 4), alpha_scaling="trace")
    assert np.isfinite(df["r2"]).all() and df["r2"].min() > -10


def test_all_nan_scores_fail_with_a_reason():
    X = _layer(1.0, np.float64)
    Y = np.ones((40, 3))  # no target varies within any test fold
    with pytest.raises(InputError, match="every target's R² is NaN"):
        score_layers({"L": X}, Y, make_folds(40, 4))


def test_small_test_folds_warn(caplog):
    make_folds(100, 5)
    assert "smallest test fold" not in caplog.text
    make_folds(40, 20)
    assert "smallest test fold holds 2 stimuli" in caplog.text


@pytest.mark.slow
@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_extreme_recordings_fail_end_to_end(tmp_path, scale):
    work = tmp_path / "w"
    cfg = write_study(work / "data", layers=((20,),))
    rec = work / "data" / "rec.npy"
    np.save(rec, np.load(rec) * scale)
    proc = run_snakemake(work, cfg, "results/recordings/toy.npz", check=False)
    assert proc.returncode != 0
    assert "predictivity: error:" in proc.output and "usable range" in proc.output


@pytest.mark.slow
def test_layer_named_file_flows_end_to_end(tmp_path):
    work = tmp_path / "w"
    cfg = write_study(work / "data", layers=((20,), (30,)))
    m = work / "data" / "m1.npz"
    with np.load(m) as z:
        arrays = {"file": z["L0"], "allow_pickle": z["L1"]}
    fileio.save_npz(m, arrays)
    run_snakemake(work, cfg, "results/spectra/toy/m1.parquet")
    with np.load(work / "results/activations/toy/m1.npz") as z:
        assert z.files == ["file", "allow_pickle"]


# --------------------------------------------------------------------------------------------
# 4. schema and small inputs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cfg",
    [
        {"regression": {"seed": -1}},
        {"theory": {"seed": -3}},
        {"fits": {"seed": -1}},
        {
            "studies": {
                "s": {"kind": "it", "images": {"seed": -1}, "models": {"a": {"arch": "alexnet"}}}
            }
        },
    ],
    ids=["regression", "theory", "fits", "it_images"],
)
def test_negative_seeds_are_refused_by_the_schema(cfg):
    base = {"studies": {"t": {"kind": "precomputed", "recordings": "r.npy", "models": {"m": "m"}}}}
    base.update(cfg)
    with pytest.raises(InputError, match="minimum"):
        check_config(base, load_schema())


def test_p_min_above_the_stimuli_is_one_error():
    with pytest.raises(InputError, match="p_min"):
        p_grid(30, p_min=50)


def test_bom_is_stripped(tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_bytes("\ufeffs0\ns1\n".encode())
    assert fileio.read_lines(str(ids)) == ["s0", "s1"]
    assert check_stimulus_ids(["\ufeffa", "b"], 2, "ids") == ["a", "b"]


@pytest.mark.parametrize("limit", ["bytes", "files"])
def test_unpacking_is_bounded(tmp_path, limit):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):
        (src / f"f{i}").write_bytes(b"\0" * 10_000)
    tar = tmp_path / "a.tar.gz"
    with tarfile.open(tar, "w:gz") as t:  # 200 kB unpacked from ~1 kB
        t.add(src, arcname="src")
    kw = {"max_bytes": 100_000} if limit == "bytes" else {"max_files": 10}
    with pytest.raises(InputError, match="unpack_limits"):
        unpack(tar, tmp_path / "out", key="downloads.x", **kw)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    unpack(tar, tmp_path / "out", key="downloads.x", manifest={"sha256": "0" * 64, "pinned": False})
    assert (tmp_path / "out" / MANIFEST).is_file()


@pytest.mark.slow
def test_unknown_name_in_trained_map_is_an_error(tmp_path):
    work = tmp_path / "w"
    cfg = write_study(work / "data")
    cfg["studies"]["toy"]["trained"] = {"m1": True, "m2_typo": False}
    proc = run_snakemake(work, cfg, "-n", check=False)
    assert proc.returncode != 0
    assert "studies.toy.trained" in proc.output and "m2_typo" in proc.output


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_runner_turns_a_disk_error_into_one_line(tmp_path, capsys, code):
    """A script that writes an output itself (a figure, a csv) on a full or read-only disk."""
    from types import SimpleNamespace

    from predictivity.scripting import run

    def main(smk):
        raise OSError(code, os.strerror(code), str(tmp_path / "fig.png"))

    smk = SimpleNamespace(log=[str(tmp_path / "job.log")], threads=1, config={})
    with pytest.raises(SystemExit) as e:
        run(main, smk)
    assert e.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("predictivity: error: ") and "fig.png" in err[-1]
    assert "Traceback" not in "\n".join(err)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_allowlisted_unpickler_reads_plain_frames(tmp_path, protocol):
    df = pd.DataFrame(
        {
            "subj_idx": np.arange(4),
            "hemi": ["lh", "rh", "lh", "rh"],
            "roi": pd.Categorical(["a", "b", "a", "b"]),
            "r": np.linspace(0, 1, 4),
            "ok": [True, False, True, True],
        }
    )
    path = tmp_path / "meta.pkl"
    path.write_bytes(pickle.dumps(df, protocol=protocol))
    pd.testing.assert_frame_equal(tuckute2023.read_pickled_frame(path), df)


def test_object_npy_is_read_by_the_allowlisted_unpickler(tmp_path):
    nh = tmp_path / "data" / "neural" / "NH2015"
    nh.mkdir(parents=True)
    np.save(nh / "neural_stim_meta.npy", np.array([b"a.wav", "b.wav"], dtype=object))
    assert tuckute2023.tuckute2023_sound_names(tmp_path, verified=True) == ["a", "b"]
    marker = tmp_path / "PWNED"
    np.save(nh / "neural_stim_meta.npy", np.array([_Evil(marker)], dtype=object))
    with pytest.raises(InputError, match="not allowed"):
        tuckute2023.tuckute2023_sound_names(tmp_path, verified=True)
    assert not marker.exists()
