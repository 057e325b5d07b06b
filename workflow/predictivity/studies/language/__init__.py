"""The ``language`` study kind: sentences, transformer activations, simulated voxels.

Modules, by stage (no file I/O apart from loading a model; the caller reads the sentence file and
writes every output):

1. stimuli      :mod:`~predictivity.studies.language.sentences` (``read_sentences``) — lines of
                a text file → table ``stimulus_id, sentence, n_words, line`` with stable ids
                ``s0001, s0002, …``.
2. recordings   :mod:`~predictivity.studies.language.simulate` (``simulate_language_voxels``) —
                voxels generated from a held-out hand-built sentence representation (NOT a
                candidate network) through a fixed random nonlinear readout, plus noise.
3. activations  :mod:`~predictivity.studies.language.models` (``load_model``: the packaged
                all-MiniLM-L6-v2, hub models, local directories, untrained twins) and
                :mod:`~predictivity.studies.language.activations` (``sentence_activations``).

Options come from a ``kind: language`` study's config; the config schema holds their defaults
and the functions' keyword defaults equal them.
"""
