"""The controls of one layer, scored with the regression's own solver (``docs/controls.md``).

Everything runs on the outer folds of the regression (``docs/design.md#regression``): same
folds, alpha grid, grid scaling and per-target alpha selection (exact LOO, or exact
leave-one-group-out with stimulus groups), same scores. Per training fold the regression
decomposes the fold-centred activations once (:func:`fold_basis`, the arithmetic of
:func:`predictivity.core.ridge.ridge_cv_fold`):

* kernel form (M > p): K_tr = X̃_tr X̃_trᵀ = Q diag(s) Qᵀ, Z = QᵀỸ_tr, test basis K_te Q;
* covariance form (M ≤ p): C_tr = X̃_trᵀX̃_tr = V diag(s) Vᵀ, A = X̃_tr V, Z = AᵀỸ_tr, test
  basis X̃_te V.

The thin SVD of the training activations is read off that decomposition: X̃_tr = U S Vᵀ with
S² = the kept eigenvalues s (U = the kept columns of Q; or A S⁻¹).

**Spectral reshaping** (:func:`reshape`). A = V S^(γ−1) Vᵀ on the training row space, applied to
train and test, X' = (X − μ_tr)A, keeps every bit of information (A is invertible there) and
changes the spectrum only: X̃'_tr = U S^γ Vᵀ. In the same eigenbasis

    K'_tr = Q diag(s^γ) Qᵀ,   K'_te Q = (K_te Q) diag(s^(γ−1))                    (kernel)
    C'_tr = V diag(s^γ) Vᵀ,   A' = A diag(s^((γ−1)/2)),   X̃'_te V = (X̃_te V) diag(s^((γ−1)/2))

(Z scales like A' in covariance form), so every γ is a rescaling of the fold's eigenvalues and
of the columns of the test basis: one decomposition per fold serves all γ, and each further γ
costs one alpha selection and one prediction. Directions whose eigenvalue is at or below the
tolerance (:func:`predictivity.core.controls.profiles.kept_rank`) are dropped (A is restricted to
the kept span; for γ < 1 it would otherwise blow rounding noise up). γ = 1 is the layer itself,
with nothing dropped: it is the regression, bit for bit. With ``alpha_scaling: trace`` each γ's
grid is scaled by tr(K'_tr)/p = Σ s^γ / p. γ = 0 on a fold of full rank (p − 1 kept directions)
gives a flat spectrum for which every alpha has the same LOO error; the lowest is taken
(:func:`flat_cv`).

**Random-eigenvector null** (:func:`null_basis`). The layer's training kernel with its
eigenvectors replaced by a Haar-random orthonormal basis of the fold's centred stimulus space:
K⁰_tr = Q⁰ diag(s) Q⁰ᵀ (the constant vector stays a null mode). Equivalently the training
stimuli's activations are rotated by H = Q⁰Qᵀ, a Haar-random rotation of the centred training
space (a continuous permutation test), while the test stimuli keep theirs; then
K⁰_te Q⁰ = K_te Q: the test basis is unchanged and only Z⁰ = Q⁰ᵀỸ_tr and the LOO rows are new.
The eigenvalues are the layer's, exactly.

**PR inflation** (:func:`layer_controls`). ``noise_units`` i.i.d. N(0, 1) units, centred over the
P stimuli and scaled so that their total variance equals the layer's (tr of the centred Gram),
appended to the layer: G_inf = G + c²ẼẼᵀ, scored again (a new decomposition per fold).

Random draws (numpy ``default_rng``, keyed so that no draw depends on the loop order, on
``n_null`` or on another layer): null draw d of fold k of layer i: ``default_rng([seed, 1, i, d,
k])``; the noise units of layer i: ``default_rng([seed, 2, i]).standard_normal((P, noise_units))``.

Reported per setting (as the regression's layer summary, ``docs/design.md#regression``): ``r2``
and ``pearson_r`` = median over targets of the mean over folds, ``r2_mean``, ``r2_pooled`` =
1 − ΣSSE/ΣSST, ``alpha_median``; ``pr`` = the mean over folds of the participation ratio
(Σs)²/Σs² of the fold's (transformed) training activations, so for γ it is
(Σσ^(2γ))²/Σσ^(4γ) over the kept singular values σ; ``theory_r2`` (layer and reshaping rows):
the theory on the (reshaped) fold spectrum with the layer's own target weights, whose
eigenvectors reshaping does not change (:mod:`predictivity.core.controls.profiles`).
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.linalg

from predictivity.core.basis import (
    LayerBasis,
    covariance_fold_eigh,
    fold_cross_gram,
    kernel_eigh,
)
from predictivity.core.controls.profiles import (
    PROFILE_COLUMNS,
    fold_profile,
    kept_rank,
    profile_theory_r2,
)
from predictivity.core.gram import centred_gram, column_means, working_dtype
from predictivity.core.ridge import (
    ALPHA_CVS,
    LOO_SEARCHES,
    FoldResult,
    _covariance_group_select,
    _covariance_loo_select,
    _double_centre_block,
    _group_rows,
    _kernel_group_select,
    _kernel_loo_select,
    _predict,
    _scores,
    default_alphas,
    kernel_loo_prep,
    training_size,
)
from predictivity.core.spectra import binary_normalised
from predictivity.core.theory import reference_size

log = logging.getLogger(__name__)

__all__ = [
    "LayerData",
    "FoldBasis",
    "prepare_layer",
    "inflate_layer",
    "fold_basis",
    "reshape",
    "SpectrumRangeError",
    "null_basis",
    "solve_fold",
    "solve_reshaped",
    "flat_cv",
    "participation_ratio_of",
    "check_gammas",
    "layer_controls",
    "model_controls",
    "CONTROL_COLUMNS",
]

#: Columns of ``results/controls/{study}/{model}.parquet``.
CONTROL_COLUMNS = [
    "layer",
    "layer_index",
    "control",
    "gamma",
    "draw",
    "n_units",
    "pr",
    "log_pr",
    "r2",
    "r2_mean",
    "pearson_r",
    "r2_pooled",
    "alpha_median",
    "theory_r2",
    "n_dropped",
    "flat_cv",
]


@dataclass
class LayerData:
    """A layer prepared for the regression, as :func:`predictivity.core.ridge.cross_validated_ridge`
    prepares it: the centred Gram G (kernel form) or the globally centred float64 activations Xc
    and Xcᵀ Xc (covariance form)."""

    form: str
    n_units: int
    dtype: np.dtype  # precision the Gram was formed in (sets the rank tolerance)
    G: np.ndarray | None = None
    Xc: np.ndarray | None = None
    C_all: np.ndarray | None = None
    basis: LayerBasis | None = None  # the layer's shared eigen basis (fold eighs reused)

    def total_variance(self) -> float:
        """tr of the centred Gram: Σ over units of Σ over stimuli of the centred squares."""
        if self.G is not None:
            return float(np.trace(self.G))
        return float(np.einsum("ij,ij->", self.Xc, self.Xc))


@dataclass
class FoldBasis:
    """One training fold in the regression's eigenbasis (see the module docstring)."""

    form: str  # "kernel" or "covariance"
    tr: np.ndarray
    te: np.ndarray
    s: np.ndarray  # eigenvalues ≥ 0 (eigh order): of K_tr (p) or C_tr (M)
    basis: np.ndarray  # Q (p × p) or A = X̃_tr V (p × M)
    Z: np.ndarray  # basisᵀ Ỹ_tr
    pb: np.ndarray  # test basis: K_te Q (q × p) or X̃_te V (q × M)
    trace: float  # tr(K_tr) as the regression computes it (grid scaling)
    ybar: np.ndarray
    Yc_tr: np.ndarray
    y_te: np.ndarray
    rows: list | None  # stimulus groups of the training fold (leave-one-group-out) or None
    order: np.ndarray  # indices of s, descending
    rank: int  # kept directions (kept_rank)


