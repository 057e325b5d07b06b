"""Editing the shared noise model of simulated recordings reruns exactly the simulated recordings
of the kinds that use it (it, auditory, language) and what follows them — never stimuli,
activations, training, or the MEC recordings (whose simulator has its own Poisson noise).

The rerun hash of each rule is computed from its script's import closure (docs/design.md#rerun), so
this holds only while the stimuli and activations modules of those kinds do not import the
simulation modules.
"""

import pytest
from test_rerun import AGGREGATE, _append, _repo_copy, _repo_smk, clone, planned, rules

pytestmark = pytest.mark.workflow

SIMULATED = {"recordings_it", "recordings_auditory", "recordings_language"}
DOWNSTREAM = {"spectra", "regression", "theory", "metrics", "controls"} | AGGREGATE


@pytest.fixture(scope="module")
def builtin_done(builtin_run):
    """The shared tiny built-in run (conftest.builtin_run); the test works on a clone of it."""
    return builtin_run


def test_noise_model_edit_reruns_simulated_recordings_only(builtin_done, tmp_path):
    repo = _repo_copy(tmp_path / "repo")
    work = clone(builtin_done[0], tmp_path / "work")
    smk = _repo_smk(repo, work, builtin_done[1], tmp_path)
    assert planned(smk("-n")) == []
    _append(repo / "workflow/predictivity/studies/noise.py", "\n_EDITED = True\n")
    jobs = planned(smk("-n"))
    assert SIMULATED <= rules(jobs) <= SIMULATED | DOWNSTREAM, jobs
    studies = {wc.get("study") for r, wc in jobs if r in DOWNSTREAM - AGGREGATE}
    assert "mec" not in studies, jobs
