"""Activations of the ``it`` study: per-layer CNN outputs, pooled or randomly projected.

:func:`cnn_activations` records named modules of an image network (from
:func:`predictivity.studies.it.networks.build_cnn`) with forward hooks and reduces each output
at once (global average pooling, or flattening and a seeded Gaussian random projection,
:func:`random_projection`), so memory stays bounded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from predictivity.errors import InputError
from predictivity.studies.it.networks import IMAGENET_NORMALIZE, resolve_layers
from predictivity.studies.torch_utils import OutputCapture, inference

POOLINGS = ("gap", "none")

#: Rows of the random projection matrix drawn per chunk (see :func:`random_projection`).
PROJECTION_CHUNK_ROWS = 8192


def _projection_chunk(seed: int, chunk: int, rows: int, n_out: int):
    """Rows ``chunk·C … chunk·C+rows−1`` of the projection matrix (torch float32 tensor)."""
    import torch

    state = np.random.SeedSequence([int(seed), int(chunk)]).generate_state(1, np.uint64)[0]
    g = torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)
    return torch.randn(rows, n_out, generator=g, dtype=torch.float32).mul_(1.0 / math.sqrt(n_out))


def projection_matrix(
    n_in: int, n_out: int, seed: int = 0, chunk_rows: int = PROJECTION_CHUNK_ROWS
) -> np.ndarray:
    """The explicit Gaussian random projection matrix R (n_in × n_out, float32).

    R_ij ~ N(0, 1/n_out) i.i.d. Row block c (rows c·C … c·C+C−1, C = ``chunk_rows``) is drawn
    by ``torch.randn`` (float32) from a ``torch.Generator`` seeded with
    ``SeedSequence([seed, c]).generate_state(1, uint64)[0]`` (top bit cleared) and multiplied
    in place by 1/sqrt(n_out); so any block can
    be generated alone and R for a smaller ``n_in`` is the top rows of R for a larger one.
    Only for small problems and tests; :func:`random_projection` never materialises R.
    """
    blocks = [
        _projection_chunk(seed, c, min(chunk_rows, n_in - c * chunk_rows), n_out).numpy()
        for c in range(math.ceil(n_in / chunk_rows))
    ]
    return np.concatenate(blocks, axis=0) if blocks else np.zeros((0, n_out), np.float32)


def random_projection(
    x: np.ndarray,
    n_out: int,
    seed: int = 0,
    chunk_rows: int = PROJECTION_CHUNK_ROWS,
) -> np.ndarray:
    """Gaussian random projection X R, computed in row blocks of R (bounded memory).

    X ∈ R^{n × D} → X R ∈ R^{n × k} with R as in :func:`projection_matrix` (entries N(0, 1/k)),
    so E‖(x−y)R‖² = ‖x−y‖²: pairwise distances are preserved up to a relative error of order
    sqrt(2/k) (Johnson–Lindenstrauss). Memory: one C × k block of R (32 MiB for C = 8192,
    k = 1024) plus the n × k float64 accumulator. Deterministic for a given (seed, chunk_rows).

    Parameters
    ----------
    x : array (n × D)
    n_out : int
        k ≥ 1.
    seed : int
        Projection seed.
    chunk_rows : int
        C, rows of R per block (part of the definition of R; keep the default).

    Returns
    -------
    float32 array (n × k).
    """
    import torch

    x = np.asarray(x, dtype=np.float32)
    n, D = x.shape
    out = torch.zeros(n, int(n_out), dtype=torch.float64)
    xt = torch.from_numpy(np.ascontiguousarray(x))
    for c in range(math.ceil(D / chunk_rows)):
        lo, hi = c * chunk_rows, min(D, (c + 1) * chunk_rows)
        out += (xt[:, lo:hi] @ _projection_chunk(seed, c, hi - lo, int(n_out))).double()
    return out.numpy().astype(np.float32)


class _LayerStore:
    """Collects one layer's per-batch outputs; projects buffered rows when they exceed a budget."""

    def __init__(self, max_units, seed, buffer_bytes):
        self.max_units, self.seed, self.buffer_bytes = max_units, seed, buffer_bytes
        self.buffer: list[np.ndarray] = []
        self.done: list[np.ndarray] = []
        self.units = None

    def add(self, a: np.ndarray) -> None:
        self.units = a.shape[1]
        self.buffer.append(a)
        if self._project and sum(b.nbytes for b in self.buffer) >= self.buffer_bytes:
            self.flush()

    @property
    def _project(self) -> bool:
        return self.max_units is not None and self.units is not None and self.units > self.max_units

    def flush(self) -> None:
        if not self.buffer:
            return
        block = np.concatenate(self.buffer, axis=0)
        self.buffer = []
        if self._project:
            block = random_projection(block, self.max_units, self.seed)
        self.done.append(block)

    def result(self) -> np.ndarray:
        self.flush()
        return np.ascontiguousarray(np.concatenate(self.done, axis=0), dtype=np.float32)


