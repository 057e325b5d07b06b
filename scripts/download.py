"""Stage 0: fetch one configured download (one file, or the listed `files`), verify each sha256,
unpack it if asked → results/downloads/{name}/ with a manifest."""

import hashlib
import shutil
import tempfile
from pathlib import Path

from predictivity.datasets.download import (
    download_plan,
    fetch,
    manual_path,
    unpack,
    write_manifest,
)
from predictivity.scripting import log, run


def _warn_unpinned(key, sha256, recorded):
    log.warning(
        "%s is not pinned: its sha256 %s was only recorded in %s. Loaders that read "
        "pickles refuse it until you pin it: set `%s: %s` in the config.",
        key,
        sha256,
        recorded,
        key,
        sha256,
    )


def fetch_one(smk, name, key, out, tmp):
    """A single-file download: fetch, then unpack it or keep it as the directory's one file."""
    opts = smk.params.options
    ((basename, url),) = download_plan(opts, key)
    got = fetch(
        url,
        Path(tmp) / basename,
        sha256=smk.params.pinned,
        pinned_tsv=smk.params.pinned_table,
        checksums_tsv=smk.params.recorded,
        key=key,
        manual=Path.cwd() / manual_path(name, basename),
    )
    log.info("%s: %d bytes, sha256 %s (%s)", url, got.bytes, got.sha256, got.checked_against)
    if not got.pinned:
        _warn_unpinned(f"{key}.sha256", got.sha256, smk.params.recorded)
    manifest = {"sha256": got.sha256, "pinned": got.pinned}
    if opts.get("unpack"):
        limits = smk.params.limits
        unpack(
            got.path,
            out,
            key=key,
            max_bytes=limits["max_bytes"],
            max_files=limits["max_files"],
            manifest=manifest,
        )
    else:
        staged = Path(tmp) / "dir"
        staged.mkdir()
        shutil.move(str(got.path), staged / basename)
        write_manifest(staged, {basename: got.sha256}, got.sha256, got.pinned)
        staged.rename(out)


def fetch_files(smk, name, key, out, tmp):
    """A `files` download: every listed file fetched to its path inside the directory (each
    checked against its own sha256, key `downloads.<name>/<path>`), renamed into place together."""
    staged = Path(tmp) / "dir"
    pinned = smk.params.pinned or {}
    hashes, all_pinned = {}, True
    for rel, url in download_plan(smk.params.options, key):
        fkey = f"{key}/{rel}"
        got = fetch(
            url,
            staged.joinpath(*rel.split("/")),
            sha256=pinned.get(rel),
            pinned_tsv=smk.params.pinned_table,
            checksums_tsv=smk.params.recorded,
            key=fkey,
            manual=Path.cwd() / manual_path(name, rel),
        )
        log.info("%s: %d bytes, sha256 %s (%s)", url, got.bytes, got.sha256, got.checked_against)
        if not got.pinned:
            all_pinned = False
            _warn_unpinned(f"{key}.files[{rel}]", got.sha256, smk.params.recorded)
        hashes[rel] = got.sha256
    listing = "".join(f"{sha}  {rel}\n" for rel, sha in sorted(hashes.items()))
    source = hashlib.sha256(listing.encode("utf-8")).hexdigest()  # the set of files, as one hash
    write_manifest(staged, hashes, source, all_pinned)
    staged.rename(out)


def main(smk):
    name = smk.wildcards.name
    key = f"downloads.{name}"
    out = Path(smk.output[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{name}.") as tmp:
        if smk.params.options.get("files"):
            fetch_files(smk, name, key, out, tmp)
        else:
            fetch_one(smk, name, key, out, tmp)
    log.info("ready: %s", out)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
