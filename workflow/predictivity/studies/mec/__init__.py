"""The ``mec`` study kind: mouse medial entorhinal cortex and RNN path integrators.

After Schaeffer, Khona & Fiete (2022) and Nayebi et al. (2021): recurrent networks trained to
path-integrate (velocity in, place-cell code out) are the candidate models; their hidden units are
binned by position into rate maps and regressed onto MEC rate maps. Every module is pure: arrays /
tensors in, arrays / DataFrames / ``nn.Module`` out, no file I/O, logging through :mod:`logging`.

Modules, in pipeline order
--------------------------
1. :mod:`~predictivity.studies.mec.arena` — the stimuli: the centres of an ``n_bins × n_bins``
   grid of spatial bins (``arena_bins``) and the bin of a position (``bin_index``).
2. :mod:`~predictivity.studies.mec.walks` — rat-like random trajectories (Sorscher et al.'s
   generator).
3. :mod:`~predictivity.studies.mec.place_cells` — the supervised place-cell code.
4. :mod:`~predictivity.studies.mec.networks` (``build_rnn``) and
   :mod:`~predictivity.studies.mec.training` (``train_path_integrator``, ``decoding_error``) —
   the candidate networks (RNN/GRU/LSTM, trained or untrained twins).
5. :mod:`~predictivity.studies.mec.ratemaps` — per-layer activations ``stimuli × units``.
6. :mod:`~predictivity.studies.mec.simulate` — simulated MEC recordings (``simulate_mec``,
   ``mec_rates``).
7. :mod:`~predictivity.studies.mec.grid` — the spatial autocorrelogram and grid period of a rate
   map (used to check the simulation).

Options come from the config sections of a ``mec`` study (``studies.<name>.stimuli``,
``.recordings``, ``.models.<model>``, ``.training``, ``.trajectories``, ``.rate_maps``); the config
schema holds their defaults, and the functions' keyword defaults equal them (a test checks). Every
function that validates input takes ``config_key`` (the dotted prefix used in error messages), so
that a bad value raises :class:`~predictivity.errors.InputError` naming the key, e.g.
``studies.mec.recordings.period_ratio``.
"""
