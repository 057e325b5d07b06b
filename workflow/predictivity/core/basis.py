"""One Gram matrix and one set of eigendecompositions per layer, shared by every stage
(``docs/design.md#basis``).

Every per-layer stage works in the eigenbasis of the same few symmetric matrices:

- the spectra stage and the Procrustes measure: the centred Gram G = X_c X_cᵀ of all P stimuli
  (:func:`predictivity.core.gram.centred_gram`) and its eigendecomposition;
- the regression, the theory, the controls and the SVCCA measure: per outer fold k, the Gram of the
  training stimuli centred on the training fold, K_tr = C G[tr, tr] C (C = I − 11ᵀ/p), and its
  eigendecomposition (the regression's kernel form; the theory's population is the same matrix
  divided by p; the controls reshape its eigenvalues; SVCCA takes its top eigenvectors);
- for a layer no wider than a training fold (M ≤ p, the regression's covariance form), the
  regression and the controls also use, per fold, C_tr = X̃_trᵀX̃_tr (M × M) and its
  eigendecomposition.

:func:`layer_basis` computes each of these exactly once, in the arithmetic each stage used on its
own (the same centring of the Gram block, the same symmetrisation, the same LAPACK driver), so a
stage handed a :class:`LayerBasis` computes what it computed without one, and none forms a second
Gram of the layer or runs a second full ``eigh``. The pipeline's ``eigen`` rule writes the bases of
a model's layers to ``results/eigen/{study}/{model}.npz`` (:func:`predictivity.fileio.write_bases`)
and the per-layer stages read them.

Eigenvalues are stored as LAPACK returns them (ascending, not clipped); each consumer applies its
own convention (the regression clips at 0, the spectra and the theory sort descending and clip, see
:func:`predictivity.core.spectra.eigenspectrum`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from predictivity.core.gram import centred_gram, column_means, working_dtype
from predictivity.errors import InputError


@dataclass
class FoldEigen:
    """The eigendecomposition of one training fold's centred Gram K_tr = Q diag(s) Qᵀ (kernel),
    and, for a layer in covariance form, of C_tr = V diag(s_cov) Vᵀ."""

    tr: np.ndarray  # training indices, ascending
    te: np.ndarray  # test indices, ascending
    s: np.ndarray  # (p,) eigenvalues of K_tr, ascending, as eigh returns them
    Q: np.ndarray  # (p, p) eigenvectors of K_tr
    trace: float  # tr(K_tr), computed from K_tr as the regression scales its grid
    s_cov: np.ndarray | None = None  # (M,) eigenvalues of C_tr (covariance form only)
    V: np.ndarray | None = None  # (M, M) eigenvectors of C_tr (covariance form only)


@dataclass
class LayerBasis:
    """A layer's shared linear algebra (see the module docstring)."""

    n_units: int
    dtype: np.dtype  # precision the Gram blocks were formed in
    form: str  # the regression's form for this layer: "kernel" (M > p) or "covariance"
    G: np.ndarray  # (P, P) float64 centred Gram
    lam: np.ndarray  # (P,) eigenvalues of (G + Gᵀ)/(2P), ascending, as eigh returns them
    U: np.ndarray  # (P, P) their eigenvectors
    folds: list[FoldEigen] = field(default_factory=list)

    @property
    def n_stimuli(self) -> int:
        return self.G.shape[0]

    def fold(self, tr: np.ndarray, te: np.ndarray) -> FoldEigen:
        """The fold with these training and test indices; ValueError when the basis was computed
        for other folds (the caller's folds must be the regression's)."""
        te = np.sort(np.asarray(te))
        for f in self.folds:
            if f.te.shape == te.shape and np.array_equal(f.te, te):
                if not np.array_equal(f.tr, np.sort(np.asarray(tr))):
                    break
                return f
        raise ValueError(
            "the layer's eigen basis was computed for other folds than the ones asked for "
            "(regression.folds, regression.seed and the stimulus groups must be the same)"
        )