def prepare_layer(
    X: np.ndarray,
    folds: list[np.ndarray],
    form: str | None = None,
    basis: LayerBasis | None = None,
) -> LayerData:
    """The regression's per-layer preparation (kernel form when M exceeds the largest training
    fold, as :func:`predictivity.core.ridge.cross_validated_ridge` chooses). With the layer's
    shared ``basis`` (:mod:`predictivity.core.basis`) its G and fold eigendecompositions are
    reused instead of computed."""
    X = np.asarray(X) if not isinstance(X, np.memmap) else X
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (stimuli × units), got shape {X.shape}")
    P, M = X.shape
    p_max = max(P - len(f) for f in folds)
    if form is None:
        form = "kernel" if M > p_max else "covariance"
    dtype = working_dtype(X)
    if basis is not None and basis.form != form:
        basis = None  # a forced form the basis was not computed for
    if form == "kernel":
        G = centred_gram(X) if basis is None else basis.G
        return LayerData("kernel", M, dtype, G=G, basis=basis)
    if form == "covariance":
        Xc = np.asarray(X, dtype=np.float64) - column_means(X)
        C_all = Xc.T @ Xc if basis is None else None  # the basis holds the fold eighs
        return LayerData("covariance", M, dtype, Xc=Xc, C_all=C_all, basis=basis)
    raise ValueError(f"unknown form {form!r}")


def inflate_layer(
    data: LayerData, folds: list[np.ndarray], noise_units: int, rng: np.random.Generator
) -> LayerData:
    """The layer with ``noise_units`` i.i.d. Gaussian units appended, centred over the stimuli and
    scaled so that their total variance equals the layer's (c² = tr G / ‖Ẽ‖²_F)."""
    P = data.G.shape[0] if data.G is not None else data.Xc.shape[0]
    E = rng.standard_normal((P, int(noise_units)))
    E -= E.mean(axis=0)
    norm2 = float(np.einsum("ij,ij->", E, E))
    total = data.total_variance()
    c = np.sqrt(total / norm2) if norm2 > 0 else 0.0
    E *= c
    M = data.n_units + int(noise_units)
    p_max = max(P - len(f) for f in folds)
    if M > p_max:
        G = data.G if data.G is not None else data.Xc @ data.Xc.T
        return LayerData("kernel", M, data.dtype, G=G + E @ E.T)
    Xc = np.hstack([data.Xc, E]) if data.Xc is not None else None
    if Xc is None:  # a kernel-form layer inflated into covariance form cannot happen (M grows)
        raise ValueError("cannot inflate a kernel-form layer into covariance form")
    return LayerData("covariance", M, data.dtype, Xc=Xc, C_all=Xc.T @ Xc)


