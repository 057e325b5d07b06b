"""Verified downloads and atomic unpacking (predictivity.datasets.download); no network: file://
URLs and paths."""

import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from predictivity.datasets.download import (
    CHECKSUM_COLUMNS,
    download_plan,
    fetch,
    manual_path,
    read_checksums,
    record_checksum,
    sha256_file,
    unpack,
)
from predictivity.errors import InputError

KEY = "downloads.tuckute2023"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


@pytest.fixture
def source(tmp_path):
    src = tmp_path / "remote" / "data.bin"
    src.parent.mkdir()
    src.write_bytes(b"recordings v1\n" * 1000)
    return src


def test_file_url_records_checksum_then_enforces_it(tmp_path, source):
    table = tmp_path / "checksums.tsv"
    dest = tmp_path / "resources" / "data.bin"
    url = source.as_uri()
    assert url.startswith("file://")

    first = fetch(url, dest, checksums_tsv=table, key=KEY)
    assert first.checked_against == "recorded"
    assert dest.read_bytes() == source.read_bytes()
    assert first.sha256 == _sha(source.read_bytes()) == sha256_file(dest)
    rows = read_checksums(table)
    assert rows[KEY]["sha256"] == first.sha256 and rows[KEY]["url"] == url
    assert rows[KEY]["bytes"] == len(source.read_bytes())
    assert table.read_text().splitlines()[0].split("\t") == list(CHECKSUM_COLUMNS)

    dest.unlink()
    second = fetch(url, dest, checksums_tsv=table, key=KEY)
    assert second.checked_against == "checksums_tsv" and second.sha256 == first.sha256

    # upstream file changes: the recorded hash is enforced, dest keeps the verified bytes
    source.write_bytes(b"recordings v2, silently changed\n")
    dest.unlink()
    with pytest.raises(InputError) as e:
        fetch(url, dest, checksums_tsv=table, key=KEY)
    msg = str(e.value)
    assert KEY in msg and first.sha256 in msg and _sha(source.read_bytes()) in msg
    assert "expected" in msg and "got" in msg
    assert not dest.exists() and _leftovers(dest.parent) == []
    assert read_checksums(table)[KEY]["sha256"] == first.sha256  # never overwritten


def test_configured_sha256_mismatch_is_one_clear_error(tmp_path, source):
    dest = tmp_path / "out" / "data.bin"
    wrong = "0" * 64
    with pytest.raises(InputError) as e:
        fetch(str(source), dest, sha256=wrong, key=KEY)
    msg = str(e.value)
    assert msg.startswith(KEY) and wrong in msg and _sha(source.read_bytes()) in msg
    assert "the config" in msg
    assert not dest.exists() and _leftovers(dest.parent) == []


def test_configured_sha256_accepts_and_existing_dest_is_reused(tmp_path, source):
    dest = tmp_path / "out" / "data.bin"
    sha = _sha(source.read_bytes())
    r = fetch(source, dest, sha256=sha.upper(), key=KEY)
    assert r.checked_against == "config" and dest.read_bytes() == source.read_bytes()
    source.unlink()  # not needed any more: dest is already verified
    assert fetch(source, dest, sha256=sha, key=KEY).sha256 == sha


def test_bad_sha256_string_and_missing_source(tmp_path, source):
    with pytest.raises(InputError, match="64 hexadecimal"):
        fetch(source, tmp_path / "x", sha256="abc", key=KEY)
    with pytest.raises(InputError, match="does not exist"):
        fetch(tmp_path / "nope.bin", tmp_path / "x", key=KEY)
    with pytest.raises(InputError, match="scheme"):
        fetch("ftp://example.org/x", tmp_path / "x", key=KEY)
    assert not (tmp_path / "x").exists()


#: A URL nothing listens on (the discard port of this machine): "no network", without a network.
UNREACHABLE = "http://127.0.0.1:9/release/data.tar"