def fold_training_gram(G: np.ndarray, tr: np.ndarray) -> np.ndarray:
    """K_tr = C G[tr, tr] C (C = I − 11ᵀ/p), symmetrised — the regression's and the theory's
    arithmetic (:func:`predictivity.core.ridge._double_centre_block`,
    :func:`predictivity.core.theory.fold_population`)."""
    Gtt = G[np.ix_(tr, tr)]
    col = Gtt.mean(axis=0)
    grand = col.mean()
    Ktr = Gtt - col[None, :] - col[:, None] + grand
    return (Ktr + Ktr.T) / 2.0


def fold_cross_gram(G: np.ndarray, tr: np.ndarray, te: np.ndarray) -> np.ndarray:
    """K_te = X̃_te X̃_trᵀ (X̃ centred on the training fold) from G, as
    :func:`predictivity.core.ridge._double_centre_block` computes it."""
    Gtt = G[np.ix_(tr, tr)]
    col = Gtt.mean(axis=0)
    grand = col.mean()
    Gte = G[np.ix_(te, tr)]
    return Gte - Gte.mean(axis=1, keepdims=True) - col[None, :] + grand


def kernel_eigh(Ktr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """eigh of a training fold's K_tr, divide-and-conquer driver (the regression's)."""
    return scipy.linalg.eigh(Ktr, driver="evd", overwrite_a=True, check_finite=False)


def covariance_fold_eigh(
    Xc: np.ndarray, C_all: np.ndarray, tr: np.ndarray, te: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """eigh of C_tr = X̃_trᵀX̃_tr from C_all = X_cᵀX_c (X_c the globally centred float64
    activations), as :func:`predictivity.core.ridge.ridge_cv_fold` forms it."""
    p = len(tr)
    mu = Xc[tr].mean(axis=0)
    Xte_raw = Xc[te]
    Ctr = C_all - Xte_raw.T @ Xte_raw - p * np.outer(mu, mu)
    Ctr = (Ctr + Ctr.T) / 2.0
    return np.linalg.eigh(Ctr)


def regression_form(n_units: int, n_stimuli: int, folds: list[np.ndarray]) -> str:
    """Kernel form when the layer has more units than the largest training fold (the regression's
    rule), else covariance form."""
    p_max = max(n_stimuli - len(f) for f in folds)
    return "kernel" if n_units > p_max else "covariance"


def layer_basis(X: np.ndarray, folds: list[np.ndarray], dtype=None) -> LayerBasis:
    """Every shared matrix of one layer (module docstring): one pass over X for the Gram, one
    ``eigh`` of G, one per training fold of K_tr, and for covariance-form layers one per fold of
    C_tr. X: (P, M) activations (a memory map is fine); folds: test-index arrays."""
    X = np.asarray(X) if not isinstance(X, np.memmap) else X
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (stimuli × units), got shape {X.shape}")
    P, M = X.shape
    work = working_dtype(X, dtype)
    G = centred_gram(X, dtype=dtype)
    lam, U = scipy.linalg.eigh((G + G.T) / (2.0 * P))
    form = regression_form(M, P, folds)
    Xc = C_all = None
    if form == "covariance":
        Xc = np.asarray(X, dtype=np.float64) - column_means(X)
        C_all = Xc.T @ Xc
    all_idx = np.arange(P)
    out = []
    for te in folds:
        te = np.sort(np.asarray(te))
        tr = np.setdiff1d(all_idx, te)
        Ktr = fold_training_gram(G, tr)
        trace = float(np.trace(Ktr))
        s, Q = kernel_eigh(Ktr)
        f = FoldEigen(tr=tr, te=te, s=s, Q=Q, trace=trace)
        if form == "covariance":
            f.s_cov, f.V = covariance_fold_eigh(Xc, C_all, tr, te)
        out.append(f)
    return LayerBasis(n_units=M, dtype=np.dtype(work), form=form, G=G, lam=lam, U=U, folds=out)


def model_bases(layers: dict[str, np.ndarray], folds: list[np.ndarray]) -> dict[str, LayerBasis]:
    """:func:`layer_basis` of every layer of a model."""
    return {name: layer_basis(X, folds) for name, X in layers.items()}


def to_arrays(basis: LayerBasis, prefix: str) -> dict[str, np.ndarray]:
    """The basis as named arrays (keys ``{prefix}.G`` …), for an ``.npz`` file."""
    out = {
        f"{prefix}.meta": np.array(
            [basis.n_units, len(basis.folds), 1 if basis.form == "kernel" else 0], dtype=np.int64
        ),
        f"{prefix}.dtype": np.array(str(basis.dtype)),
        f"{prefix}.G": basis.G,
        f"{prefix}.lam": basis.lam,
        f"{prefix}.U": basis.U,
    }
    for k, f in enumerate(basis.folds):
        key = f"{prefix}.f{k}"
        out[f"{key}.tr"] = f.tr
        out[f"{key}.te"] = f.te
        out[f"{key}.s"] = f.s
        out[f"{key}.Q"] = f.Q
        out[f"{key}.trace"] = np.array(f.trace)
        if f.V is not None:
            out[f"{key}.s_cov"] = f.s_cov
            out[f"{key}.V"] = f.V
    return out


def from_arrays(arrays, prefix: str) -> LayerBasis:
    """Inverse of :func:`to_arrays` (``arrays``: a mapping such as an open ``NpzFile``)."""
    n_units, n_folds, kernel = (int(v) for v in arrays[f"{prefix}.meta"])
    folds = []
    for k in range(n_folds):
        key = f"{prefix}.f{k}"
        cov = f"{key}.V" in arrays
        folds.append(
            FoldEigen(
                tr=arrays[f"{key}.tr"],
                te=arrays[f"{key}.te"],
                s=arrays[f"{key}.s"],
                Q=arrays[f"{key}.Q"],
                trace=float(arrays[f"{key}.trace"]),
                s_cov=arrays[f"{key}.s_cov"] if cov else None,
                V=arrays[f"{key}.V"] if cov else None,
            )
        )
    return LayerBasis(
        n_units=n_units,
        dtype=np.dtype(str(arrays[f"{prefix}.dtype"])),
        form="kernel" if kernel else "covariance",
        G=arrays[f"{prefix}.G"],
        lam=arrays[f"{prefix}.lam"],
        U=arrays[f"{prefix}.U"],
        folds=folds,
    )


def bases_to_arrays(bases: dict[str, LayerBasis]) -> dict[str, np.ndarray]:
    """Every layer's basis as named arrays for one ``.npz`` (layer i under prefix ``L{i}``; the
    layer names in ``names``, in order)."""
    out = {"names": np.array(list(bases), dtype=str)}
    for i, b in enumerate(bases.values()):
        out.update(to_arrays(b, f"L{i}"))
    return out


class StoredBases:
    """Read access by layer name to the bases of :func:`bases_to_arrays` in an open ``.npz``
    (``np.load(path)``): ``get(name)`` builds one layer's :class:`LayerBasis` on demand, so a
    stage holds one layer's matrices at a time.

    With ``folds`` (the stage's outer folds, test-index arrays) every basis handed out is first
    checked to hold exactly those folds: a file computed for other folds or another stimulus set
    (only possible if results were edited or mixed by hand, since the eigen rule's params carry
    the folds) is one :class:`~predictivity.errors.InputError` naming ``path``."""

    def __init__(self, arrays, path: str | None = None, folds: list[np.ndarray] | None = None):
        self._arrays = arrays
        self._index = {str(n): i for i, n in enumerate(arrays["names"])}
        self._path = path
        self._folds = folds

    def __contains__(self, name) -> bool:
        return name in self._index

    def __len__(self) -> int:
        return len(self._index)

    def names(self) -> list[str]:
        return list(self._index)

    def get(self, name: str, default=None):
        if name not in self._index:
            return default
        basis = from_arrays(self._arrays, f"L{self._index[name]}")
        if self._folds is not None:
            P = basis.n_stimuli
            try:
                if any(np.max(te) >= P for te in self._folds if len(te)):
                    raise ValueError(f"the basis is of {P} stimuli")
                for te in self._folds:
                    basis.fold(np.setdiff1d(np.arange(P), te), te)
            except ValueError as e:
                raise InputError(
                    self._path or "the eigen basis file",
                    f"layer {name!r}: {e}; it does not match this stage's folds and stimuli.",
                    "Delete it and rerun: the eigen stage writes it for the configured folds.",
                ) from e
        return basis
