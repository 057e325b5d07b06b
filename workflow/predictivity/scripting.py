"""The runner of the workflow's thin scripts: logging, thread limits, clean failure.

Every script's body is a ``main(snakemake)`` function run through :func:`run`, which

* sends :mod:`logging` output to the rule's ``log:`` file (and stderr),
* limits BLAS and torch threads to the rule's ``threads:`` (threadpoolctl),
* turns an :class:`~predictivity.errors.InputError` into one clear line on stderr and in the log
  and a non-zero exit, after which Snakemake deletes the job's outputs (no partial output).

File I/O lives in :mod:`predictivity.fileio` and the scripts, never in the computational modules.
This module changes no result, so it is left out of the rules' code hash.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from predictivity.errors import InputError

log = logging.getLogger("predictivity")


def setup_logging(logfile: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if logfile:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(logfile, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        handlers=handlers,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)


def run(main, smk) -> None:
    """Run ``main(smk)`` with logging, thread limits and clean errors (see module docstring)."""
    logfile = smk.log[0] if len(smk.log) else None
    setup_logging(logfile)
    if (getattr(smk, "config", None) or {}).get("offline", True):
        # config `offline: true` (the default): nothing reaches a model hub at run time
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
    threads = int(getattr(smk, "threads", 1) or 1)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(limits=threads):
            main(smk)
    except InputError as e:
        for h in logging.getLogger().handlers:
            if isinstance(h, logging.FileHandler):
                h.handle(log.makeRecord(log.name, logging.ERROR, __file__, 0, "%s", (e,), None))
        print(f"predictivity: error: {e}", file=sys.stderr)
        sys.exit(1)
