"""The ``story`` study kind (LeBel et al. 2023 story listening): stimuli are TRs, activations are a
language model's per-word representations resampled to the TRs.

- :mod:`~predictivity.studies.story.activations` — word windows, per-word activations, and the
  per-layer TR features of a study's stories.
- :mod:`~predictivity.studies.story.features` — the word → TR feature maths (Lanczos
  downsampling, FIR delays, the TR grid).
"""
