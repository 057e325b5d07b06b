"""The one exception type the pipeline raises for bad input.

Every check on user data or config raises :class:`InputError` with a message of the form
``<file or config key>: <what is wrong>. <how to fix it>`` so that a researcher sees one clear
line, not a traceback. Scripts catch it (see :mod:`predictivity.scripting`), print the message to
the rule's log and to stderr, and exit non-zero; Snakemake then removes the job's outputs.
"""


class InputError(ValueError):
    """Bad input data or configuration; the message names the source, the problem and the fix."""

    def __init__(self, source: str, problem: str, fix: str = ""):
        self.source = str(source)
        self.problem = problem
        self.fix = fix
        msg = f"{self.source}: {problem}"
        if fix:
            msg += f" Fix: {fix}"
        super().__init__(msg)