def _fold_rows(groups, tr, alpha_cv):
    """The training fold's stimulus groups for leave-one-group-out (None → plain LOO), exactly as
    :func:`predictivity.core.ridge.ridge_cv_fold` decides."""
    if groups is None or alpha_cv != "groups":
        return None
    rows = _group_rows(np.asarray(groups)[tr])
    if len(rows) < 2:
        log.warning(
            "the training fold holds a single stimulus group: alpha chosen by plain "
            "leave-one-out instead of leave-one-group-out"
        )
        return None
    if max(len(g) for g in rows) == 1:
        return None
    return rows


def fold_basis(
    data: LayerData,
    Y: np.ndarray,
    tr: np.ndarray,
    te: np.ndarray,
    groups: np.ndarray | None = None,
    alpha_cv: str = "groups",
) -> FoldBasis:
    """Decompose one training fold (the arithmetic of
    :func:`predictivity.core.ridge.ridge_cv_fold`, so γ = 1 reproduces it exactly)."""
    p = len(tr)
    rows = _fold_rows(groups, tr, alpha_cv)
    Ytr = Y[tr]
    ybar = Ytr.mean(axis=0)
    Yc_tr = Ytr - ybar
    eig = None if data.basis is None else data.basis.fold(tr, te)
    if data.form == "kernel":
        if eig is None:
            Ktr, Kte = _double_centre_block(data.G, tr, te)
            trace = float(np.trace(Ktr))
            s, Q = kernel_eigh(Ktr)
        else:
            Kte = fold_cross_gram(data.G, tr, te)
            trace, s, Q = eig.trace, eig.s, eig.Q
        s = np.maximum(s, 0.0)
        Z = Q.T @ Yc_tr
        pb = Kte @ Q
        basis = Q
    else:
        X = data.Xc
        Xtr = np.asarray(X[tr], dtype=np.float64)
        mu = Xtr.mean(axis=0)
        Xtr_c = Xtr - mu
        if eig is not None and eig.V is not None:
            s, V = eig.s_cov, eig.V
        else:
            s, V = covariance_fold_eigh(X, data.C_all, tr, te)
        s = np.maximum(s, 0.0)
        trace = float(s.sum())
        basis = Xtr_c @ V
        Z = basis.T @ Yc_tr
        pb = (np.asarray(X[te], dtype=np.float64) - mu) @ V
    order = np.argsort(-s, kind="stable")
    return FoldBasis(
        form=data.form,
        tr=tr,
        te=te,
        s=s,
        basis=basis,
        Z=Z,
        pb=pb,
        trace=trace,
        ybar=ybar,
        Yc_tr=Yc_tr,
        y_te=Y[te],
        rows=rows,
        order=order,
        rank=kept_rank(s, p, data.dtype),
    )


def _kept(b: FoldBasis) -> np.ndarray:
    keep = np.zeros(b.s.shape, dtype=bool)
    keep[b.order[: b.rank]] = True
    return keep


class SpectrumRangeError(ValueError):
    """A reshaped spectrum outside float64's normal range (:func:`reshape`): ``problem`` and
    ``fix`` as :class:`~predictivity.errors.InputError` words them; :func:`model_controls` fills
    ``layer``, and the controls script names the activations file."""

    def __init__(self, problem: str, fix: str, layer: str | None = None):
        self.problem, self.fix, self.layer = problem, fix, layer
        super().__init__(f"{problem} Fix: {fix}" if layer is None else f"layer {layer}: {problem}")


#: The fix of every SpectrumRangeError.
_RESCALE_FIX = (
    "rescale the layer's activations by a constant that brings them nearer 1 (with "
    "regression.alpha_scaling: trace no score of the regression or of the controls changes "
    "under such a rescaling), or drop this gamma from controls.gammas."
)


