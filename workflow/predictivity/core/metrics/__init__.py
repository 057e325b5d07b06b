"""Similarity measures beside ridge regression: PLS, RSA, CKA, Procrustes and SVCCA per layer.

* :mod:`predictivity.core.metrics.measures` — the five measures (arrays in, numbers out) and
  :func:`~predictivity.core.metrics.measures.score_metrics`, one table row per layer × measure.
* :mod:`predictivity.core.metrics.agreement` — Kendall τ between the layer rankings of every pair
  of measures, for the aggregate step.

Definitions and normalisations: ``docs/metrics.md``. This ``__init__`` imports nothing, so a
stage that needs only one of the two modules does not rerun when the other changes.
"""