def cnn_activations(
    model,
    images: np.ndarray,
    layers: Sequence[str] | None = None,
    pooling: str = "gap",
    max_units: int | None = None,
    projection_seed: int = 0,
    batch_size: int = 16,
    threads: int = 1,
    normalize=IMAGENET_NORMALIZE,
    arch: str | None = None,
    projection_buffer_mb: float = 256.0,
    source: str = "layers",
    input_size: int | None = None,
) -> dict[str, np.ndarray]:
    """Per-layer activations of an image network.

    Input: x = (image/255 − mean) / std per RGB channel (NCHW float32), mean/std =
    ``normalize`` (ImageNet's by default; ``None`` = only /255); with ``input_size`` set and
    different from the images' size, the batch in [0, 1] is first resized to
    ``input_size`` × ``input_size`` (``torch.nn.functional.interpolate``, bicubic,
    ``align_corners=False``, antialiased; the network's training resolution, see
    :func:`~predictivity.studies.it.networks.preprocessing`). The model runs in eval mode
    under ``torch.no_grad()`` with ``torch.set_num_threads(threads)`` (restored afterwards); a
    forward hook on each requested module (``model.get_submodule(name)``) takes its output
    A (batch × C × H × W for convolutional stages, batch × C for linear ones) and immediately
    reduces it:

    - ``pooling="gap"``: a_c = mean over all positions (dims ≥ 2) of channel c → C units.
      2-D outputs are kept as they are.
    - ``pooling="none"``: flatten → C·H·W units (C-major, as ``torch.flatten(A, 1)``).

    Then, if ``max_units`` is set and a layer has more than ``max_units`` units, its n × D
    matrix is replaced by X R with the Gaussian random projection R (D × max_units, entries
    N(0, 1/max_units), seeded by ``projection_seed``; :func:`random_projection`), applied to
    blocks of at most ``projection_buffer_mb`` of buffered rows so memory stays bounded. Layers
    with ≤ ``max_units`` units are left unprojected.

    Hooks (not ``create_feature_extractor``) are used with either backend, so both give the
    same numbers. Forward passes stop as soon as every requested layer has been recorded.

    Parameters
    ----------
    model : torch.nn.Module
        From :func:`~predictivity.studies.it.networks.build_cnn` (any image ``nn.Module``
        works).
    images : array (P × H × W × 3)
        uint8 RGB, or float in [0, 1].
    layers : sequence of str, optional
        Module names; ``None`` → ``DEFAULT_LAYERS[arch]``. A module that runs more than once per
        forward pass (e.g. ResNet's ``layer1.0.relu``) is ambiguous and is rejected.
    pooling : {"gap", "none"}
    max_units : int or None
    projection_seed : int
    batch_size : int
        Images per forward pass (≥ 1).
    threads : int
        torch intra-op threads (≥ 1).
    normalize : (mean, std) or None
        Per-channel RGB mean and s.d. in [0, 1] units.
    arch : str, optional
        Architecture name, only to look up default layers.
    projection_buffer_mb : float
        Buffered activations per projected layer before a projection step (memory bound).
    source : str
        Config key named in layer errors.
    input_size : int or None
        Side in pixels the images are resized to before normalisation (None = as they are).

    Returns
    -------
    dict layer name → float32 array (P × units), in the order of ``layers``; row p is image p.

    Raises
    ------
    InputError
        Bad images array, unknown ``pooling``, invalid/unknown/duplicated/re-used layer names,
        ``max_units`` < 1.
    """
    import torch

    if pooling not in POOLINGS:
        raise InputError(
            "pooling",
            f"unknown pooling {pooling!r}; use one of {', '.join(POOLINGS)}.",
            "set pooling to gap or none.",
        )
    if max_units is not None and int(max_units) < 1:
        raise InputError("max_units", f"must be ≥ 1 or null, got {max_units}.", "set e.g. 1024.")
    if input_size is not None and int(input_size) < 1:
        raise InputError("input_size", f"must be ≥ 1 or null, got {input_size}.", "set e.g. 224.")
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[0] < 1:
        raise InputError(
            "images",
            f"expected an array P × H × W × 3 (RGB), got shape {images.shape}.",
            "use make_images() or load_image_folder().",
        )
    layers = resolve_layers(model, layers, arch, source)
    max_units = None if max_units is None else int(max_units)
    batch_size, threads = max(1, int(batch_size)), max(1, int(threads))

    if normalize is not None:
        mean = torch.tensor(normalize[0], dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(normalize[1], dtype=torch.float32).view(1, 3, 1, 1)
    scale = 255.0 if images.dtype == np.uint8 else 1.0

    stores = {
        name: _LayerStore(max_units, projection_seed, projection_buffer_mb * 2**20)
        for name in layers
    }

    def reduce(name, output):
        if not isinstance(output, torch.Tensor):
            raise InputError(
                source,
                f"layer {name!r} returns {type(output).__name__}, not a tensor.",
                "choose a module whose output is a single tensor.",
            )
        a = output.detach()
        if pooling == "gap" and a.ndim > 2:
            a = a.mean(dim=tuple(range(2, a.ndim)))
        else:
            a = torch.flatten(a, 1) if a.ndim > 1 else a[:, None]
        return a.to(torch.float32).numpy().copy()

    with OutputCapture(model, layers, reduce) as capture, inference(model, threads):
        for start in range(0, images.shape[0], batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
            x = batch.permute(0, 3, 1, 2).to(torch.float32).div_(scale)
            if input_size is not None and tuple(x.shape[-2:]) != (int(input_size),) * 2:
                x = torch.nn.functional.interpolate(
                    x,
                    size=(int(input_size), int(input_size)),
                    mode="bicubic",
                    align_corners=False,
                    antialias=True,
                )
            if normalize is not None:
                x = (x - mean) / std
            current = capture.forward(x)
            if start == 0:
                reused = [n for n, c in capture.calls.items() if c > 1]
                if reused:
                    raise InputError(
                        source,
                        f"module(s) {', '.join(map(repr, reused))} run more than "
                        "once per forward pass, so their output is ambiguous.",
                        "record the enclosing block instead (e.g. 'layer1.0' rather than "
                        "'layer1.0.relu').",
                    )
                missing = [n for n in layers if n not in current]
                if missing:
                    raise InputError(
                        source,
                        f"layer(s) {', '.join(map(repr, missing))} never run in the forward pass.",
                        "choose modules that the forward pass uses.",
                    )
                # every layer ran once: later passes stop as soon as the last one has
                capture.stop_early = True
            for name in layers:
                stores[name].add(current[name])
    return {name: stores[name].result() for name in layers}