def _check_reshaped(gamma: float, sk: np.ndarray, *factors: np.ndarray) -> None:
    """SpectrumRangeError unless the ``factors`` computed from the kept eigenvalues ``sk`` (s^γ,
    s^(γ−1), and s^((γ−1)/2) in covariance form) are finite and normal. Beyond float64's range
    the reshaped layer overflows to inf or loses precision in subnormals, and its scores are
    silently wrong (measured on a 60 × 40 layer, γ = 2: at X·1e80 R² −0.1068 against −0.1135 at
    X·1; at X·1e150 NaN)."""
    tiny = np.finfo(np.float64).tiny
    ok = all(np.all(np.isfinite(v)) and np.all(np.abs(v) >= tiny) for v in factors)
    if ok:
        return
    lo, hi = np.log10(sk.min()), np.log10(sk.max())
    raise SpectrumRangeError(
        f"reshaping with gamma = {gamma:g} raises its kept eigenvalues "
        f"(1e{lo:.0f} … 1e{hi:.0f} on a training fold) to 1e{min(gamma * lo, gamma * hi):.0f} … "
        f"1e{max(gamma * lo, gamma * hi):.0f}, outside float64's normal range (1e-308 … 1e308), "
        "where the reshaped layer cannot be scored.",
        _RESCALE_FIX,
    )


def reshape(b: FoldBasis, gamma: float) -> FoldBasis:
    """The fold of the reshaped layer X' = (X − μ_tr) V S^(γ−1) Vᵀ, in the same eigenbasis.
    γ = 1 returns ``b`` itself (the layer, nothing dropped). :class:`SpectrumRangeError` when
    s^γ or the basis factor leaves float64's normal range (activations in extreme units)."""
    gamma = float(gamma)
    if gamma == 1.0:
        return b
    keep = _kept(b)
    sk = b.s[keep]
    s_new = np.zeros_like(b.s)
    with np.errstate(over="ignore", under="ignore"):
        s_new[keep] = sk**gamma
        f_kept = sk ** (gamma - 1.0)  # the test basis's factor (solve_reshaped's too)
        fk = f_kept if b.form == "kernel" else sk ** ((gamma - 1.0) / 2.0)
    _check_reshaped(gamma, sk, s_new[keep], f_kept, fk)
    if b.form == "kernel":
        f = np.zeros_like(b.s)
        f[keep] = fk
        return replace(b, s=s_new, pb=b.pb * f, trace=float(s_new.sum()))
    h = np.zeros_like(b.s)
    h[keep] = fk
    return replace(
        b,
        s=s_new,
        basis=b.basis * h,
        Z=b.Z * h[:, None],
        pb=b.pb * h,
        trace=float(s_new.sum()),
    )


def _haar_frame(rng: np.random.Generator, p: int, m: int) -> np.ndarray:
    """A Haar-random p × m orthonormal frame orthogonal to the constant vector (m ≤ p − 1):
    QR of a Gaussian matrix centred over its rows, signs fixed by diag(R) (Mezzadri 2007)."""
    Gm = rng.standard_normal((p, m))
    Gm -= Gm.mean(axis=0)
    F, R = scipy.linalg.qr(Gm, mode="economic", overwrite_a=True, check_finite=False)
    d = np.sign(np.diag(R))
    d[d == 0] = 1.0
    F *= d
    return F


def null_basis(b: FoldBasis, rng: np.random.Generator) -> FoldBasis:
    """The fold of a kernel with the layer's eigenvalues and Haar-random eigenvectors in the
    fold's centred stimulus space (see the module docstring). The test basis is unchanged."""
    p = len(b.tr)
    if b.form == "kernel":
        Q0 = np.empty_like(b.basis)
        Q0[:, b.order[: p - 1]] = _haar_frame(rng, p, p - 1)
        Q0[:, b.order[p - 1]] = 1.0 / np.sqrt(p)
        return replace(b, basis=Q0, Z=Q0.T @ b.Yc_tr)
    M = b.s.size
    m = min(M, p - 1)
    A0 = np.zeros_like(b.basis)
    cols = b.order[:m]
    A0[:, cols] = _haar_frame(rng, p, m) * np.sqrt(b.s[cols])
    return replace(b, basis=A0, Z=A0.T @ b.Yc_tr)


def flat_cv(s: np.ndarray, p: int) -> bool:
    """True when the fold's (reshaped) spectrum is flat on the whole centred training space:
    p − 1 non-zero eigenvalues, all equal (γ = 0 on a layer of full rank). Then
    H(α) = 11ᵀ/p + (I − 11ᵀ/p)/(1 + α), the training residuals are α/(1+α)·ỹ and
    I − H_gg = α/(1+α)·(I − 11ᵀ/p)_gg for any held-out set g, so the leave-one-out and
    leave-one-group-out errors are the same for every α: in exact arithmetic every alpha ties and
    the lowest grid value is chosen (the tie rule of scikit-learn and of the regression), instead
    of an argmin decided by rounding."""
    nz = s[s > 0]
    return nz.size == p - 1 and nz.size > 0 and float(nz.max()) == float(nz.min())


