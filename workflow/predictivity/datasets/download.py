"""Verified downloads and safe unpacking of real data sets (rule ``download``).

Pure file operations, no network at import time. Two functions:

* :func:`fetch` — copy ``http(s)://``, ``file://`` or a local path to ``dest``: streamed into a
  temporary file *in the destination directory*, its sha256 computed on the way, compared with the
  expected hash, and only then renamed into place (``os.replace``, atomic on one file system). So
  ``dest`` either does not exist or holds exactly the verified bytes.
* :func:`unpack` — extract a ``.tar``/``.tar.gz``/``.tgz``/``.tar.bz2``/``.tar.xz`` or ``.zip``
  archive into a temporary directory next to ``dest_dir`` and rename it into place; a truncated or
  corrupt archive gives one :class:`~predictivity.errors.InputError` and leaves nothing behind.

Checksums
---------
The expected sha256 of a download comes from, in this order:

1. the ``sha256`` argument (the config gives one), else
2. the row of ``pinned_tsv`` whose ``key`` column equals ``key`` (a table the user committed; the
   pipeline never writes it), else
3. the row of ``checksums_tsv`` (recorded at an earlier first download), else
4. nothing: the first download is accepted and its hash recorded in ``checksums_tsv`` (columns
   ``key``, ``url``, ``sha256``, ``bytes``; tab-separated, one header line), so every later
   download must match it ("trust on first use").

Only 1 and 2 *pin* a download (:attr:`FetchResult.pinned`): a recorded hash proves that the file
did not change since it was first fetched, not that it is the file the study meant. Loaders that
run code from their files (pickles) require a pinned download. To pin, copy the recorded hash
into the config's ``sha256`` (or into the committed table).

A mismatch raises ``InputError(key, "... expected <hash> ... got <hash> ...")`` naming the config
key, the URL, both hashes and where the expected one came from. ``key`` is the dotted config key of
the download (``downloads.<name>``), so the message points at the line to fix.

Archive members are checked before anything is written: absolute paths, ``..`` components, and
links or devices are refused (a path-traversal archive is an error, not a warning), and the total
unpacked size and file count are bounded (:data:`MAX_UNPACK_BYTES`, :data:`MAX_UNPACK_FILES`).

Without network, :func:`fetch` raises one line naming the URL, the missing connection, the path
where the file may be put by hand (``manual``; the download rule passes
``data/downloads/<name>/<file>``, :func:`manual_path`) and the sha256 it must have, or that none is
pinned yet (:func:`by_hand`). A file found there is taken instead of the URL under the same check.
:func:`download_plan` lists the files of a ``downloads`` entry: one URL, or ``files`` (paths
appended to a base URL, each with its own sha256, e.g. one subject of an OpenNeuro data set).

A download directory carries a manifest (:data:`MANIFEST`, ``sha256sum`` format: the sha256 of
every file, and of the downloaded file itself on a ``# source`` line), written before the
directory is renamed into place; :func:`verify_manifest` re-hashes the files a loader is about
to read, so a file changed after the download is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from predictivity.errors import InputError

log = logging.getLogger(__name__)

#: Streaming block size (bytes) of downloads, copies, hashing and unpacking.
CHUNK_BYTES = 1 << 20

CHECKSUM_COLUMNS = ("key", "url", "sha256", "bytes")
#: Default bounds of one archive's unpacked contents (config ``unpack_limits``).
MAX_UNPACK_BYTES = 50 * 2**30
MAX_UNPACK_FILES = 100_000
#: File name of a download directory's manifest (sha256sum format).
MANIFEST = ".predictivity.sha256"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: Where a file may be put by hand when there is no network: ``<MANUAL_DIR>/<name>/<file>``
#: (relative to the working directory); the download rule takes it instead of the URL.
MANUAL_DIR = "data/downloads"


def download_plan(options: dict, key: str) -> list[tuple[str, str]]:
    """The files of one ``downloads`` entry as ``(path inside the download, URL)`` pairs.

    A single-file entry (``url``) gives one pair, named after the URL's last path component. An
    entry with ``files`` (a mapping ``relative path → sha256 or null``) gives one pair per path,
    its URL being ``url`` (the base) + ``/`` + the path, percent-encoded. A path that is absolute,
    contains ``..`` or is empty is an :class:`InputError` naming ``<key>.files``.
    """
    url = str(options["url"])
    files = options.get("files")
    if not files:
        name = PurePosixPath(urllib.parse.urlparse(url).path).name
        return [(name or key.rsplit(".", 1)[-1], url)]
    if options.get("unpack"):
        raise InputError(
            f"{key}.unpack",
            "a download with `files` cannot be unpacked (each file is kept as it is).",
            "Drop `unpack`, or give the archive as a single-file download.",
        )
    plan = []
    for rel in files:
        p = PurePosixPath(str(rel))
        if not str(rel).strip() or p.is_absolute() or ".." in p.parts or str(rel).endswith("/"):
            raise InputError(
                f"{key}.files",
                f"{rel!r} is not a relative file path inside the download.",
                "Give paths like derivative/TextGrids/souls.TextGrid (no leading '/', no '..').",
            )
        base = url if url.endswith("/") else url + "/"
        plan.append((p.as_posix(), base + urllib.parse.quote(p.as_posix())))
    return plan


def manual_path(name: str, rel: str) -> Path:
    """Where the file ``rel`` of download ``name`` may be placed by hand (see :data:`MANUAL_DIR`)."""
    return Path(MANUAL_DIR, name, *PurePosixPath(rel).parts)


@dataclass(frozen=True)
class FetchResult:
    """What :func:`fetch` did: the final path, its sha256 and size, and where the hash came from
    (``"config"``, ``"pinned_tsv"`` (a committed table), ``"checksums_tsv"`` (recorded earlier),
    ``"recorded"`` = first download, now recorded, or ``"unchecked"``)."""

    path: Path
    sha256: str
    bytes: int
    checked_against: str

    @property
    def pinned(self) -> bool:
        """True when the hash came from the config or a committed table (not trust on first use)."""
        return self.checked_against in ("config", "pinned_tsv")


# --------------------------------------------------------------------------------------------
# hashing and the checksum table
# --------------------------------------------------------------------------------------------


def sha256_file(path, chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex sha256 of a file, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_bytes), b""):
            h.update(block)
    return h.hexdigest()


def _check_sha(value, key: str) -> str:
    sha = str(value).strip().lower()
    if not _SHA256.match(sha):
        raise InputError(
            key,
            f"sha256 {value!r} is not 64 hexadecimal characters.",
            "Give the full hex sha256 of the file (e.g. from `sha256sum FILE`), or "
            "leave it empty to record it on first download.",
        )
    return sha


def read_checksums(checksums_tsv) -> dict[str, dict]:
    """Rows of a checksum table keyed by ``key`` (empty dict if the file does not exist).

    The table is tab-separated with the header ``key url sha256 bytes``; blank lines and lines
    starting with ``#`` are ignored. A malformed table or a duplicated key is an InputError.
    """
    path = Path(checksums_tsv)
    if not path.exists():
        return {}
    rows: dict[str, dict] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    header_seen = False
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if not header_seen:
            if tuple(f.strip() for f in fields) != CHECKSUM_COLUMNS:
                raise InputError(
                    str(path),
                    f"line {lineno}: header is {fields}, expected "
                    f"{list(CHECKSUM_COLUMNS)} (tab-separated).",
                    "Restore the header line `key<TAB>url<TAB>sha256<TAB>bytes`.",
                )
            header_seen = True
            continue
        if len(fields) != len(CHECKSUM_COLUMNS):
            raise InputError(
                str(path),
                f"line {lineno} has {len(fields)} tab-separated fields, "
                f"expected {len(CHECKSUM_COLUMNS)}.",
                "Fix or delete that line.",
            )
        key, url, sha, size = (f.strip() for f in fields)
        if key in rows:
            raise InputError(
                str(path),
                f"key {key!r} appears twice (line {lineno}).",
                "Keep one row per download key.",
            )
        rows[key] = {
            "key": key,
            "url": url,
            "sha256": _check_sha(sha, f"{path}:{lineno}"),
            "bytes": int(size) if size else None,
        }
    return rows


@contextlib.contextmanager
def _locked(path: Path):
    """Exclusive advisory lock on the table's directory (parallel Snakemake jobs that record
    checksums serialise; no lock file is left behind). No-op where ``flock`` is unavailable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl

        fd = os.open(path.parent, os.O_RDONLY)
    except (ImportError, OSError):  # pragma: no cover - non-POSIX
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def record_checksum(checksums_tsv, key: str, url: str, sha256: str, nbytes: int) -> None:
    """Add the row ``key url sha256 bytes`` to the table (created with its header if missing).

    Rewritten atomically under a lock. Re-recording the same hash is a no-op; a different hash for
    an existing key is an InputError (never silently overwritten).
    """
    path = Path(checksums_tsv)
    with _locked(path):
        rows = read_checksums(path)
        old = rows.get(key)
        if old is not None:
            if old["sha256"] != sha256:
                raise InputError(
                    key,
                    f"{path} already records sha256 {old['sha256']} for this key, not {sha256}.",
                    f"Delete the row of {key!r} in {path} if the data really changed.",
                )
            return
        rows[key] = {"key": key, "url": url, "sha256": sha256, "bytes": nbytes}
        text = (
            "\t".join(CHECKSUM_COLUMNS)
            + "\n"
            + "".join(
                f"{r['key']}\t{r['url']}\t{r['sha256']}\t{'' if r['bytes'] is None else r['bytes']}\n"
                for r in rows.values()
            )
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    log.info("recorded sha256 %s (%d bytes) of %s as %r in %s", sha256, nbytes, url, key, path)


# --------------------------------------------------------------------------------------------
# fetch
# --------------------------------------------------------------------------------------------


def _local_source(url_or_path: str) -> Path | None:
    """The local path of a ``file://`` URL or a plain path; None for http(s)."""
    parsed = urllib.parse.urlparse(str(url_or_path))
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InputError(
                str(url_or_path),
                f"file:// URL names host {parsed.netloc!r}.",
                "Use file:///absolute/path (three slashes) or a plain path.",
            )
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # 'C:' style drive letters are paths
        raise InputError(
            str(url_or_path),
            f"unsupported URL scheme {parsed.scheme!r}.",
            "Use an http(s):// or file:// URL, or a local path.",
        )
    return Path(url_or_path)


def by_hand(dest_hint, expected: str | None, origin: str | None) -> str:
    """How to place a file by hand: where, and which sha256 it must have (or that none is pinned)."""
    if expected is not None and origin in ("config", "pinned_tsv"):
        sha = f"its sha256 must be {expected}"
    elif expected is not None:
        sha = f"its sha256 must be {expected}, recorded at an earlier download (not pinned)"
    else:
        sha = (
            "its sha256 is not pinned yet: any file is accepted and its hash recorded in "
            "results/downloads/checksums.tsv, to be pinned in the config"
        )
    return f"Without network, put the file at {dest_hint} ({sha}) and run again."


def _open_source(url_or_path: str, key: str, timeout_s: float, user_agent: str, hand: str):
    local = _local_source(url_or_path)
    if local is not None:
        if not local.is_file():
            raise InputError(
                key,
                f"local source {local} does not exist or is not a file.",
                "Fix the path (relative paths resolve against the working directory) "
                "or give the URL.",
            )
        return open(local, "rb")
    req = urllib.request.Request(str(url_or_path), headers={"User-Agent": user_agent})
    try:
        return urllib.request.urlopen(req, timeout=timeout_s)  # noqa: S310 - http(s) only
    except urllib.error.HTTPError as e:  # the server answered, with an error
        raise InputError(
            key,
            f"the server answered HTTP {e.code} ({e.reason}) for {url_or_path}.",
            f"Check the URL. {hand}",
        ) from e
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = " ".join(str(getattr(e, "reason", e)).split())  # one line
        raise InputError(
            key,
            f"no connection to {url_or_path} ({reason}).",
            hand,
        ) from e


def _mismatch(key, url, expected, actual, origin):
    where = {
        "config": "the config",
        "pinned_tsv": "the committed checksum table",
        "checksums_tsv": "the recorded checksum table",
    }.get(origin, origin)
    return InputError(
        key,
        f"sha256 mismatch for {url}: expected {expected} (from {where}), got "
        f"{actual}. The file is corrupt, truncated or has changed upstream; nothing "
        "was written.",
        "Download again; if the data really changed upstream, "
        "update the sha256 in the config or delete its row in the checksum table.",
    )


def fetch(
    url_or_path,
    dest,
    sha256: str | None = None,
    checksums_tsv=None,
    key: str = "download",
    *,
    pinned_tsv=None,
    link: bool = False,
    manual=None,
    chunk_bytes: int = CHUNK_BYTES,
    timeout_s: float = 60.0,
    user_agent: str = "predictivity (+https://github.com/; data download)",
) -> FetchResult:
    """Download or copy ``url_or_path`` to ``dest`` and verify its sha256 before it appears there.

    Parameters
    ----------
    url_or_path : ``http://``/``https://`` URL, ``file:///abs/path`` URL, or a local path.
    dest : final file path; its directory is created. The data are streamed into a hidden
        temporary file in that directory and renamed onto ``dest`` only after verification, so an
        interrupted or failed download never leaves a partial ``dest``.
    sha256 : expected hex sha256 (64 characters) or None. See the module docstring for the order
        in which the expected hash is looked up (argument → ``checksums_tsv`` → record on first use).
    checksums_tsv : path of the table of recorded checksums (``results/downloads/checksums.tsv``),
        or None to neither read nor record (then only ``sha256`` is checked, if given).
    pinned_tsv : path of a checksum table the user committed (read, never written), or None.
    key : config key of this download, used as the table key and named in every error.
    link : local sources only — symlink ``dest`` to the (verified) source instead of copying it
        (saves disk for multi-GB files; the source must then stay in place). Default False.
    manual : where a user may put the file by hand (the download rule passes
        ``data/downloads/<name>/<file>``, :func:`manual_path`), or None. When that file exists it
        is the source instead of the URL — checked against the same expected sha256, and
        recorded on first use like a download. When the URL cannot be reached, the error says to
        put the file there and which sha256 it must have.
    chunk_bytes, timeout_s, user_agent : streaming block size (:data:`CHUNK_BYTES`); socket
        timeout of an http(s) request (60 s); the User-Agent sent with http(s) requests (some
        servers refuse Python's default). None of these has a config key.

    Returns a :class:`FetchResult`. If ``dest`` already exists and matches the expected hash it is
    kept and nothing is downloaded.

    Raises :class:`InputError` naming ``key`` on a missing source, a network error, a malformed
    sha256, or a hash mismatch (the message contains the expected and the actual hash). Without a
    connection it is one line: ``<key>: no connection to <url> (<reason>). Fix: Without network,
    put the file at <manual or a local path> (its sha256 must be <hash> | is not pinned yet …)``.
    """
    dest = Path(dest)
    url = str(url_or_path)
    expected, origin = None, None
    if sha256:
        expected, origin = _check_sha(sha256, key), "config"
    pinned = read_checksums(pinned_tsv).get(key) if pinned_tsv is not None else None
    if pinned is not None and expected is None:
        expected, origin = pinned["sha256"], "pinned_tsv"
    recorded = read_checksums(checksums_tsv).get(key) if checksums_tsv is not None else None
    if recorded is not None:
        if expected is None:
            expected, origin = recorded["sha256"], "checksums_tsv"
        elif recorded["sha256"] != expected:
            log.warning(
                "%s: config sha256 %s differs from %s recorded in %s; the config wins",
                key,
                expected,
                recorded["sha256"],
                checksums_tsv,
            )

    if expected is not None and (dest.is_file() or dest.is_symlink()) and dest.exists():
        actual = sha256_file(dest, chunk_bytes)
        if actual == expected:
            log.info("%s: %s already present and verified (sha256 %s)", key, dest, actual)
            return FetchResult(dest, actual, dest.stat().st_size, origin)

    dest.parent.mkdir(parents=True, exist_ok=True)
    source = url
    if manual is not None and Path(manual).is_file():
        log.info("%s: using the file placed by hand at %s instead of %s", key, manual, url)
        source = str(manual)
    local = _local_source(source)
    if link and local is not None:
        return _link(local, dest, expected, origin, checksums_tsv, key, url, chunk_bytes)
    hand = by_hand(
        manual if manual is not None else "a local path given as the URL", expected, origin
    )

    h, nbytes = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with (
            os.fdopen(fd, "wb") as out,
            _open_source(source, key, timeout_s, user_agent, hand) as src,
        ):
            try:
                for block in iter(lambda: src.read(chunk_bytes), b""):
                    h.update(block)
                    out.write(block)
                    nbytes += len(block)
            except (OSError, urllib.error.URLError) as e:
                reason = " ".join(str(e).split())
                raise InputError(
                    key,
                    f"download of {url} failed after {nbytes} bytes ({reason}).",
                    f"Try again. {hand}",
                ) from e
        actual = h.hexdigest()
        if expected is not None and actual != expected:
            label = url if source == url else f"{source} (placed by hand for {url})"
            raise _mismatch(key, label, expected, actual, origin)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return _finish(dest, actual, nbytes, expected, origin, checksums_tsv, key, url)


def _finish(dest, actual, nbytes, expected, origin, checksums_tsv, key, url) -> FetchResult:
    if expected is None:
        if checksums_tsv is not None:
            record_checksum(checksums_tsv, key, url, actual, nbytes)
            origin = "recorded"
        else:
            origin = "unchecked"
            log.warning(
                "%s: no sha256 configured and no checksum table: %s is unverified (sha256 %s)",
                key,
                dest,
                actual,
            )
    log.info("%s: %s → %s (%d bytes, sha256 %s, %s)", key, url, dest, nbytes, actual, origin)
    return FetchResult(dest, actual, nbytes, origin)


def _link(source: Path, dest: Path, expected, origin, checksums_tsv, key, url, chunk_bytes):
    if not source.is_file():
        raise InputError(
            key,
            f"local source {source} does not exist or is not a file.",
            "Fix the path or give the URL.",
        )
    actual = sha256_file(source, chunk_bytes)
    if expected is not None and actual != expected:
        raise _mismatch(key, url, expected, actual, origin)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.link")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(source.resolve(), tmp)
    os.replace(tmp, dest)
    return _finish(dest, actual, source.stat().st_size, expected, origin, checksums_tsv, key, url)


# --------------------------------------------------------------------------------------------
# unpack
# --------------------------------------------------------------------------------------------


def _safe_member(name: str, source: str) -> PurePosixPath:
    """Reject absolute paths and '..' components (path traversal); return the relative path."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or (p.parts and re.match(r"^[A-Za-z]:", p.parts[0])) or ".." in p.parts:
        raise InputError(
            source,
            f"archive member {name!r} would be written outside the target "
            "directory (absolute path or '..').",
            "Do not unpack this archive; obtain it from the original source.",
        )
    return p


def _strip(p: PurePosixPath, n: int) -> PurePosixPath | None:
    parts = [x for x in p.parts if x not in ("", ".")]
    return PurePosixPath(*parts[n:]) if len(parts) > n else None


class _Budget:
    """Running totals of an extraction, bounded by ``max_bytes`` and ``max_files``."""

    def __init__(self, source: str, max_bytes: int, max_files: int):
        self.source, self.max_bytes, self.max_files = source, int(max_bytes), int(max_files)
        self.bytes = self.files = 0

    def _refuse(self, what: str):
        return InputError(
            self.source,
            f"the archive unpacks to more than {what}; nothing was unpacked.",
            "Raise `unpack_limits` in the config if the archive is genuine.",
        )

    def add_file(self, declared: int) -> None:
        self.files += 1
        if self.files > self.max_files:
            raise self._refuse(f"{self.max_files} files (unpack_limits.max_files)")
        if self.bytes + max(int(declared), 0) > self.max_bytes:
            raise self._refuse(f"{self.max_bytes} bytes (unpack_limits.max_bytes)")

    def copy(self, src, out) -> str:
        """Copy ``src`` into ``out`` within the byte budget; return the sha256 of the bytes."""
        h = hashlib.sha256()
        for block in iter(lambda: src.read(CHUNK_BYTES), b""):
            self.bytes += len(block)
            if self.bytes > self.max_bytes:
                raise self._refuse(f"{self.max_bytes} bytes (unpack_limits.max_bytes)")
            h.update(block)
            out.write(block)
        return h.hexdigest()


def _new_file(target: Path):
    """A new regular file (never through an existing name or link) opened for writing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    return os.fdopen(os.open(target, flags, 0o644), "wb")


def _extract_tar(archive: Path, tmp: Path, strip_components: int, source: str, budget, hashes):
    n = 0
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()  # reads the whole index: truncation shows up here or below
        for m in members:
            rel = _safe_member(m.name, source)
            if not (m.isfile() or m.isdir()):
                raise InputError(
                    source,
                    f"archive member {m.name!r} is a link or special file.",
                    "Only regular files and directories are unpacked; repack the "
                    "archive without links.",
                )
            if m.isfile():
                budget.add_file(m.size)  # sizes are in the index: refused before writing
        budget.files = 0
        for m in members:
            rel = _strip(_safe_member(m.name, source), strip_components)
            if rel is None:
                continue
            target = tmp.joinpath(*rel.parts)
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            budget.add_file(m.size)
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(m)
            with src, _new_file(target) as out:
                hashes[rel.as_posix()] = budget.copy(src, out)
            if target.stat().st_size != m.size:
                raise EOFError(f"member {m.name!r} truncated")
            n += 1
    return n


def _extract_zip(archive: Path, tmp: Path, strip_components: int, source: str, budget, hashes):
    n = 0
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _safe_member(info.filename, source)
            mode = (info.external_attr >> 16) & 0o170000
            if mode and mode not in (0o100000, 0o040000):
                raise InputError(
                    source,
                    f"archive member {info.filename!r} is a link or special file.",
                    "Repack the archive without links.",
                )
            if not info.is_dir():
                budget.add_file(info.file_size)  # declared sizes; the copy counts real bytes
        budget.files = 0
        for info in infos:
            rel = _strip(_safe_member(info.filename, source), strip_components)
            if rel is None:
                continue
            target = tmp.joinpath(*rel.parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            budget.add_file(0)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, _new_file(target) as out:  # CRC checked at EOF
                hashes[rel.as_posix()] = budget.copy(src, out)
            n += 1
    return n


# --------------------------------------------------------------------------------------------
# manifest: what a download directory held when it was made
# --------------------------------------------------------------------------------------------


def write_manifest(directory, hashes: dict[str, str], source_sha256: str, pinned: bool) -> Path:
    """Write ``directory``/:data:`MANIFEST`: one ``<sha256>  <relative path>`` line per file
    (``sha256sum -c`` reads it), after ``# source <sha256>`` and ``# pinned true|false``."""
    directory = Path(directory)
    if MANIFEST in hashes:
        raise InputError(
            str(directory),
            f"the download holds a file named {MANIFEST}, the pipeline's manifest name.",
            "Rename that file in the archive.",
        )
    lines = [f"# source {source_sha256}", f"# pinned {'true' if pinned else 'false'}"]
    lines += [f"{sha}  {rel}" for rel, sha in sorted(hashes.items())]
    path = directory / MANIFEST
    with _new_file(path) as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8"))
    return path


def _find_manifest(path: Path) -> Path | None:
    for d in [path, *path.parents]:
        if (d / MANIFEST).is_file():
            return d
    return None


def verify_manifest(path, source: str) -> dict:
    """Re-hash the files of a download under ``path`` against the download's manifest.

    ``path`` is a file or folder inside a download directory (the manifest is looked up in it and
    its parents). Every regular file under ``path`` must be listed with the same sha256; a file
    that changed, appeared or is a symlink leaving the download directory is an InputError naming
    it. Returns ``{"root": download directory, "pinned": bool, "files": n, "bytes": n}``. Cost: one
    sha256 pass over the files (0.2 s per 100 MB measured on one core).
    """
    path = Path(path)
    root = _find_manifest(path.resolve() if path.exists() else path)
    if root is None:
        raise InputError(
            source,
            f"{path} has no download manifest ({MANIFEST}): it was not made by this version "
            "of the download rule, or was changed.",
            "Delete the download directory under results/downloads/ and run again.",
        )
    text = (root / MANIFEST).read_text(encoding="utf-8").splitlines()
    listed, pinned = {}, False
    for line in text:
        if line.startswith("# pinned "):
            pinned = line.split()[-1] == "true"
        elif line and not line.startswith("#"):
            sha, rel = line.split("  ", 1)
            listed[rel] = sha
    target = path.resolve()
    if not target.is_relative_to(root):
        raise InputError(source, f"{path} leaves the download directory {root}.", "Fix the path.")
    files = [target] if target.is_file() else [f for f in sorted(target.rglob("*"))]
    n = nbytes = 0
    for f in files:
        if f.is_dir() or (f.parent == root and f.name in (MANIFEST, ".snakemake_timestamp")):
            continue  # Snakemake marks a directory output with .snakemake_timestamp
        rel = f.relative_to(root).as_posix()
        if f.is_symlink() or not f.is_file() or rel not in listed:
            raise InputError(
                source,
                f"{f} is not a file of the download (it was added or replaced after it).",
                "Delete the download directory under results/downloads/ and run again.",
            )
        actual = sha256_file(f)
        if actual != listed[rel]:
            raise InputError(
                source,
                f"{f} changed since it was downloaded (sha256 {actual}, manifest {listed[rel]}).",
                "Delete the download directory under results/downloads/ and run again.",
            )
        n, nbytes = n + 1, nbytes + f.stat().st_size
    return {"root": root, "pinned": pinned, "files": n, "bytes": nbytes}


def unpack(
    archive,
    dest_dir,
    *,
    key: str | None = None,
    strip_components: int = 0,
    max_bytes: int = MAX_UNPACK_BYTES,
    max_files: int = MAX_UNPACK_FILES,
    manifest: dict | None = None,
) -> Path:
    """Extract a tar (optionally gz/bz2/xz-compressed) or zip archive into ``dest_dir``, atomically.

    The members are extracted into a hidden temporary directory next to ``dest_dir`` (same file
    system); only when every member has been read completely (zip CRCs checked, tar sizes checked,
    compressed streams read to the end) is that directory renamed onto ``dest_dir``. An existing
    ``dest_dir`` is replaced only after the new one is complete. On any error the temporary
    directory is removed, ``dest_dir`` is left as it was, and one :class:`InputError` names the
    archive (or ``key``) and the problem.

    Parameters
    ----------
    archive : path of the archive; its format is detected from its content, not its name.
    dest_dir : directory that will hold the archive's contents.
    key : config key named in errors (default: the archive path).
    strip_components : drop this many leading path components of every member (like
        ``tar --strip-components``); members with fewer components are skipped.
    max_bytes, max_files : bounds of the unpacked contents (a larger archive is an InputError
        before or while extracting, and nothing is left behind).
    manifest : None, or ``{"sha256": archive hash, "pinned": bool}``: then :data:`MANIFEST` is
        written into the directory before it is renamed into place (see :func:`verify_manifest`).

    Member paths that are absolute or contain ``..`` (path traversal), and links or special
    files, are refused with an InputError before anything is renamed into place.
    Returns ``dest_dir`` as a Path.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    source = key or str(archive)
    if not archive.is_file():
        raise InputError(source, f"archive {archive} does not exist.", "Run the download first.")
    if zipfile.is_zipfile(archive):
        extract = _extract_zip
    else:
        try:
            is_tar = tarfile.is_tarfile(archive)
        except (OSError, EOFError, zlib.error):
            is_tar = False
        if not is_tar:
            raise InputError(
                source,
                f"{archive} is neither a tar nor a zip archive (or it is "
                "truncated before its first member).",
                "Delete it and download it again; check the URL points at the archive.",
            )
        extract = _extract_tar
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest_dir.parent, prefix=f".{dest_dir.name}.", suffix=".unpack"))
    try:
        hashes: dict[str, str] = {}
        budget = _Budget(source, max_bytes, max_files)
        n = extract(archive, tmp, int(strip_components), source, budget, hashes)
        if manifest is not None:
            write_manifest(tmp, hashes, manifest["sha256"], manifest["pinned"])
        if dest_dir.exists() or dest_dir.is_symlink():
            old = Path(
                tempfile.mkdtemp(dir=dest_dir.parent, prefix=f".{dest_dir.name}.", suffix=".old")
            )
            os.rmdir(old)
            os.replace(dest_dir, old)
            os.replace(tmp, dest_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest_dir)
    except InputError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(
            source,
            f"archive {archive} is corrupt or truncated ({type(e).__name__}: "
            f"{e}); nothing was unpacked.",
            "Delete the archive and download it again (check its sha256).",
        ) from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("unpacked %d files from %s into %s", n, archive, dest_dir)
    return dest_dir
