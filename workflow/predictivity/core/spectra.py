"""Spectra of a layer: participation ratios, eigenpairs, target weights and power-law decay.

``docs/design.md#spectra`` and ``#theory``. Notation: X ∈ R^{P×M} activations of one layer on P stimuli (rows) and
M units (columns); X_c = X − 1 mᵀ with m ∈ R^M the column means over the P stimuli;
G = X_c X_cᵀ ∈ R^{P×P} the centred Gram matrix (:func:`predictivity.core.gram.centred_gram`);
Y_c ∈ R^{P×N} column-centred targets.

Every function here is pure (arrays in, arrays or tables out) and accumulates in float64.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg

from predictivity.core.gram import centred_gram, working_dtype
from predictivity.errors import InputError

__all__ = [
    "participation_ratio",
    "participation_ratios",
    "eigenspectrum",
    "target_weights",
    "alignment",
    "powerlaw_alpha",
    "eigenvalue_tolerance",
    "spectrum_table",
]


def _as_square(G: np.ndarray, name: str = "G") -> np.ndarray:
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2 or G.shape[0] != G.shape[1]:
        raise ValueError(f"{name} must be a square 2-D matrix, got shape {G.shape}")
    return G


def binary_normalised(a: np.ndarray) -> np.ndarray | None:
    """``a``·2⁻ᵉ with e the binary exponent of max|a| (so max|a·2⁻ᵉ| lies in [½, 1)): an exact
    scaling, the same bits wherever the result stays normal, after which sums of squares neither
    overflow nor underflow. None when ``a`` is empty, all zero or not finite."""
    big = float(np.max(np.abs(a))) if a.size else 0.0
    if big == 0.0 or not np.isfinite(big):
        return None
    return np.ldexp(a, -np.frexp(big)[1])


def participation_ratio(G: np.ndarray) -> float:
    """Participation ratio of a symmetric positive semi-definite matrix, without eigenvalues.

    PR = (Σ_i λ_i)² / Σ_i λ_i² = tr(G)² / ‖G‖_F²

    (for symmetric G, ‖G‖_F² = Σ_ij G_ij² = Σ_i λ_i²). PR is invariant to scaling G, and the
    non-zero spectra of X_c X_cᵀ and X_cᵀ X_c coincide, so the Gram and the covariance forms give
    the same PR. The sums run on :func:`binary_normalised` G (an exact scaling): ‖G‖_F² would
    overflow for activations of order 1e100 and underflow to 0 for 1e-100, both giving NaN.

    Parameters
    ----------
    G : (P, P) symmetric PSD matrix (any real dtype; accumulated in float64).

    Returns
    -------
    float, in [1, rank(G)]; NaN when G = 0 (0/0).
    """
    G = binary_normalised(_as_square(G))
    if G is None:
        return float("nan")
    fro2 = float(np.einsum("ij,ij->", G, G))
    if fro2 == 0.0 or not np.isfinite(fro2):
        return float("nan")
    tr = float(np.trace(G))
    return tr * tr / fro2


def _mean_projections(X: np.ndarray, block_units: int = 8192):
    """One float64 pass over X, block by block of units.

    Returns
    -------
    m : (M,) column means over stimuli, m_j = (1/P) Σ_μ X_μj.
    a : (P,) a = X_c m (each stimulus's centred activations projected on the mean vector).
    s : (P,) s = X_c 1 (row sums of the centred activations).
    """
    P, M = X.shape
    m = np.empty(M, dtype=np.float64)
    a = np.zeros(P, dtype=np.float64)
    s = np.zeros(P, dtype=np.float64)
    for start in range(0, M, block_units):
        B = np.asarray(X[:, start : start + block_units], dtype=np.float64)
        mb = B.mean(axis=0)
        B = B - mb  # not in place: B may be a view of the caller's X
        m[start : start + block_units] = mb
        a += B @ mb
        s += B.sum(axis=1)
    return m, a, s


def participation_ratios(X: np.ndarray, G: np.ndarray | None = None) -> dict:
    """The three participation ratios (``docs/design.md#spectra``), each as tr(K)²/‖K‖_F² of a P×P Gram K.

    With m = column means of X (over the P stimuli), X_c = X − 1mᵀ and G = X_c X_cᵀ:

    - ``pr``: K = G (centred over stimuli; the pipeline's default).
    - ``pr_uncentred`` (SNAP convention): K = X Xᵀ. From X = X_c + 1mᵀ and a = X_c m,
      X Xᵀ = G + a 1ᵀ + 1 aᵀ + ‖m‖² 1 1ᵀ,
      so only the mean vector and one product X_c m are needed (no second Gram).
    - ``pr_double_centred`` (Tuckute: ``np.cov`` with rows = stimuli, applied to X_c): each row of
      X_c is further centred over the M units, X_dc = X_c − r 1ᵀ with r = X_c 1 / M, whose Gram is
      X_dc X_dcᵀ = G − r(X_c 1)ᵀ − (X_c 1)rᵀ + M r rᵀ = G − M r rᵀ
      (np.cov divides by M − 1, which PR ignores).

    All sums are accumulated in float64 in one pass over X, block by block of units, so a float32
    or memory-mapped X is fine.

    Parameters
    ----------
    X : (P, M) activations.
    G : optional (P, P) centred Gram of X (``centred_gram(X)``) to reuse; formed if None.

    Returns
    -------
    dict with float values ``pr``, ``pr_uncentred``, ``pr_double_centred``.
    """
    X = np.asarray(X)  # no copy; a memory map stays on disk
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (stimuli × units), got shape {X.shape}")
    P, M = X.shape
    if G is None:
        G = centred_gram(X)
    G = _as_square(G)
    if G.shape[0] != P:
        raise ValueError(f"G has shape {G.shape} but X has {P} stimuli (rows)")
    m, a, s = _mean_projections(X)
    mm = float(m @ m)
    G_raw = G + a[:, None] + a[None, :] + mm
    r = s / M
    G_dc = G - M * np.outer(r, r)
    return {
        "pr": participation_ratio(G),
        "pr_uncentred": participation_ratio(G_raw),
        "pr_double_centred": participation_ratio(G_dc),
    }


def eigenspectrum(G: np.ndarray, n_keep: int | None = None):
    """Eigenpairs of G/P, descending (``docs/design.md#theory``).

    G/P = U diag(λ) Uᵀ with λ_1 ≥ λ_2 ≥ … ≥ 0 and unit-norm columns u_i (uᵢᵀuᵢ = 1). The theory's
    v_i = √P·u_i (vᵢᵀvᵢ = P); see :func:`target_weights`.

    Numerical hazards, handled explicitly:

    - G is PSD in exact arithmetic but rounding gives eigenvalues of order −ε·P·λ_1 in its null
      space (rank(G) ≤ min(P − 1, M) after centring); they are **clipped to 0** so that downstream
      formulas (PR, κ, power-law fits) never see negative variance.
    - G is symmetrised ((G + Gᵀ)/2) before ``eigh``.
    - Eigenvector signs are arbitrary; each u_i is flipped so that its entry of largest magnitude
      is positive, which makes the output deterministic (alignment and theory are sign-invariant).

    The caller cannot be told M by G alone, so all P eigenpairs are returned unless ``n_keep``
    asks for the top ones only (computed with a partial ``eigh``, cheaper for large P).

    Parameters
    ----------
    G : (P, P) symmetric PSD Gram (the centred G = X_c X_cᵀ).
    n_keep : optional number of leading eigenpairs K (1 ≤ K ≤ P); default all P.

    Returns
    -------
    eigenvalues : (K,) float64, descending, ≥ 0 — eigenvalues of G/P.
    U : (P, K) float64, orthonormal columns, U[:, i] the eigenvector of eigenvalues[i].
    """
    G = _as_square(G)
    P = G.shape[0]
    if P == 0:
        raise ValueError("G is empty")
    K = P if n_keep is None else int(n_keep)
    if not 1 <= K <= P:
        raise ValueError(f"n_keep must be in [1, {P}], got {n_keep}")
    Gs = (G + G.T) / (2.0 * P)
    if K == P:
        lam, U = scipy.linalg.eigh(Gs)
    else:
        lam, U = scipy.linalg.eigh(Gs, subset_by_index=[P - K, P - 1])
    return ordered_eigenpairs(lam, U)


def ordered_eigenpairs(lam: np.ndarray, U: np.ndarray, scale: float = 1.0):
    """The convention of :func:`eigenspectrum` applied to ``eigh`` output (ascending ``lam``,
    eigenvectors ``U``), e.g. of a shared basis (:mod:`predictivity.core.basis`): eigenvalues
    × ``scale``, descending, clipped at 0; each eigenvector's largest entry positive. The
    inputs are not modified."""
    lam = lam[::-1] * scale if scale != 1.0 else lam[::-1].copy()
    U = U[:, ::-1].copy()
    np.clip(lam, 0.0, None, out=lam)
    idx = np.argmax(np.abs(U), axis=0)
    signs = np.sign(U[idx, np.arange(U.shape[1])])
    signs[signs == 0] = 1.0
    U *= signs
    return lam, U


def target_weights(U: np.ndarray, Yc: np.ndarray) -> np.ndarray:
    """Target weights on the eigenmodes (``docs/design.md#theory``).

    With v_i = √P·u_i (vᵢᵀvᵢ = P):  w_in = v_iᵀ Y_c[:, n] / P = u_iᵀ Y_c[:, n] / √P,
    i.e. W = Uᵀ Y_c / √P. When U holds all P eigenvectors, Σ_i w_in² = ‖Y_c[:, n]‖² / P, the
    target's variance over the P stimuli.

    Y_c must be centred over the stimuli: the all-ones direction is a null mode of the centred G,
    so a non-zero target mean would be counted as unlearnable target variance.

    Parameters
    ----------
    U : (P, K) orthonormal eigenvectors from :func:`eigenspectrum`.
    Yc : (P, N) (or (P,)) column-centred targets.

    Returns
    -------
    W : (K, N) float64 (K = P for the full spectrum).
    """
    U = np.asarray(U, dtype=np.float64)
    Yc = np.asarray(Yc, dtype=np.float64)
    if Yc.ndim == 1:
        Yc = Yc[:, None]
    if U.ndim != 2 or Yc.ndim != 2 or U.shape[0] != Yc.shape[0]:
        raise ValueError(f"U (P×K) and Yc (P×N) must share P, got {U.shape} and {Yc.shape}")
    P = U.shape[0]
    return (U.T @ Yc) / np.sqrt(P)


def alignment(W: np.ndarray) -> np.ndarray:
    """Share of the target variance carried by each mode.

    a_i = Σ_n w_in² / Σ_j Σ_n w_jn²   (Σ_i a_i = 1 over the modes in W).

    Parameters
    ----------
    W : (K, N) (or (K,)) target weights from :func:`target_weights`.

    Returns
    -------
    (K,) float64; all NaN when W = 0.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim == 1:
        W = W[:, None]
    w2 = np.einsum("in,in->i", W, W)
    total = w2.sum()
    if total == 0.0 or not np.isfinite(total):
        return np.full(w2.shape, np.nan)
    return w2 / total


def _precision_eps(dtype, eigenvalues: np.ndarray) -> float:
    """Machine epsilon of the working precision: ``dtype`` if given, else that of the eigenvalues
    when they are float32, else float64."""
    if dtype is None:
        dtype = eigenvalues.dtype if eigenvalues.dtype == np.float32 else np.float64
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return float(np.finfo(dtype).eps)


def eigenvalue_tolerance(eigenvalues: np.ndarray, dtype=None) -> float:
    """tol = λ_max · K · ε: eigenvalues at or below it are rounding noise of the null space.

    K = number of eigenvalues (the size of the matrix they came from), ε = machine epsilon of the
    precision in which that matrix was **formed** (``dtype``; a Gram summed in float64 from
    float32 products carries float32 rounding, ~1e-8·λ_max in its null space, so pass float32).
    This is the ``numpy.linalg.matrix_rank`` tolerance at the working precision.
    """
    lam = np.asarray(eigenvalues)
    eps = _precision_eps(dtype, lam)
    lam = np.asarray(lam, dtype=np.float64).ravel()
    lam = lam[np.isfinite(lam)]
    if lam.size == 0:
        return 0.0
    return float(max(lam.max(), 0.0) * lam.size * eps)


def powerlaw_alpha(eigenvalues: np.ndarray, n_points: int = 20, dtype=None) -> float:
    """Power-law decay exponent α of a spectrum, λ_i ∝ i^−α (``docs/design.md#spectra``).

    1. Sort λ descending; keep the numerically positive ones, λ_i > tol with
       tol = λ_1 · K · ε (:func:`eigenvalue_tolerance`; K = number of eigenvalues, ε = machine
       epsilon of the working precision ``dtype`` — float32 for a Gram formed from float32
       activations, whose null space holds rounding noise of order 1e-8·λ_1 that the float64 ε
       would count as spectrum). Call their number n₊.
    2. Top half: ranks i = 1 … ⌊n₊/2⌋; take ``n_points`` log-spaced ranks in it (rounded to
       integers, duplicates removed).
    3. Least squares of log λ_i on log i: log λ_i ≈ c − α log i; return α.

    Finite-P bias: α is fitted to the eigenvalues of the P × P sample Gram, not of the population
    covariance. Sample eigenvalues of a power law are flattened at the tail end of the fitted range,
    so α is biased **low** at small P. Measured for a true α = 1 (independent Gaussian units with
    population variances i⁻¹, M = 10 000, centred Gram, seeds 0 …): mean estimate 0.71 at P = 100
    (s.d. 0.02 over 100 draws), 0.83 at P = 400 (20 draws) and 0.92 at P = 2000 (3 draws).
    Compare α across layers only at equal P.

    Parameters
    ----------
    eigenvalues : (K,) eigenvalues (any order).
    n_points : number of log-spaced ranks requested (fewer after rounding for short spectra).
    dtype : precision the eigenvalues' matrix was formed in (float32 or float64); default: that
        of ``eigenvalues`` when float32, else float64.

    Returns
    -------
    float α (> 0 for a decaying spectrum); NaN when fewer than 3 distinct ranks are usable.
    """
    raw = np.asarray(eigenvalues)
    tol = eigenvalue_tolerance(raw, dtype)
    lam = np.sort(np.asarray(raw, dtype=np.float64).ravel())[::-1]
    lam = lam[np.isfinite(lam)]
    if lam.size == 0 or lam[0] <= 0:
        return float("nan")
    n_pos = int(np.count_nonzero(lam > tol))
    n_half = n_pos // 2
    if n_half < 3:
        return float("nan")
    ranks = np.unique(np.round(np.geomspace(1, n_half, n_points)).astype(int))
    if ranks.size < 3:
        return float("nan")
    x = np.log(ranks.astype(np.float64))
    y = np.log(lam[ranks - 1])
    A = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(-coef[1])


def spectrum_table(eigenvalues: np.ndarray, W: np.ndarray, n_keep: int) -> pd.DataFrame:
    """Leading modes as a table: rank (1-based), eigenvalue of G/P, alignment (share of target
    variance, computed over **all** modes in W before trimming, so the column sums to ≤ 1).

    Parameters
    ----------
    eigenvalues : (K,) descending eigenvalues of G/P.
    W : (K, N) target weights.
    n_keep : number of leading modes to report (clipped to K).

    Returns
    -------
    DataFrame with columns ``rank`` (int), ``eigenvalue`` (float), ``alignment`` (float),
    min(n_keep, K) rows.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    a = alignment(W)
    if a.shape[0] != lam.shape[0]:
        raise ValueError(f"W has {a.shape[0]} modes but there are {lam.shape[0]} eigenvalues")
    n = max(0, min(int(n_keep), lam.shape[0]))
    return pd.DataFrame(
        {
            "rank": np.arange(1, n + 1, dtype=np.int64),
            "eigenvalue": lam[:n],
            "alignment": a[:n],
        }
    )


def layer_spectrum(
    X: np.ndarray,
    Yc: np.ndarray,
    G: np.ndarray | None = None,
    name: str = "layer",
    basis=None,
) -> tuple[dict, pd.DataFrame]:
    """Everything stage 4 reports for one layer.

    X : (P, M) activations; Yc : (P, N) targets centred over stimuli; G : optional centred Gram;
    basis : optional shared :class:`predictivity.core.basis.LayerBasis` of X (its G and the
    eigendecomposition of G/P are used instead of computing them).
    Returns (summary, table): summary has n_stimuli, n_units, pr, pr_uncentred, pr_double_centred,
    powerlaw_alpha; table has rank, eigenvalue (of G/P), alignment (Σ_n w_in² share) for the
    first min(P − 1, M) modes (centring removes one dimension).
    """
    P, M = X.shape
    if basis is not None:
        G = basis.G
    if G is None:
        G = centred_gram(X)
    trace = float(np.trace(np.asarray(G, dtype=np.float64)))
    if not np.isfinite(trace) or trace <= 0.0:
        raise InputError(
            f"layer {name!r}",
            f"the Gram matrix of its activations has trace {trace:.3g} in {working_dtype(X)}: "
            "the activations are too large (overflow) or too small (underflow).",
            "Rescale the activations by a power of ten (PR does not depend on the scale).",
        )
    prs = participation_ratios(X, G)
    lam, U = eigenspectrum(G) if basis is None else ordered_eigenpairs(basis.lam, basis.U)
    n_keep = max(1, min(P - 1, M))
    W = target_weights(U, Yc)
    alpha = powerlaw_alpha(lam[:n_keep], dtype=working_dtype(X))
    summary = {"n_stimuli": P, "n_units": M, **prs, "powerlaw_alpha": alpha}
    return summary, spectrum_table(lam, W, n_keep)


def model_spectra(
    layers: dict[str, np.ndarray], Y: np.ndarray, bases: dict | None = None
) -> pd.DataFrame:
    """Stage 4 for every layer of a model: one row per layer × mode, with the layer's summary
    columns (n_stimuli, n_units, pr, pr_uncentred, pr_double_centred, powerlaw_alpha) repeated.
    ``bases``: the layers' shared eigen bases by name (:mod:`predictivity.core.basis`), if any."""
    Yc = np.asarray(Y, dtype=np.float64)
    Yc = Yc - Yc.mean(axis=0)
    frames = []
    for index, (name, X) in enumerate(layers.items()):
        basis = None if bases is None else bases.get(name)
        summary, table = layer_spectrum(X, Yc, name=name, basis=basis)
        table.insert(0, "layer", name)
        table.insert(1, "layer_index", index)
        for key, value in summary.items():
            table[key] = value
        frames.append(table)
    return pd.concat(frames, ignore_index=True)