def flat_cv_error(Yc_tr: np.ndarray, rows: list[np.ndarray] | None = None) -> np.ndarray:
    """The inner-CV error of every target on a flat fold (:func:`flat_cv`), the same at every α.

    There I − H = α/(1+α)·(I − 11ᵀ/p) and the training residuals are α/(1+α)·ỹ, so the held-out
    residuals of a set g are e_g = (I − 11ᵀ/p)_gg⁻¹ ỹ_g = ỹ_g + 1·S_g/(p − n_g) (Sherman–Morrison;
    S_g = Σ_{i∈g} ỹ_i, n_g = |g|), and err = Σ_g ‖e_g‖² = Σ_g ‖ỹ_g‖² + S_g²(2 + n_g/(p − n_g))/(p − n_g).
    Plain LOO (``rows`` None: every g a single stimulus) gives err = ‖ỹ‖²·p²/(p − 1)².
    No eigenbasis and no GEMM: the error the searches would compute at the lowest alpha."""
    p = Yc_tr.shape[0]
    if rows is None:
        return np.einsum("ij,ij->j", Yc_tr, Yc_tr) * (p / (p - 1.0)) ** 2
    err = np.zeros(Yc_tr.shape[1])
    for g in rows:
        yg = Yc_tr[g]
        n = len(g)
        S = yg.sum(axis=0)
        err += np.einsum("ij,ij->j", yg, yg) + S * S * (2.0 + n / (p - n)) / (p - n)
    return err