@pytest.mark.parametrize("pin", ["none", "config", "recorded"])
def test_no_connection_is_one_line_naming_the_url_the_place_and_the_sha256(tmp_path, pin):
    """Without network: one line with the URL, "no connection", where to put the file by hand,
    and the sha256 it must have (or that none is pinned yet); nothing is left behind."""
    table, dest = tmp_path / "recorded.tsv", tmp_path / "out" / "data.tar"
    hand = tmp_path / "data" / "downloads" / "t" / "data.tar"
    sha = None
    if pin == "config":
        sha = "ab" * 32
    elif pin == "recorded":
        record_checksum(table, KEY, UNREACHABLE, "cd" * 32, 10)
    with pytest.raises(InputError) as e:
        fetch(UNREACHABLE, dest, sha256=sha, checksums_tsv=table, key=KEY, manual=hand)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{KEY}: no connection to {UNREACHABLE} (")
    assert f"put the file at {hand} (" in msg
    expected = {"none": "not pinned yet", "config": "ab" * 32, "recorded": "cd" * 32}[pin]
    assert expected in msg
    assert not dest.exists() and _leftovers(dest.parent) == []


def test_a_file_placed_by_hand_is_taken_and_checked(tmp_path, source):
    """The file at the hand-placed path replaces the URL, under the same sha256 check."""
    table, dest = tmp_path / "recorded.tsv", tmp_path / "out" / "data.bin"
    hand = tmp_path / "hand" / "data.bin"
    hand.parent.mkdir()
    hand.write_bytes(source.read_bytes())
    got = fetch(UNREACHABLE, dest, checksums_tsv=table, key=KEY, manual=hand)
    assert dest.read_bytes() == source.read_bytes() and got.checked_against == "recorded"
    assert read_checksums(table)[KEY]["url"] == UNREACHABLE  # recorded under the real URL
    dest.unlink()
    hand.write_bytes(b"something else")
    with pytest.raises(InputError, match="placed by hand") as e:
        fetch(UNREACHABLE, dest, checksums_tsv=table, key=KEY, manual=hand)
    assert got.sha256 in str(e.value) and not dest.exists()


def test_download_plan_of_one_file_and_of_listed_files():
    one = download_plan({"url": "https://h.org/a/assy.nc?x=1"}, "downloads.m")
    assert one == [("assy.nc", "https://h.org/a/assy.nc?x=1")]
    files = {"derivative/respdict.json": None, "derivative/TextGrids/my story.TextGrid": None}
    plan = download_plan(
        {"url": "https://s3.amazonaws.com/openneuro.org/ds003020", "files": files}, "k"
    )
    assert plan == [
        (
            "derivative/respdict.json",
            "https://s3.amazonaws.com/openneuro.org/ds003020/derivative/respdict.json",
        ),
        (
            "derivative/TextGrids/my story.TextGrid",
            "https://s3.amazonaws.com/openneuro.org/ds003020/derivative/TextGrids/my%20story.TextGrid",
        ),
    ]
    assert manual_path("l", "derivative/respdict.json") == Path(
        "data/downloads/l/derivative/respdict.json"
    )
    for bad in ["../x", "/abs", "a/../../b", ""]:
        with pytest.raises(InputError, match=r"k\.files"):
            download_plan({"url": "https://h.org/", "files": {bad: None}}, "k")
    with pytest.raises(InputError, match="unpack"):
        download_plan({"url": "https://h.org/", "files": {"a": None}, "unpack": True}, "k")


def test_link_local_source(tmp_path, source):
    table = tmp_path / "checksums.tsv"
    dest = tmp_path / "out" / "data.bin"
    r = fetch(source, dest, checksums_tsv=table, key=KEY, link=True)
    assert dest.is_symlink() and dest.resolve() == source.resolve()
    assert r.sha256 == read_checksums(table)[KEY]["sha256"]


def test_record_checksum_refuses_to_overwrite(tmp_path):
    table = tmp_path / "c.tsv"
    record_checksum(table, "a", "file:///a", "a" * 64, 3)
    record_checksum(table, "a", "file:///a", "a" * 64, 3)  # same: no-op
    with pytest.raises(InputError, match="already records"):
        record_checksum(table, "a", "file:///a", "b" * 64, 3)
    assert len(read_checksums(table)) == 1


def test_shipped_checksum_table_is_valid():
    table = Path(__file__).resolve().parents[1] / "resources" / "checksums.tsv"
    assert table.is_file()
    read_checksums(table)  # header + rows parse


# ------------------------------------------------------------------------------------------
# unpack
# ------------------------------------------------------------------------------------------


def _make_tar(path: Path, files: dict[str, bytes], mode="w:gz"):
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


FILES = {
    "data/neural/a.npy": b"A" * 5000,
    "data/neural/b/c.txt": os.urandom(200_000),
    "data/README": b"hello",
}


@pytest.mark.parametrize("mode,name", [("w:gz", "d.tar.gz"), ("w", "d.tar"), ("w:xz", "d.txz")])
def test_unpack_tar(tmp_path, mode, name):
    arc = tmp_path / name
    _make_tar(arc, FILES, mode)
    out = unpack(arc, tmp_path / "unpacked")
    for k, v in FILES.items():
        assert (out / k).read_bytes() == v
    assert _leftovers(tmp_path) == []
    out2 = unpack(arc, tmp_path / "stripped", strip_components=1)
    assert (out2 / "neural" / "a.npy").read_bytes() == FILES["data/neural/a.npy"]


def test_unpack_zip_and_replaces_existing(tmp_path):
    arc = tmp_path / "d.zip"
    with zipfile.ZipFile(arc, "w", zipfile.ZIP_DEFLATED) as z:
        for k, v in FILES.items():
            z.writestr(k, v)
    dest = tmp_path / "unpacked"
    dest.mkdir()
    (dest / "stale.txt").write_text("old")
    unpack(arc, dest)
    assert not (dest / "stale.txt").exists()
    assert (dest / "data/README").read_bytes() == b"hello"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["tar.gz", "tar", "zip"])
