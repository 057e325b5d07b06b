"""Stage 0: fetch one configured download, verify its sha256, unpack it if asked → results/downloads/{name}/."""

import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from predictivity.datasets.download import fetch, unpack, write_manifest
from predictivity.scripting import log, run


def main(smk):
    opts = smk.params.options
    name = smk.wildcards.name
    key = f"downloads.{name}"
    out = Path(smk.output[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    basename = Path(urlparse(opts["url"]).path).name or name
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{name}.") as tmp:
        got = fetch(
            opts["url"],
            Path(tmp) / basename,
            sha256=smk.params.pinned,
            pinned_tsv=smk.params.pinned_table,
            checksums_tsv=smk.params.recorded,
            key=key,
        )
        log.info(
            "%s: %d bytes, sha256 %s (%s)", opts["url"], got.bytes, got.sha256, got.checked_against
        )
        if not got.pinned:
            log.warning(
                "%s is not pinned: its sha256 %s was only recorded in %s. Loaders that read "
                "pickles refuse it until you pin it: set `%s.sha256: %s` in the config.",
                key,
                got.sha256,
                smk.params.recorded,
                key,
                got.sha256,
            )
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
    log.info("ready: %s", out)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
