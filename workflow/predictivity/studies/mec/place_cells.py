"""The supervised place-cell code of the path integrators (Sorscher et al.): centres uniform in
the arena, Gaussian or difference-of-Gaussians tuning normalised to a distribution."""

from __future__ import annotations

import numpy as np

from predictivity.studies.mec.validate import as_choice, as_float, as_int, as_rng

PLACE_CELL_KINDS = ("gaussian", "dog")


def place_cells(
    n_place_cells: int = 256,
    box_width: float = 2.2,
    rng=None,
    sigma: float = 0.12,
    kind: str = "gaussian",
    surround_scale: float = 2.0,
    *,
    config_key: str = "studies.mec.model",
) -> np.ndarray:
    """Place-cell centres, uniform in the arena (Sorscher et al.).

    Parameters
    ----------
    n_place_cells : Np ≥ 3 (top-3 decoding needs three).
    box_width : arena side (m).
    rng : ``numpy.random.Generator`` or seed.
    sigma, kind, surround_scale : the tuning used later by :func:`place_cell_targets`; validated
        here so a bad config fails early; they do not change the centres.
    config_key : dotted config prefix named in errors (``.n_place_cells``, ``.place_cell_sigma``,
        ``.place_cell_kind``, ``.surround_scale``).

    Returns
    -------
    centres : (Np, 2) float64 array, metres.
    """
    n = as_int(n_place_cells, f"{config_key}.n_place_cells", minimum=3)
    box_width = as_float(box_width, "studies.mec.stimuli.box_width", minimum=0.0, strict=True)
    as_float(sigma, f"{config_key}.place_cell_sigma", minimum=0.0, strict=True)
    as_choice(kind, f"{config_key}.place_cell_kind", PLACE_CELL_KINDS)
    as_float(surround_scale, f"{config_key}.surround_scale", minimum=1.0, strict=True)
    rng = as_rng(rng)
    return rng.uniform(-box_width / 2, box_width / 2, size=(n, 2))


def place_cell_targets(
    positions, centres, sigma: float = 0.12, kind: str = "gaussian", surround_scale: float = 2.0
):
    """Place-cell activations: a probability distribution over the Np place cells per position.

    With d²_i = ‖x − c_i‖² (the softmax is computed from x·c_i − ‖c_i‖²/2 = (‖x‖² − d²_i)/2,
    the ‖x‖² term cancelling):
      * ``gaussian``: a = softmax_i(−d²_i / (2σ²));
      * ``dog`` (Sorscher et al.): a = softmax_i(−d²/(2σ²)) − softmax_i(−d²/(2·surround_scale·σ²)),
        then shifted by |min_i a| and renormalised to sum 1.

    Parameters
    ----------
    positions : (..., 2) numpy array or torch tensor (metres).
    centres : (Np, 2) same library as ``positions``.
    sigma : tuning width in metres (default 0.12).
    kind : ``"gaussian"`` or ``"dog"``.
    surround_scale : ratio of surround to centre variance for DoG (default 2).

    Returns
    -------
    (..., Np) array (numpy float64) or tensor (dtype of ``positions``), rows summing to 1.
    """
    kind = as_choice(kind, "studies.mec.model.place_cell_kind", PLACE_CELL_KINDS)
    try:
        import torch

        is_torch = isinstance(positions, torch.Tensor)
    except ImportError:  # pragma: no cover
        is_torch = False
    if is_torch:
        centres = torch.as_tensor(centres, dtype=positions.dtype, device=positions.device)
        # −d²/2σ² = (x·c − ‖c‖²/2)/σ² − ‖x‖²/2σ², and the last term cancels in the softmax
        z = positions @ centres.T - 0.5 * (centres**2).sum(-1)
        out = torch.softmax(z / sigma**2, dim=-1)
        if kind == "dog":
            out = out - torch.softmax(z / (surround_scale * sigma**2), dim=-1)
            out = out + out.min(dim=-1, keepdim=True).values.abs()
            out = out / out.sum(dim=-1, keepdim=True)
        return out
    from scipy.special import softmax

    positions = np.asarray(positions, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    z = positions @ centres.T - 0.5 * (centres**2).sum(-1)
    out = softmax(z / sigma**2, axis=-1)
    if kind == "dog":
        out = out - softmax(z / (surround_scale * sigma**2), axis=-1)
        out = out + np.abs(out.min(axis=-1, keepdims=True))
        out = out / out.sum(axis=-1, keepdims=True)
    return out