def test_truncated_archive_is_one_error_and_leaves_nothing(tmp_path, kind):
    arc = tmp_path / f"d.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(arc, "w", zipfile.ZIP_DEFLATED) as z:
            for k, v in FILES.items():
                z.writestr(k, v)
    else:
        _make_tar(arc, FILES, "w:gz" if kind == "tar.gz" else "w")
    data = arc.read_bytes()
    arc.write_bytes(data[: len(data) * 2 // 3])
    dest = tmp_path / "unpacked"
    with pytest.raises(InputError) as e:
        unpack(arc, dest, key="studies.nh2015.archive")
    assert "studies.nh2015.archive" in str(e.value)
    assert not dest.exists()
    assert _leftovers(tmp_path) == []


def test_corrupt_zip_member_crc(tmp_path):
    arc = tmp_path / "d.zip"
    payload = b"x" * 10_000
    with zipfile.ZipFile(arc, "w", zipfile.ZIP_STORED) as z:
        z.writestr("f.bin", payload)
    raw = bytearray(arc.read_bytes())
    i = raw.find(payload)
    raw[i + 100] ^= 0xFF
    arc.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="corrupt or truncated"):
        unpack(arc, tmp_path / "u")
    assert not (tmp_path / "u").exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("evil", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_path_traversal_is_refused(tmp_path, evil):
    arc = tmp_path / "evil.tar"
    _make_tar(arc, {"ok.txt": b"fine", evil: b"pwned"}, "w")
    with pytest.raises(InputError, match="outside the target"):
        unpack(arc, tmp_path / "sub" / "u")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "sub" / "evil.txt").exists()
    assert not (tmp_path / "sub" / "u").exists() and _leftovers(tmp_path / "sub") == []


def test_links_in_archive_are_refused(tmp_path):
    arc = tmp_path / "link.tar"
    with tarfile.open(arc, "w") as tar:
        info = tarfile.TarInfo("escape")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(InputError, match="link"):
        unpack(arc, tmp_path / "u")
    assert not (tmp_path / "u").exists()


def test_not_an_archive(tmp_path):
    f = tmp_path / "x.tar.gz"
    f.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(InputError, match="neither a tar nor a zip"):
        unpack(f, tmp_path / "u")


def _record(args):
    table, i = args
    record_checksum(table, f"key{i}", f"file:///f{i}", f"{i:064x}", i)


def test_parallel_recording_keeps_every_row(tmp_path):
    import multiprocessing as mp

    table = tmp_path / "checksums.tsv"
    with mp.get_context("fork").Pool(4) as pool:
        pool.map(_record, [(table, i) for i in range(16)])
    assert sorted(read_checksums(table)) == sorted(f"key{i}" for i in range(16))
    assert [p.name for p in tmp_path.iterdir()] == ["checksums.tsv"]  # no lock or temp files


def test_only_config_or_a_committed_table_pins(tmp_path, source):
    """Trust on first use records a hash (not a pin); the committed table is read, never written."""
    recorded, committed = tmp_path / "recorded.tsv", tmp_path / "committed.tsv"
    first = fetch(source, tmp_path / "a" / "f", checksums_tsv=recorded, key=KEY)
    assert first.checked_against == "recorded" and not first.pinned
    again = fetch(source, tmp_path / "b" / "f", checksums_tsv=recorded, key=KEY)
    assert again.checked_against == "checksums_tsv" and not again.pinned
    record_checksum(committed, KEY, str(source), first.sha256, first.bytes)
    before = committed.read_text()
    pinned = fetch(
        source, tmp_path / "c" / "f", pinned_tsv=committed, checksums_tsv=recorded, key=KEY
    )
    assert pinned.checked_against == "pinned_tsv" and pinned.pinned
    assert committed.read_text() == before
    by_config = fetch(source, tmp_path / "d" / "f", sha256=first.sha256, key=KEY)
    assert by_config.pinned
    record_checksum(committed, "downloads.other", "u", "0" * 64, 1)
    source.write_bytes(b"changed")
    with pytest.raises(InputError, match="committed checksum table"):
        fetch(source, tmp_path / "e" / "f", pinned_tsv=committed, key=KEY)


def test_manifest_detects_a_changed_file(tmp_path):
    from predictivity.datasets.download import MANIFEST, verify_manifest

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    tar = tmp_path / "x.tar"
    with tarfile.open(tar, "w") as t:
        t.add(src / "a.txt", arcname="d/a.txt")
    out = unpack(tar, tmp_path / "out", manifest={"sha256": _sha(tar.read_bytes()), "pinned": True})
    assert verify_manifest(out / "d", "k")["pinned"] is True
    assert (out / MANIFEST).read_text().splitlines()[-1].endswith("  d/a.txt")
    (out / "d" / "a.txt").write_text("b")
    with pytest.raises(InputError, match="changed since it was downloaded"):
        verify_manifest(out / "d" / "a.txt", "k")