def _select(
    b: FoldBasis, alphas: np.ndarray, alpha_scaling: str, loo_search: str, prep=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(absolute grid, per-target alpha index, inner-CV error at it) on the training fold
    (``prep``: :func:`~predictivity.core.ridge.kernel_loo_prep` of the fold's Q and Z, shared by
    every γ of a kernel-form fold)."""
    p = len(b.tr)
    scale = b.trace / p if alpha_scaling == "trace" else 1.0
    with np.errstate(over="ignore", under="ignore"):
        alphas_abs = np.asarray(alphas, dtype=np.float64) * scale
    if not np.all(np.isfinite(alphas_abs)):
        raise SpectrumRangeError(
            f"the alpha grid scaled by this training fold's trace ({b.trace:.3g} over {p} "
            f"stimuli) overflows float64 ({alphas_abs.min():.3g} … {alphas_abs.max():.3g}).",
            _RESCALE_FIX,
        )
    if flat_cv(b.s, p):  # every alpha ties: the lowest, as sklearn, with its closed-form error
        return alphas_abs, np.zeros(b.Z.shape[1], dtype=int), flat_cv_error(b.Yc_tr, b.rows)
    grid = alphas_abs
    if b.form == "kernel":
        if b.rows is None:
            idx, cv_err = _kernel_loo_select(
                b.s, b.basis, b.Z, grid, p, search=loo_search, Yc=b.Yc_tr, prep=prep
            )
        else:
            idx, cv_err = _kernel_group_select(b.s, b.basis, b.Z, grid, p, b.rows)
    elif b.rows is None:
        idx, cv_err = _covariance_loo_select(b.s, b.basis, b.Z, b.Yc_tr, grid, p)
    else:
        idx, cv_err = _covariance_group_select(b.s, b.basis, b.Z, b.Yc_tr, grid, p, b.rows)
    return alphas_abs, idx, cv_err


def _fold_result(b, alphas_abs, idx, cv_err, pred) -> FoldResult:
    pred += b.ybar
    r2, r, sse, sst = _scores(b.y_te, pred)
    return FoldResult(
        alpha=alphas_abs[idx],
        alpha_index=idx,
        r2=r2,
        pearson_r=r,
        sse=sse,
        sst=sst,
        grouped=b.rows is not None,
        cv_sse=cv_err,
        cv_sst=np.einsum("ij,ij->j", b.Yc_tr, b.Yc_tr),
    )


def solve_fold(
    b: FoldBasis, alphas: np.ndarray, alpha_scaling: str = "none", loo_search: str = "bounded"
) -> FoldResult:
    """Per-target alpha on the training fold, predictions and scores on the test fold — the
    selection and scoring of :func:`predictivity.core.ridge.ridge_cv_fold` on a fold basis."""
    alphas_abs, idx, cv_err = _select(b, alphas, alpha_scaling, loo_search)
    pred = _predict(b.s, b.Z, alphas_abs, idx, b.pb)
    return _fold_result(b, alphas_abs, idx, cv_err, pred)


def solve_reshaped(
    b: FoldBasis,
    gammas,
    alphas: np.ndarray,
    alpha_scaling: str = "none",
    loo_search: str = "bounded",
    max_bytes: int = 256 << 20,
) -> list[tuple[FoldBasis, FoldResult]]:
    """:func:`solve_fold` of :func:`reshape` (b, γ) for every γ ≠ 1 of ``gammas``, with the
    test predictions of all γ stacked into one GEMM: in both forms the reshaped test basis is
    the fold's times f = s^(γ−1) on the kept directions (kernel: K_te Q diag(f); covariance:
    X̃_te V diag(h) with Z scaled by h, h² = f), so Ŷ_te(γ) = pb · (f ∘ Z / (s^γ + α_n)) with the
    fold's own pb and Z, and the γ's coefficient blocks share one q × p × (n_γ·N) product (in
    pieces of at most ``max_bytes``) instead of one thin product per γ and chosen alpha. Equal
    to :func:`solve_fold` up to rounding (tested). Returns [(reshaped fold, result)] in the order
    of ``gammas``."""
    keep = _kept(b)
    sk = b.s[keep]
    # kernel form: every γ searches the fold's own Q and Z (only s changes)
    shared = b.form == "kernel" and b.rows is None and loo_search == "bounded"
    prep = kernel_loo_prep(b.basis, b.Z, b.Yc_tr) if shared else None
    out, coef = [], []
    for gamma in gammas:
        gamma = float(gamma)
        if gamma == 1.0:
            continue
        bg = reshape(b, gamma)
        alphas_abs, idx, cv_err = _select(bg, alphas, alpha_scaling, loo_search, prep)
        f = np.zeros_like(b.s)
        f[keep] = sk ** (gamma - 1.0)
        C = b.Z * f[:, None]
        C /= bg.s[:, None] + alphas_abs[idx][None, :]
        out.append((bg, alphas_abs, idx, cv_err))
        coef.append(C)
    N = b.Z.shape[1]
    per = max(1, int(max_bytes // (8 * b.Z.shape[0] * max(N, 1))))  # γ blocks per product
    preds = []
    for c0 in range(0, len(coef), per):
        block = coef[c0 : c0 + per]
        prod = b.pb @ (np.hstack(block) if len(block) > 1 else block[0])
        preds.extend(np.ascontiguousarray(prod[:, i * N : (i + 1) * N]) for i in range(len(block)))
    return [
        (bg, _fold_result(bg, alphas_abs, idx, cv_err, pred))
        for (bg, alphas_abs, idx, cv_err), pred in zip(out, preds)
    ]


def participation_ratio_of(s: np.ndarray) -> float:
    """(Σs)²/Σs² of eigenvalues s ≥ 0 (NaN when all are 0), summed on
    :func:`~predictivity.core.spectra.binary_normalised` s (exact; Σs² cannot overflow)."""
    s = binary_normalised(np.asarray(s, dtype=np.float64))
    if s is None:
        return float("nan")
    den = float(np.sum(s * s))
    return float(np.sum(s) ** 2 / den) if den > 0 else float("nan")


def _weights2(b: FoldBasis) -> tuple[np.ndarray, np.ndarray, float]:
    """(kept eigenvalues of G_k, descending; Σ_n w_in² of those modes; total target variance),
    with w_in = u_iᵀỸ_k[:, n]/√p and the total Σ_n ‖Ỹ_k[:, n]‖²/p."""
    p = len(b.tr)
    cols = b.order[: b.rank]
    lam = b.s[cols]
    z2 = np.einsum("kn,kn->k", b.Z[cols], b.Z[cols])
    w2 = z2 / p if b.form == "kernel" else z2 / (lam * p)  # covariance: U = A S⁻¹
    total = float(np.einsum("in,in->", b.Yc_tr, b.Yc_tr)) / p
    return lam, w2, total


class _Scores:
    """Per-fold, per-target results of one setting, summarised like the regression's layer row."""

    def __init__(self, n_folds: int, n_targets: int):
        self.r2 = np.full((n_folds, n_targets), np.nan)
        self.r = np.full((n_folds, n_targets), np.nan)
        self.alpha = np.full((n_folds, n_targets), np.nan)
        self.sse = np.zeros(n_targets)
        self.sst = np.zeros(n_targets)
        self.pr = np.full(n_folds, np.nan)
        self.flat = False

    def add(self, k: int, res: FoldResult, s: np.ndarray, p: int) -> None:
        self.r2[k], self.r[k], self.alpha[k] = res.r2, res.pearson_r, res.alpha
        self.sse += res.sse
        self.sst += res.sst
        self.pr[k] = participation_ratio_of(s)
        self.flat = self.flat or flat_cv(s, p)

    def summary(self) -> dict:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r2_t = np.nanmean(self.r2, axis=0)
            r_t = np.nanmean(self.r, axis=0)
            sst = self.sst.sum()
            return {
                "pr": float(np.mean(self.pr)),
                "r2": float(np.nanmedian(r2_t)),
                "r2_mean": float(np.nanmean(r2_t)),
                "pearson_r": float(np.nanmedian(r_t)),
                "r2_pooled": float(1.0 - self.sse.sum() / sst) if sst > 0 else float("nan"),
                "alpha_median": float(np.median(np.median(self.alpha, axis=0))),
                "flat_cv": bool(self.flat),
            }


def check_gammas(gammas) -> np.ndarray:
    """The γ grid as a float array; ValueError when empty or not finite."""
    g = np.asarray(list(gammas), dtype=np.float64).ravel()
    if g.size == 0 or not np.all(np.isfinite(g)):
        raise ValueError(f"gammas must be a non-empty list of finite numbers, got {list(gammas)}")
    return g


