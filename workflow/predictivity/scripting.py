"""The runner of the workflow's thin scripts: logging, thread limits, clean failure.

Every script's body is a ``main(snakemake)`` function run through :func:`run`, which

* sends :mod:`logging` output to the rule's ``log:`` file (and stderr),
* limits BLAS and torch threads to the rule's ``threads:`` (threadpoolctl),
* turns an :class:`~predictivity.errors.InputError` into one clear line on stderr and in the log
  and a non-zero exit, after which Snakemake deletes the job's outputs (no partial output).

:func:`mock_snakemake` builds the ``snakemake`` object of one job from the workflow itself, so
that a script also runs alone, for debugging (``python scripts/recordings.py``)::

    if __name__ == "__main__":
        if "snakemake" not in globals():  # run alone: the demo's job, or edit the wildcards
            from predictivity.scripting import mock_snakemake

            snakemake = mock_snakemake("recordings_precomputed", study="demo")
        run(main, snakemake)

File I/O lives in :mod:`predictivity.fileio` and the scripts, never in the computational modules.
This module changes no result, so it is left out of the rules' code hash.
"""

from __future__ import annotations

import errno
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
        _fail(e)
    except OSError as e:
        if e.errno not in _DISK_ERRNOS:
            raise
        where = e.filename or "an output"
        _fail(
            InputError(
                str(where),
                f"cannot write ({e.strerror}); the job's outputs are removed.",
                "Free disk space, or run in a writable project directory (--directory).",
            )
        )


#: OS errors that mean "this folder cannot take the output": read-only, no permission, disk full,
#: quota exceeded.
_DISK_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}


def _fail(e: InputError) -> None:
    """One line on stderr and in the rule's log, then a non-zero exit."""
    for h in logging.getLogger().handlers:
        if isinstance(h, logging.FileHandler):
            h.handle(log.makeRecord(log.name, logging.ERROR, __file__, 0, "%s", (e,), None))
    print(f"predictivity: error: {e}", file=sys.stderr)
    sys.exit(1)


REPO = Path(__file__).resolve().parents[2]  # the checkout: Snakefile, scripts/, config/


def mock_snakemake(
    rule: str,
    configfiles: list[str | Path] | str | Path | None = None,
    workdir: str | Path = ".",
    **wildcards: str,
):
    """The ``snakemake`` object that rule ``rule``'s script receives for the given wildcards.

    The workflow is parsed exactly as ``snakemake --directory workdir [--configfile ...]`` would
    parse it (Snakefile, config validation and schema defaults, input functions, params), and one
    job of ``rule`` is built, so a script can be run or stepped through on its own. Nothing is
    executed and no other job is considered: the job's inputs must exist (run
    ``snakemake <input> --cores 1`` first).

    Parameters
    ----------
    rule : the rule's name (``regression``, ``stimuli_precomputed``, …).
    configfiles : config file(s) that replace the demo config, as ``--configfile``; None = the
        workflow's own ``config/config.yaml``.
    workdir : the project directory (``--directory``); relative paths in the config and every
        input and output resolve against it. Default: the current directory.
    **wildcards : the job's wildcards, e.g. ``study="demo", model="relu_net"``.

    Returns
    -------
    A ``snakemake.script.Snakemake`` with absolute ``input``, ``output`` and ``log`` paths (the
    parent folders of outputs and logs are created), ``params``, ``wildcards``, ``threads``,
    ``resources`` and the validated ``config``.
    """
    import snakemake.io
    from snakemake.api import ConfigSettings, OutputSettings, ResourceSettings, SnakemakeApi
    from snakemake.dag import DAG
    from snakemake.jobs import Job
    from snakemake.script import Snakemake
    from snakemake.settings.types import DAGSettings, Quietness

    if configfiles is None:
        configfiles = []
    elif isinstance(configfiles, str | Path):
        configfiles = [configfiles]
    configfiles = [Path(f).resolve() for f in configfiles]
    for f in configfiles:
        if not f.is_file():
            raise FileNotFoundError(f"config file {f} does not exist")
    workdir = Path(workdir).resolve()
    if not (REPO / "Snakefile").is_file():
        raise FileNotFoundError(f"{REPO / 'Snakefile'}: mock_snakemake needs a checkout")

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL}, enable_file_logging=False)) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(
                configfiles=configfiles, replace_workflow_config=bool(configfiles)
            ),
            snakefile=REPO / "Snakefile",
            workdir=workdir,
        )
        workflow = workflow_api.dag(dag_settings=DAGSettings()).workflow_api._workflow
        workflow.iocache = snakemake.io.IOCache(workflow.dag_settings.max_inventory_wait_time)
        known = sorted(r.name for r in workflow.rules)
        if rule not in known:
            raise ValueError(f"no rule {rule!r} in the workflow (rules: {', '.join(known)})")
        rule_obj = workflow.get_rule(rule)
        if set(wildcards) != set(rule_obj.wildcard_names):
            raise ValueError(
                f"rule {rule!r} needs the wildcards {sorted(rule_obj.wildcard_names)}, "
                f"got {sorted(wildcards)}"
            )
        job = Job(rule_obj, DAG(workflow, rules=[rule_obj]), wildcards)
        missing = [str(f) for f in job.input if not (workdir / f).exists()]
        if missing:
            raise FileNotFoundError(
                f"rule {rule!r}, {wildcards}: missing input(s) {', '.join(missing)}; make them "
                f"first: snakemake {' '.join(missing)} --cores 1"
            )
        threads, resources = job.threads, job.resources  # evaluated on the relative paths
        for io in (job.input, job.output, job.log):
            for i, path in enumerate(io):
                io[i] = str(workdir / path)
        for path in [*job.output, *job.log]:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return Snakemake(
            job.input,
            job.output,
            job.params,
            job.wildcards,
            threads,
            resources,
            job.log,
            workflow.config,
            job.rule.name,
            None,
            scriptdir=REPO / "scripts",
        )
