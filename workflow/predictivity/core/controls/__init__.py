"""Controls of a layer's score (``docs/controls.md``): how much of it is regression meeting a
spectrum.

* :mod:`predictivity.core.controls.scoring` — per training fold, the regression's eigenbasis
  reused for spectral reshaping (all γ from one decomposition), the random-eigenvector null and
  PR inflation; the per-model job.
* :mod:`predictivity.core.controls.profiles` — normalised spectrum and alignment profile per
  training fold, the theory evaluated on them, and the spectrum-only / alignment-only
  decomposition over a study's layers.
* :mod:`predictivity.core.controls.summary` — per-layer columns for the layers table and the
  per-study shares of variance explained.

This file imports nothing, so a script's rerun hash covers only the modules it uses.
"""