def layer_controls(
    X: np.ndarray,
    Y: np.ndarray,
    folds: list[np.ndarray],
    *,
    alphas: np.ndarray | None = None,
    alpha_scaling: str = "none",
    groups: np.ndarray | None = None,
    alpha_cv: str = "groups",
    gammas=(0.0, 0.25, 0.5, 1.0, 1.5, 2.0),
    n_null: int = 20,
    noise_units: int = 4000,
    seed: int = 0,
    layer_index: int = 0,
    loo_search: str = "bounded",
    basis: LayerBasis | None = None,
    layer_folds: list[FoldResult] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every control of one layer (``docs/controls.md``).

    Parameters
    ----------
    X : (P, M) activations; Y : (P, N) responses (constant targets removed).
    folds, alphas, alpha_scaling, groups, alpha_cv, loo_search : as the regression's
        (:func:`predictivity.core.ridge.cross_validated_ridge`).
    gammas : reshaping exponents (finite).
    n_null : random-eigenvector draws (0: none). noise_units : PR-inflation units (0: none).
    seed, layer_index : key the random draws (module docstring).
    basis : the layer's shared eigen basis for these folds (:mod:`predictivity.core.basis`); its
        G and fold eigendecompositions are reused (the inflated layer is a new matrix and gets
        its own).
    layer_folds : the regression's results for this layer on these folds, one
        :class:`~predictivity.core.ridge.FoldResult` per fold (the regression stage's
        ``.folds.parquet`` read back by :func:`predictivity.core.ridge.fold_results`). The
        layer's own row and γ = 1 are then those results, not a second run of the same search
        (which would give the same numbers: tested); without it they are computed here.

    Returns
    -------
    (rows, profile): ``rows`` has :data:`CONTROL_COLUMNS` (``layer`` empty, filled by
    :func:`model_controls`), one row ``control="layer"`` (the layer's own regression), one per γ
    (``reshape``), one per null draw (``null``, ``draw`` = 0 …) and one ``inflated``;
    ``profile`` the layer's normalised spectrum and alignment profile per fold
    (:data:`predictivity.core.controls.profiles.PROFILE_COLUMNS`).
    """
    gam = check_gammas(gammas)
    if int(n_null) < 0 or int(noise_units) < 0:
        raise ValueError("n_null and noise_units must be ≥ 0")
    if loo_search not in LOO_SEARCHES:
        raise ValueError(f"unknown loo_search {loo_search!r}; use one of {LOO_SEARCHES}")
    if alpha_cv not in ALPHA_CVS:
        raise ValueError(f"unknown alpha_cv {alpha_cv!r}; use one of {ALPHA_CVS}")
    alphas = default_alphas() if alphas is None else np.asarray(alphas, dtype=np.float64)
    if np.any(~np.isfinite(alphas)) or np.any(alphas <= 0):
        raise ValueError("alphas must be finite and positive")
    Y = np.asarray(Y, dtype=np.float64)
    P, N = Y.shape
    if groups is not None:
        groups = np.asarray(groups)
    K = len(folds)
    all_idx = np.arange(P)
    if layer_folds is not None and (
        len(layer_folds) != K or any(np.shape(r.r2) != (N,) for r in layer_folds)
    ):
        raise ValueError(
            f"layer_folds must hold one result of {N} targets per fold ({K} folds), got "
            f"{[np.shape(r.r2) for r in layer_folds]}"
        )
    data = prepare_layer(X, folds, basis=basis)
    layer = _Scores(K, N)
    reshaped = {g: _Scores(K, N) for g in gam if g != 1.0}
    null = [_Scores(K, N) for _ in range(int(n_null))]
    spectra = []  # per fold: (kept eigenvalues, kept Σw², total, p)
    n_dropped = 0
    for k, te in enumerate(folds):
        tr = np.setdiff1d(all_idx, te)
        te = np.sort(te)
        b = fold_basis(data, Y, tr, te, groups, alpha_cv)
        n_dropped = max(n_dropped, min(len(tr) - 1, data.n_units) - b.rank)
        own = solve_fold(b, alphas, alpha_scaling, loo_search) if layer_folds is None else None
        layer.add(k, own if own is not None else layer_folds[k], b.s, len(tr))
        spectra.append((*_weights2(b), len(tr)))
        for g, (bg, res) in zip(
            reshaped, solve_reshaped(b, list(reshaped), alphas, alpha_scaling, loo_search)
        ):
            reshaped[g].add(k, res, bg.s, len(tr))
        for d, acc in enumerate(null):
            rng = np.random.default_rng([int(seed), 1, int(layer_index), d, k])
            res = solve_fold(null_basis(b, rng), alphas, alpha_scaling, loo_search)
            acc.add(k, res, b.s, len(tr))
        del b
    inflated = None
    if int(noise_units) > 0:
        rng = np.random.default_rng([int(seed), 2, int(layer_index)])
        data_inf = inflate_layer(data, folds, int(noise_units), rng)
        del data
        inflated = _Scores(K, N)
        for k, te in enumerate(folds):
            tr = np.setdiff1d(all_idx, te)
            b = fold_basis(data_inf, Y, tr, np.sort(te), groups, alpha_cv)
            inflated.add(k, solve_fold(b, alphas, alpha_scaling, loo_search), b.s, len(tr))
            del b
        del data_inf

    p_train = training_size(P, K)
    n_pop = min(sp[3] for sp in spectra)
    p_ref = reference_size(n_pop, K)

    def theory_folds(gamma: float, alpha_median: float):
        out = []
        for lam, w2, total, p in spectra:
            lam_g = lam**gamma if gamma != 1.0 else lam
            rho = (alpha_median / p_train) / (lam_g.sum() / p) if lam_g.sum() > 0 else np.nan
            e, a = fold_profile(lam_g, w2, total, p - 1)
            out.append((e, a, rho))
        return out

    M = X.shape[1]
    rows = []
    base = layer.summary()
    rows.append(
        {
            **base,
            "control": "layer",
            "gamma": 1.0,
            "n_units": M,
            "theory_r2": profile_theory_r2(theory_folds(1.0, base["alpha_median"]), p_ref),
            "n_dropped": n_dropped,
        }
    )
    for g in gam:
        summ = base if g == 1.0 else reshaped[g].summary()
        rows.append(
            {
                **summ,
                "control": "reshape",
                "gamma": float(g),
                "n_units": M,
                "theory_r2": profile_theory_r2(theory_folds(g, summ["alpha_median"]), p_ref),
                "n_dropped": n_dropped,
            }
        )
    for d, acc in enumerate(null):
        rows.append({**acc.summary(), "control": "null", "draw": d, "n_units": M})
    if inflated is not None:
        rows.append({**inflated.summary(), "control": "inflated", "n_units": M + int(noise_units)})
    df = pd.DataFrame(rows)
    df["layer"] = ""
    df["layer_index"] = int(layer_index)
    df["draw"] = pd.array(df["draw"] if "draw" in df else [None] * len(df), dtype="Int64")
    df["n_dropped"] = pd.array(
        df["n_dropped"] if "n_dropped" in df else [None] * len(df), dtype="Int64"
    )
    df["gamma"] = df["gamma"].astype(float)
    df["theory_r2"] = df["theory_r2"].astype(float)
    df["log_pr"] = np.log(df["pr"])
    df = df[CONTROL_COLUMNS]

    profile = []
    for k, (e, a, rho) in enumerate(theory_folds(1.0, base["alpha_median"])):
        profile.append(
            pd.DataFrame(
                {
                    "layer": "",
                    "layer_index": int(layer_index),
                    "fold": k,
                    "rank": np.arange(1, e.size + 1),
                    "eigenvalue": e,
                    "alignment": a,
                    "ridge": rho,
                    "n_train": spectra[k][3],
                    "p_ref": p_ref,
                }
            )
        )
    return df, pd.concat(profile, ignore_index=True)[PROFILE_COLUMNS]


def model_controls(
    layers: dict[str, np.ndarray],
    Y: np.ndarray,
    folds: list[np.ndarray],
    bases: dict | None = None,
    layer_folds: dict | None = None,
    **options,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`layer_controls` for every layer of a model (``layer_index`` = position in
    ``layers``; ``bases``: the layers' shared eigen bases by name, if any; ``layer_folds``: the
    regression's per-fold results by layer name, if any); returns the concatenated
    (rows, profiles) with ``layer`` filled. Logs one line per layer."""
    parts, profiles = [], []
    for index, (name, X) in enumerate(layers.items()):
        t0 = time.perf_counter()
        basis = None if bases is None else bases.get(name)
        own = None if layer_folds is None else layer_folds[name]
        try:
            rows, prof = layer_controls(
                X, Y, folds, layer_index=index, basis=basis, layer_folds=own, **options
            )
        except SpectrumRangeError as e:
            raise SpectrumRangeError(e.problem, e.fix, layer=name) from e
        rows["layer"] = name
        prof["layer"] = name
        parts.append(rows)
        profiles.append(prof)
        _log_layer(name, rows, time.perf_counter() - t0)
    return pd.concat(parts, ignore_index=True), pd.concat(profiles, ignore_index=True)


def _log_layer(name: str, rows: pd.DataFrame, seconds: float) -> None:
    own = rows[rows["control"] == "layer"].iloc[0]
    rs = rows[rows["control"] == "reshape"]
    nl = rows[rows["control"] == "null"]["r2"]
    inf = rows[rows["control"] == "inflated"]
    msg = (
        f"layer {name}: R² {own['r2']:.4f}, PR {own['pr']:.1f}; reshaping "
        + ", ".join(
            f"γ={g:g}: R² {r:.4f} PR {p:.1f}" for g, r, p in zip(rs["gamma"], rs["r2"], rs["pr"])
        )
        + f"; {int(own['n_dropped'])} training direction(s) below tolerance (dropped for γ ≠ 1)"
    )
    if len(nl):
        sd = nl.std(ddof=1) if len(nl) > 1 else float("nan")
        msg += f"; null R² {nl.mean():.4f} ± {sd:.4f} ({len(nl)} draws)"
    if len(inf):
        msg += f"; inflated PR {inf['pr'].iloc[0]:.1f}, R² {inf['r2'].iloc[0]:.4f}"
    log.info("%s; %.1f s", msg, seconds)
