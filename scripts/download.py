"""Stage 0: fetch one configured download, verify its sha256, unpack it if asked → results/downloads/{name}/."""

import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from predictivity.datasets.download import fetch, unpack
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
            sha256=opts.get("sha256"),
            checksums_tsv=smk.params.checksums,
            key=key,
        )
        log.info(
            "%s: %d bytes, sha256 %s (%s)", opts["url"], got.bytes, got.sha256, got.checked_against
        )
        if opts.get("unpack"):
            unpack(got.path, out, key=key)
        else:
            staged = Path(tmp) / "dir"
            staged.mkdir()
            shutil.move(str(got.path), staged / basename)
            staged.rename(out)
    log.info("ready: %s", out)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
