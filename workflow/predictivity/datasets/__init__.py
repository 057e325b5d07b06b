"""Loaders of the real recordings, in the pipeline's recordings format.

Every loader reads files that :mod:`predictivity.datasets.download` fetched and verified (or the
user's own files), and returns a :class:`~predictivity.datasets.dataset.Dataset`: ``responses``
(P stimuli × N targets × R repetitions, float64), a ``stimuli`` table (``stimulus_id`` and, where
the study has one, ``group`` — all stimuli of a group stay in one CV fold), and a ``targets`` table
(``target_name`` plus the source's per-target metadata, e.g. ROI masks). ``responses`` and
``targets.target_name`` go straight into
:func:`predictivity.studies.recordings.prepare_recordings`. Errors are
:class:`~predictivity.errors.InputError` naming the file, the problem and the fix.

Modules (``docs/real_data.md`` says where each source's files come from):

* :mod:`~predictivity.datasets.registry` — ``LOADERS`` (loader name → entry) and ``load_dataset``.
* :mod:`~predictivity.datasets.dataset` — ``Dataset``, ``align_to_stimuli``, ``call_with_options``.
* :mod:`~predictivity.datasets.formats` — MATLAB, Praat TextGrid and NWB readers.
* :mod:`~predictivity.datasets.download` — verified downloads (sha256) and safe unpacking.
* :mod:`~predictivity.datasets.stimulus_sets` — BrainIO stimulus sets (CSV + unpacked zip).
* one module per source: ``nh2015`` (NH2015 components), ``tuckute2023`` (NH2015 / B2021 voxels),
  ``majajhong2015`` (BrainIO netCDF), ``pereira2018``, ``lebel2023``, ``mec_file`` (user files).

This ``__init__`` imports nothing, so a module that needs one source imports only that source.
"""
