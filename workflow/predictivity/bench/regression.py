"""Benchmark of the regression stage (and of PR and the theory stage) against its FLOP floor,
scikit-learn and himalaya (the performance targets: ``docs/design.md#regression``).

Usage::

    python -m predictivity.bench [--sizes A,B,D,PL,T2000,T5000]
        [--out results/benchmarks/regression.parquet] [--repeats 1] [--threads 1]

Sizes (seeded data, fixed by ``--seed``; P stimuli × M units × N targets):

=======  ====================  ==========================================================
A        2000 × 4096 × 1000    dense Gaussian activations (unit means, linearly decaying
                               scales), targets = linear readout × gain + noise
B        2000 × 512 × 1000     the same generator (covariance form: M ≤ p)
D        500 × 200000 × 20000  float32 activations memory-mapped from a temporary .npy:
                               64 power-law latent factors mixed into the units + noise;
                               targets = a readout of the factors + noise
PL       2000 × 4096 × 1000    power-law activations (unit j scaled by j^-1/2, so the
                               spectrum falls as i^-1) and power-law readout weights
T2000    2000 × 4096 × 100     PR (:func:`predictivity.core.spectra.participation_ratios`) and
T5000    5000 × 4096 × 100     the theory stage (:func:`predictivity.core.theory.layer_theory`)
=======  ====================  ==========================================================

A custom size is ``NAME=PxMxN[:dense|powerlaw|memmap|theory]`` (e.g. ``tiny=60x200x8``).

Every measurement runs in a fresh subprocess (``python -m predictivity.bench.regression --worker``) so
that ``peak_mb`` is that process's own peak resident set (``resource.getrusage(RUSAGE_SELF)
.ru_maxrss`` — which, unlike tracemalloc, sees BLAS buffers and the resident pages of a memory
map; it includes the interpreter and its imports, about 100–150 MB; ``base_mb`` is the resident
set just before the timed call). Each subprocess runs under an address-space limit
(``resource.setrlimit(RLIMIT_AS)``, default min(16 GiB, 75 % of RAM), ``--mem-limit-gb``), so a
peer that needs more memory than the machine has fails with MemoryError inside the limit instead
of exhausting the machine; such rows have status ``out_of_memory`` and say what was needed.
BLAS runs with ``--threads`` threads (default 1: threadpoolctl and OPENBLAS/OMP_NUM_THREADS).

BLAS kernel. Where OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE) are set in the environment (they pin
OpenBLAS to an older kernel for the sake of old builds), the workers run with both unset, and the
``blas_kernel`` column records the kernel that then ran (threadpoolctl's ``architecture``); on an
AVX-512 machine that is SkylakeX instead of Haswell, about 1.7× faster GEMM.
``--keep-openblas-env`` keeps them. Tests and the pipeline itself never change them.

Methods (``method`` column), all on the same outer folds (K = 5, :func:`make_folds`, seed 0) and
the same grid of ``--n-alphas`` (20) alphas log-spaced over 10^-2 … 10^8:

- ``predictivity``: :func:`predictivity.core.ridge.cross_validated_ridge`, in ``float32``
  (float32 activations, float32 Gram blocks summed in float64) and ``float64``; eigensolver,
  LOO search and scores are float64 in both.
- ``sklearn_ridgecv``: ``RidgeCV(alphas, alpha_per_target=True, fit_intercept=True)`` fitted on
  each training fold and predicting its test fold (scikit-learn computes in float64 whatever the
  input). Where it cannot hold its M × N ``coef_`` (size D: 32 GB), the row reports
  ``out_of_memory`` and a second row (``status = reference_subset``) runs it on the first
  ``--reference-targets`` targets, whose chosen alphas are the reference for that size.
- ``himalaya_kernelridgecv``: ``himalaya.kernel_ridge.KernelRidgeCV(kernel="linear",
  fit_intercept=True, cv=5)``; ``himalaya_ridgecv``: ``himalaya.ridge.RidgeCV(fit_intercept=True,
  cv=5)`` (numpy backend, in the data's dtype). himalaya chooses each target's alpha by an inner
  5-fold CV, not by leave-one-out, so its alphas are not expected to equal scikit-learn's
  (``alpha_agreement`` says how many do).

``alphas_equal_sklearn``: every fold's chosen alpha of every target equals scikit-learn's
(``alpha_agreement`` = the fraction that do).

FLOP floor and how it is read here
----------------------------------
For a K-fold run with the Gram formed once (p_k = training and q_k = test stimuli of fold k,
n_α alphas)::

    floor = P²M + Σ_k 9 p_k³ + Σ_k n_α · 2 q_k p_k N

- P²M: the centred Gram X_c X_cᵀ as a symmetric rank-M update (SYRK: half of the 2P²M of a
  general product);
- 9p³: one symmetric eigendecomposition with eigenvectors per fold (the textbook count for a
  tridiagonal QR with vectors; LAPACK's divide-and-conquer ``syevd`` used here needs fewer, so
  this term is generous);
- 2qpN per alpha: the test-fold predictions K_te Q diag(1/(s+α)) Z of every target.

``floor_seconds`` = floor / ``gflops_rate``, the machine's GEMM rate in the row's dtype with the
same number of threads, measured in the same worker just before the timed call (best of 2
products of 2000 × 2000 matrices; other jobs share the 2 cores, so the rate is taken under the
load the row ran under; the header line's rate, 3000 × 3000, is for information);
``ratio_to_floor`` = seconds / floor_seconds; ``ratio_to_floor_f64`` uses the float64 rate for every row (for a float32 row,
its float64 eigensolver and LOO search can only reach the float32 floor in its Gram term).

Reconciliation with the LOO search. The floor's per-alpha term counts predictions on the q test
stimuli, but choosing alpha by exact leave-one-out needs the training residuals
R(α) = Q diag(α/(s+α)) QᵀỸ on all p training stimuli: 2p²N flops per alpha in kernel form
(2pMN in covariance form, M ≤ p), i.e. p/q = K − 1 = 4 times the floor's term — which is what
scikit-learn's ``_RidgeGCV`` spends (plus 2pMN per alpha for its coefficients). Computed that way
(``loo_search="exhaustive"``), size A costs ≈ P²M + K·9p³ + K·n_α·2p²N ≈ 2.2× the floor and
could not meet the ≤ 1.2× goal. The default ``loo_search="bounded"``
(:func:`predictivity.core.ridge._kernel_loo_select`) returns the same alphas while computing R(α)
only for the (alpha, target) pairs that rigorous bounds cannot rule out: on A 1.2 exact columns
per target (2.4 before the split reference bound), i.e. 1.2 "alpha-equivalents" (2p²N each) per
fold instead of 20, below the floor's n_α·2qpN = 5 alpha-equivalents for n_α = 20 and K = 5, which pays for what the floor leaves out
(Z = QᵀỸ: 2p²N, K_te Q: 2qp², the final predictions). On D (p = 400, N = 20000) most targets'
LOO curves are flat over the small alphas of the grid (its noise floor, s ≈ 5·10⁴, lies far
above them): a second exact anchor in that stretch rules most of it out, and the projection
bound (:func:`predictivity.core.ridge._projection_bounds`) separates what is left for the 1.7
thousand targets whose minimum is near it, leaving ≈ 2.9 exact columns per target (2.6 with the
projection bound for 11.5 thousand targets, which was 5–8 % slower; 4.7 before the split form of
the reference bound, ≈ 17 alpha-equivalents before the projection bound). D runs at 2.1–2.3× its
float64 floor; beside the columns, the bounds' products of p × N arrays cost about as much. The
covariance form (size B) keeps the exhaustive search (its per-alpha cost is 2pMN with M ≤ p; the
floor's 9p³ counts a p × p eigensolver where the covariance form needs only M × M, so B sits
below the floor as the formula is written).

Alphas and ties. Ours and scikit-learn compute the same LOO errors up to rounding (1e-12 to
1e-10 relative: the intercept correction of diag((K+αI)⁻¹) cancels at the smallest alphas); where two alphas' errors differ by less than that — deep in a flat stretch of the LOO
curve — the two may pick different alphas. On D in float64, 1 of the 250 checked fold × target
choices differs that way (α = 0.01 vs 0.034, errors equal to 2·10⁻¹⁰).

PR and theory rows (``stage`` = ``spectra`` / ``theory``): PR's floor is the Gram, P²M; the theory
stage (:func:`predictivity.core.theory.layer_theory`, 12-point p grid, 5 subsets) has floor
P²M + 9P³ + 2P²N + Σ_p 5·(p³/3 + 2p²N' + 2PpN') (Gram, eigendecomposition, target weights, and
per subset a Cholesky factorisation, its solves and the predictions on all P stimuli, with
N' = min(N, P) targets, plus 2NP² for their QR when N > P: :func:`theory_floor_flops`).

``ratio_to_ours`` = seconds / seconds of ``predictivity`` on the same size in the same dtype
(float64 when ours did not run in that dtype): above 1 means slower than ours.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

METHODS = ("predictivity", "sklearn_ridgecv", "himalaya_kernelridgecv", "himalaya_ridgecv")
COLUMNS = [
    "size",
    "stage",
    "P",
    "M",
    "N",
    "method",
    "dtype",
    "status",
    "seconds",
    "peak_mb",
    "base_mb",
    "floor_gflop",
    "floor_seconds",
    "ratio_to_floor",
    "ratio_to_floor_f64",
    "ratio_to_ours",
    "alphas_equal_sklearn",
    "alpha_agreement",
    "gflops_rate",
    "gflops_rate_f64",
    "blas_kernel",
    "threads",
    "repeats",
    "note",
]


@dataclass(frozen=True)
class Size:
    name: str
    P: int
    M: int
    N: int
    kind: str  # dense | powerlaw | memmap | theory


SIZES = {
    "A": Size("A", 2000, 4096, 1000, "dense"),
    "B": Size("B", 2000, 512, 1000, "dense"),
    "D": Size("D", 500, 200_000, 20_000, "memmap"),
    "PL": Size("PL", 2000, 4096, 1000, "powerlaw"),
    "T2000": Size("T2000", 2000, 4096, 100, "theory"),
    "T5000": Size("T5000", 5000, 4096, 100, "theory"),
}
DEFAULT_SIZES = "A,B,D,PL,T2000,T5000"


def parse_size(token: str) -> Size:
    """``A`` (a named size) or ``NAME=PxMxN[:kind]``."""
    token = token.strip()
    if token in SIZES:
        return SIZES[token]
    if "=" in token:
        name, spec = token.split("=", 1)
        kind = "dense"
        if ":" in spec:
            spec, kind = spec.split(":", 1)
        if kind not in ("dense", "powerlaw", "memmap", "theory"):
            raise ValueError(f"unknown data kind {kind!r} in size {token!r}")
        P, M, N = (int(v) for v in spec.lower().split("x"))
        return Size(name, P, M, N, kind)
    raise ValueError(f"unknown size {token!r}: use one of {sorted(SIZES)} or NAME=PxMxN[:kind]")


# ----------------------------------------------------------------------------- data


def _make_data(size: Size, folder: str, seed: int, n_folds: int) -> dict:
    """Write the seeded data of one size into ``folder``; returns the paths."""
    from predictivity.core.ridge import make_folds

    rng = np.random.default_rng([seed, size.P, size.M, size.N])
    P, M, N = size.P, size.M, size.N
    paths = {
        "X32": os.path.join(folder, "X32.npy"),
        "Y": os.path.join(folder, "Y.npy"),
        "folds": os.path.join(folder, "folds.npz"),
    }
    if size.kind == "memmap":
        # a low-dimensional layer: 64 latent factors with power-law variances (k^-1), each unit a
        # random mixture of them, plus isotropic noise; targets read out the factors
        rank = 64
        X = np.lib.format.open_memmap(paths["X32"], mode="w+", dtype=np.float32, shape=(P, M))
        F = rng.standard_normal((P, rank)) * np.arange(1, rank + 1) ** -0.5
        L = rng.standard_normal((rank, M)).astype(np.float32)
        offset = rng.uniform(-1, 1, M).astype(np.float32)
        for r0 in range(0, P, 50):
            r1 = min(P, r0 + 50)
            block = rng.standard_normal((r1 - r0, M), dtype=np.float32)
            block *= 0.5
            block += F[r0:r1].astype(np.float32) @ L
            block += offset
            X[r0:r1] = block
        X.flush()
        del X
        B = rng.standard_normal((rank, N))
        Y = F @ B * rng.uniform(0, 2, N) + rng.standard_normal((P, N))
    else:
        if size.kind in ("powerlaw", "theory"):
            scale = np.arange(1, M + 1) ** -0.5
            X = rng.standard_normal((P, M)) * scale + rng.uniform(-1, 1, M)
            W = rng.standard_normal((M, N)) * scale[:, None]
            Y = (X - X.mean(0)) @ W * rng.uniform(0, 3, N) + rng.standard_normal((P, N)) * 0.3
        else:
            X = rng.standard_normal((P, M)) * np.linspace(1.0, 0.1, M) + rng.uniform(-2, 2, M)
            W = rng.standard_normal((M, N)) / np.sqrt(M)
            Y = X @ W * rng.uniform(0, 2, N) + rng.standard_normal((P, N))
        paths["X64"] = os.path.join(folder, "X64.npy")
        np.save(paths["X64"], X)
        np.save(paths["X32"], X.astype(np.float32))
    np.save(paths["Y"], Y)
    folds = make_folds(P, n_folds, seed=0)
    np.savez(paths["folds"], *folds)
    return paths


def _load_folds(path: str) -> list[np.ndarray]:
    with np.load(path) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]


# ----------------------------------------------------------------------------- floors


def regression_floor_flops(P: int, M: int, N: int, folds: list[np.ndarray], n_alpha: int) -> float:
    """P²M + Σ_k 9p_k³ + Σ_k n_α·2q_k p_k N (the FLOP floor; see the module docstring)."""
    total = float(P) * P * M
    for te in folds:
        q = len(te)
        p = P - q
        total += 9.0 * p**3 + n_alpha * 2.0 * q * p * N
    return total


def theory_floor_flops(P: int, M: int, N: int, p_values, n_subsets: int = 5) -> float:
    """The theory stage's floor (module docstring) on one population of P stimuli, with
    N' = min(N, P) targets in the fits (:func:`predictivity.core.theory.target_factor`)."""
    n_fit = min(N, P)
    total = float(P) * P * M + 9.0 * P**3 + 2.0 * P * P * N
    total += 2.0 * N * P * P if N > P else 0.0
    for p in p_values:
        total += n_subsets * (p**3 / 3.0 + 2.0 * p * p * n_fit + 2.0 * P * p * n_fit)
    return total


def theory_fits_flops(P: int, N: int, p_values, n_subsets: int = 5) -> float:
    """The least work of the empirical learning curve's kernel-ridge fits on a population of P
    stimuli as :func:`predictivity.core.theory.empirical_learning_curve` computes them: per p and
    subset a Cholesky factorisation (p³/3), its solves (2p²N') and the predictions on the other
    P − p stimuli (2(P − p)pN'; the training rows' residuals need no product), N' = min(N, P)
    targets (with N > P, plus 2NP² for the QR of :func:`~predictivity.core.theory.target_factor`)."""
    n_fit = min(N, P)
    total = 2.0 * N * P * P if N > P else 0.0
    for p in p_values:
        total += n_subsets * (p**3 / 3.0 + 2.0 * p * p * n_fit + 2.0 * (P - p) * p * n_fit)
    return total


# ----------------------------------------------------------------------------- worker side


def _blas_kernel() -> str:
    from threadpoolctl import threadpool_info

    kinds = sorted(
        {str(i.get("architecture")) for i in threadpool_info() if i.get("user_api") == "blas"}
    )
    return "/".join(kinds)


def _grid_index(values: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return np.argmin(np.abs(np.log(values)[..., None] - np.log(alphas)), axis=-1)


def _run_task(task: dict) -> dict:
    """Body of a worker: one measurement, returned as a dict (seconds, base_mb, ...)."""
    from threadpoolctl import threadpool_limits

    threads = int(task["threads"])
    with threadpool_limits(threads):
        return _run_task_inner(task)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(fn, repeats: int):
    best = math.inf
    out = None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _gemm_rates(n: int, repeats: int = 3) -> dict:
    """GFLOP/s of an n × n × n GEMM (best of ``repeats``), float32 and float64."""
    rates = {}
    rng = np.random.default_rng(0)
    for dt in ("float32", "float64"):
        a = rng.standard_normal((n, n)).astype(dt)
        b = rng.standard_normal((n, n)).astype(dt)
        a @ b
        sec, _ = _timed(lambda a=a, b=b: a @ b, repeats)
        rates[dt] = 2.0 * n**3 / sec / 1e9
    return rates


def _run_task_inner(task: dict) -> dict:
    kind = task["kind"]
    repeats = int(task.get("repeats", 1))
    if kind == "gemm":
        return {"rates": _gemm_rates(int(task.get("n", 3000))), "blas_kernel": _blas_kernel()}

    paths = task["paths"]
    folds = _load_folds(paths["folds"])
    alphas = np.asarray(task["alphas"], dtype=np.float64)
    method = task["method"]
    dtype = task["dtype"]
    n_targets = task.get("n_targets")
    Y = np.load(paths["Y"], mmap_mode="r")
    Y = np.array(Y[:, :n_targets] if n_targets else Y, dtype=np.float64)
    xkey = "X64" if (dtype == "float64" and "X64" in paths) else "X32"
    X = np.load(paths[xkey], mmap_mode="r")
    # the machine's GEMM rate right now, for this row's floor (other jobs share the cores)
    rates = _gemm_rates(int(task.get("gemm_n", 2000)), repeats=2)
    base = _rss_mb()
    P = X.shape[0]
    result: dict = {"base_mb": base, "rates": rates}

    if kind == "spectra":
        from predictivity.core.spectra import participation_ratios

        sec, pr = _timed(lambda: participation_ratios(X), repeats)
        result.update(seconds=sec, value=float(pr["pr"]))
    elif kind == "theory":
        from predictivity.core.ridge import training_size
        from predictivity.core.theory import layer_theory, p_grid

        p_train = training_size(P, len(folds))
        p_values = p_grid(P, include=(p_train,))
        Yc = Y - Y.mean(axis=0)
        sec, df = _timed(lambda: layer_theory(X, Yc, 0.01, p_values, p_train, n_subsets=5), repeats)
        result.update(seconds=sec, p_values=[int(p) for p in p_values])
    elif method == "predictivity":
        from predictivity.core.ridge import _cross_validated_ridge

        sec, (df, chosen) = _timed(
            lambda: _cross_validated_ridge(X, Y, folds, alphas, dtype=dtype), repeats
        )
        result.update(seconds=sec)
        np.save(task["alphas_out"], _grid_index(chosen, alphas))
    else:
        all_idx = np.arange(P)

        def fit_all(make):
            chosen = []
            for te in folds:
                tr = np.setdiff1d(all_idx, te)
                model = make().fit(np.asarray(X[tr]), Y[tr])
                model.predict(np.asarray(X[np.sort(te)]))
                picked = model.alpha_ if method == "sklearn_ridgecv" else model.best_alphas_
                chosen.append(np.asarray(picked, dtype=np.float64))
            return np.vstack(chosen)

        if method == "sklearn_ridgecv":
            from sklearn.linear_model import RidgeCV

            def make():
                return RidgeCV(alphas=alphas, alpha_per_target=True, fit_intercept=True)
        elif method in ("himalaya_kernelridgecv", "himalaya_ridgecv"):
            import warnings

            from himalaya.backend import set_backend

            set_backend("numpy", on_error="raise")
            warnings.filterwarnings("ignore", category=UserWarning, module="himalaya")
            if method == "himalaya_kernelridgecv":
                from himalaya.kernel_ridge import KernelRidgeCV

                def make():
                    return KernelRidgeCV(alphas=alphas, kernel="linear", fit_intercept=True, cv=5)
            else:
                from himalaya.ridge import RidgeCV as HRidgeCV

                def make():
                    return HRidgeCV(alphas=alphas, fit_intercept=True, cv=5)
        else:
            raise ValueError(f"unknown method {method!r}")
        sec, chosen = _timed(lambda: fit_all(make), repeats)
        result.update(seconds=sec)
        np.save(task["alphas_out"], _grid_index(chosen, alphas))
    return result


def _worker_main(task_json: str) -> None:
    task = json.loads(task_json)
    try:
        result = _run_task(task)
        result["status"] = "ok"
    except MemoryError as err:
        result = {"status": "out_of_memory", "note": f"MemoryError: {err}"[:300]}
    result["peak_mb"] = _rss_mb()
    print("BENCHMARK-RESULT " + json.dumps(result), flush=True)


# ----------------------------------------------------------------------------- parent side


def _memory_limit_bytes(limit_gb: float | None) -> int:
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if limit_gb is None:
        return int(min(16 * 2**30, 0.75 * total))
    return int(limit_gb * 2**30)


def _worker_env(threads: int, keep_openblas_env: bool) -> dict:
    env = dict(os.environ)
    if not keep_openblas_env:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = package_parent + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    return env


def run_worker(task: dict, *, env: dict, mem_limit: int, timeout: float) -> dict:
    """Run one task in a fresh interpreter under an address-space limit; never raises."""

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (mem_limit, mem_limit))

    cmd = [sys.executable, "-m", "predictivity.bench.regression", "--worker", json.dumps(task)]
    try:
        proc = subprocess.run(
            cmd, env=env, preexec_fn=limit, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "note": f"did not finish within {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCHMARK-RESULT "):
            return json.loads(line[len("BENCHMARK-RESULT ") :])
    tail = (proc.stderr or "").strip().splitlines()[-3:]
    if proc.returncode in (-9, 137):
        return {
            "status": "out_of_memory",
            "note": "killed (SIGKILL; out of memory?) " + " | ".join(tail),
        }
    status = (
        "out_of_memory"
        if any("MemoryError" in t or "Cannot allocate" in t for t in tail)
        else "failed"
    )
    return {"status": status, "note": f"exit {proc.returncode}: " + " | ".join(tail)[:300]}


def _himalaya_available() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("himalaya") is not None
    except (ImportError, ValueError):
        return False


def _fmt(df: pd.DataFrame) -> str:
    show = df[
        [
            "size",
            "stage",
            "P",
            "M",
            "N",
            "method",
            "dtype",
            "status",
            "seconds",
            "peak_mb",
            "ratio_to_floor",
            "ratio_to_ours",
            "alphas_equal_sklearn",
        ]
    ].copy()

    def num(fmt):
        return lambda v: "—" if v is None or pd.isna(v) else format(v, fmt)

    formatters = {
        "seconds": num(".2f"),
        "peak_mb": num(".0f"),
        "ratio_to_floor": num(".2f"),
        "ratio_to_ours": num(".2f"),
    }
    return show.to_string(index=False, formatters=formatters, na_rep="—")


def run_benchmark(
    sizes: list[Size],
    out: str,
    *,
    repeats: int = 1,
    threads: int = 1,
    n_alphas: int = 20,
    n_folds: int = 5,
    seed: int = 0,
    methods=METHODS,
    dtypes=("float32", "float64"),
    mem_limit_gb: float | None = None,
    timeout: float = 420.0,
    keep_openblas_env: bool = False,
    reference_targets: int = 50,
    workdir: str | None = None,
    gemm_size: int = 3000,
    log=print,
) -> pd.DataFrame:
    """Run the benchmark, write the Parquet ``out`` and return its table."""
    t_start = time.perf_counter()
    alphas = np.logspace(-2, 8, n_alphas)
    env = _worker_env(threads, keep_openblas_env)
    mem_limit = _memory_limit_bytes(mem_limit_gb)
    have_himalaya = _himalaya_available()
    tmp = tempfile.mkdtemp(prefix="predictivity-benchmark-", dir=workdir)
    rows: list[dict] = []
    try:
        gemm = run_worker(
            {"kind": "gemm", "threads": threads, "n": gemm_size},
            env=env,
            mem_limit=mem_limit,
            timeout=timeout,
        )
        if gemm.get("status") != "ok":
            raise RuntimeError(f"GEMM rate measurement failed: {gemm}")
        rates = gemm["rates"]
        kernel = gemm["blas_kernel"]
        log(
            f"GEMM rate ({threads} thread(s), OpenBLAS kernel {kernel}): "
            f"float32 {rates['float32']:.1f} GFLOP/s, float64 {rates['float64']:.1f} GFLOP/s; "
            f"address-space limit per run {mem_limit / 2**30:.1f} GiB"
        )
        for size in sizes:
            folder = os.path.join(tmp, size.name)
            os.makedirs(folder, exist_ok=True)
            t0 = time.perf_counter()
            paths = _make_data(size, folder, seed, n_folds)
            folds = _load_folds(paths["folds"])
            log(
                f"[{size.name}] data {size.P}×{size.M}×{size.N} ({size.kind}) in {time.perf_counter() - t0:.1f} s"
            )
            base = dict(
                size=size.name,
                P=size.P,
                M=size.M,
                N=size.N,
                blas_kernel=kernel,
                threads=threads,
                repeats=repeats,
            )
            if size.kind == "theory":
                rows += _theory_rows(
                    size,
                    paths,
                    base,
                    rates,
                    env,
                    mem_limit,
                    timeout,
                    repeats,
                    threads,
                    log,
                    gemm_size,
                )
                continue
            floor = regression_floor_flops(size.P, size.M, size.N, folds, n_alphas)
            size_rows = []
            for method in methods:
                for dtype in _method_dtypes(method, size, dtypes):
                    row = dict(
                        base,
                        stage="regression",
                        method=method,
                        dtype=dtype,
                        floor_gflop=floor / 1e9,
                        gflops_rate=rates[dtype],
                        gflops_rate_f64=rates["float64"],
                    )
                    skip = None
                    if method.startswith("himalaya") and not have_himalaya:
                        skip = "himalaya is not installed (pip install himalaya)"
                    elif method == "himalaya_ridgecv" and size.M > size.P - max(
                        len(f) for f in folds
                    ):
                        skip = (
                            "M > p: himalaya itself recommends KernelRidgeCV here (its RidgeCV "
                            "takes an SVD of X per inner fold; 184 s on A, measured once)"
                        )
                    if skip:
                        row.update(status="skipped", note=skip)
                        size_rows.append(row)
                        log(_row_line(row))
                        continue
                    alphas_out = os.path.join(folder, f"alphas-{method}-{dtype}.npy")
                    task = {
                        "kind": "regression",
                        "method": method,
                        "dtype": dtype,
                        "paths": paths,
                        "alphas": alphas.tolist(),
                        "repeats": repeats,
                        "threads": threads,
                        "alphas_out": alphas_out,
                        "gemm_n": min(gemm_size, 2000),
                    }
                    res = run_worker(task, env=env, mem_limit=mem_limit, timeout=timeout)
                    row.update(_result_fields(res, dtype))
                    if row["status"] == "ok":
                        row["alphas_path"] = alphas_out
                    if row["status"] == "out_of_memory" and method == "sklearn_ridgecv":
                        row["note"] = (
                            f"{row.get('note', '')} — under a {mem_limit / 2**30:.0f} GiB "
                            f"address-space limit; its coef_ alone needs M·N·8 B = "
                            f"{size.M * size.N * 8 / 1e9:.0f} GB"
                        ).strip(" —")
                    if row["status"] == "out_of_memory" and method == "himalaya_ridgecv":
                        row["note"] = (
                            f"{row.get('note', '')} — its coef_ alone needs M·N·"
                            f"{4 if dtype == 'float32' else 8} B = "
                            f"{size.M * size.N * (4 if dtype == 'float32' else 8) / 1e9:.0f} GB"
                        ).strip(" —")
                    size_rows.append(row)
                    log(_row_line(row))
                    if (
                        method == "sklearn_ridgecv"
                        and row["status"] == "out_of_memory"
                        and reference_targets
                        and reference_targets < size.N
                    ):
                        ref = dict(
                            base,
                            stage="regression",
                            method=method,
                            dtype=dtype,
                            N=reference_targets,
                            gflops_rate=rates[dtype],
                            gflops_rate_f64=rates["float64"],
                            floor_gflop=regression_floor_flops(
                                size.P, size.M, reference_targets, folds, n_alphas
                            )
                            / 1e9,
                        )
                        ref_out = os.path.join(folder, f"alphas-{method}-{dtype}-reference.npy")
                        res = run_worker(
                            dict(task, n_targets=reference_targets, alphas_out=ref_out),
                            env=env,
                            mem_limit=mem_limit,
                            timeout=timeout,
                        )
                        ref.update(_result_fields(res, dtype))
                        if ref["status"] == "ok":
                            ref["status"] = "reference_subset"
                            ref["alphas_path"] = ref_out
                            ref["note"] = (
                                f"first {reference_targets} targets only: the alpha "
                                f"reference for this size"
                            )
                        size_rows.append(ref)
                        log(_row_line(ref))
            _compare_alphas(size_rows)
            for row in size_rows:
                row.pop("alphas_path", None)
            rows += size_rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    df = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = np.nan
    df = df[COLUMNS]
    df["floor_seconds"] = df["floor_gflop"] * 1e9 / (df["gflops_rate"] * 1e9)
    df["ratio_to_floor"] = df["seconds"] / df["floor_seconds"]
    df["ratio_to_floor_f64"] = df["seconds"] / (df["floor_gflop"] / df["gflops_rate_f64"])
    df["ratio_to_ours"] = [_ratio_to_ours(df, r) for r in df.itertuples()]
    df["alphas_equal_sklearn"] = df["alphas_equal_sklearn"].astype("boolean")
    for col in ("P", "M", "N", "threads", "repeats"):
        df[col] = df[col].astype("int64")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    df.to_parquet(out, index=False)
    log("")
    log(_fmt(df))
    log(f"\nwrote {out} ({len(df)} rows) in {time.perf_counter() - t_start:.0f} s")
    return df


def _method_dtypes(method: str, size: Size, dtypes) -> list[str]:
    if method == "predictivity":
        return list(dtypes)
    if method == "sklearn_ridgecv":
        return ["float64"]  # scikit-learn computes in float64 whatever the input
    # himalaya keeps the input dtype: the float64 data where there is some, else float32
    return ["float32"] if size.kind == "memmap" else ["float64"]


def _result_fields(res: dict, dtype: str) -> dict:
    out = {"status": res.get("status", "failed"), "note": res.get("note", "")}
    for key in ("seconds", "peak_mb", "base_mb"):
        if key in res:
            out[key] = float(res[key])
    if "rates" in res:
        out["gflops_rate"] = float(res["rates"][dtype])
        out["gflops_rate_f64"] = float(res["rates"]["float64"])
    return out


def _row_line(row: dict) -> str:
    sec = row.get("seconds")
    sec_s = f"{sec:8.2f} s" if sec is not None and np.isfinite(sec) else "       — "
    peak = row.get("peak_mb")
    peak_s = f"{peak:7.0f} MB" if peak is not None and np.isfinite(peak) else "      — "
    note = f"  ({row['note']})" if row.get("note") else ""
    return f"  {row['method']:<24}{row['dtype']:<8}{row['status']:<17}{sec_s} {peak_s}{note}"


def _compare_alphas(rows: list[dict]) -> None:
    """Fill alphas_equal_sklearn / alpha_agreement against the scikit-learn rows of one size."""
    ref = None
    for row in rows:
        if row["method"] == "sklearn_ridgecv" and row.get("alphas_path"):
            ref = np.load(row["alphas_path"])
            if row["status"] == "ok":
                break
    for row in rows:
        if not row.get("alphas_path"):
            row["alphas_equal_sklearn"] = None
            continue
        if ref is None:
            row["alphas_equal_sklearn"] = None
            row["note"] = (row.get("note", "") + "; no scikit-learn reference").strip("; ")
            continue
        mine = np.load(row["alphas_path"])
        n = min(mine.shape[1], ref.shape[1])
        agree = float(np.mean(mine[:, :n] == ref[:, :n]))
        row["alpha_agreement"] = agree
        row["alphas_equal_sklearn"] = bool(agree == 1.0)
        if n < mine.shape[1]:
            row["note"] = (
                row.get("note", "") + f"; alphas checked on the first {n} targets"
            ).strip("; ")


def _ratio_to_ours(df: pd.DataFrame, r) -> float:
    ours = df[
        (df["size"] == r.size)
        & (df["method"] == "predictivity")
        & (df["stage"] == r.stage)
        & (df["status"] == "ok")
    ]
    if ours.empty or not np.isfinite(r.seconds):
        return float("nan")
    same = ours[ours["dtype"] == r.dtype]
    pick = same if not same.empty else ours[ours["dtype"] == "float64"]
    if pick.empty:
        return float("nan")
    return float(r.seconds / pick["seconds"].iloc[0])


def _theory_rows(
    size, paths, base, rates, env, mem_limit, timeout, repeats, threads, log, gemm_size=2000
):
    from predictivity.core.ridge import training_size
    from predictivity.core.theory import p_grid

    rows = []
    P, M, N = size.P, size.M, size.N
    for stage in ("spectra", "theory"):
        task = {
            "kind": stage,
            "method": "predictivity",
            "dtype": "float32",
            "paths": paths,
            "alphas": [1.0],
            "repeats": repeats,
            "threads": threads,
            "gemm_n": min(gemm_size, 2000),
        }
        res = run_worker(task, env=env, mem_limit=mem_limit, timeout=timeout)
        if stage == "spectra":
            floor = float(P) * P * M
        else:
            p_values = p_grid(P, include=(training_size(P, 5),))
            floor = theory_floor_flops(P, M, N, p_values)
        row = dict(
            base,
            stage=stage,
            method="predictivity",
            dtype="float32",
            floor_gflop=floor / 1e9,
            gflops_rate=rates["float32"],
            gflops_rate_f64=rates["float64"],
        )
        row.update(_result_fields(res, "float32"))
        row["alphas_equal_sklearn"] = None
        rows.append(row)
        log(f"  {stage:<10}" + _row_line(row))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m predictivity.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--sizes",
        default=DEFAULT_SIZES,
        help=f"comma-separated sizes (default {DEFAULT_SIZES}; or NAME=PxMxN[:kind])",
    )
    parser.add_argument("--out", default="results/benchmarks/regression.parquet")
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs per method")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads per run (default 1)")
    parser.add_argument("--n-alphas", type=int, default=20)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--dtypes", default="float32,float64", help="dtypes of our runs")
    parser.add_argument(
        "--mem-limit-gb",
        type=float,
        default=None,
        help="address-space limit of each run (default min(16, 75%% of RAM))",
    )
    parser.add_argument("--timeout", type=float, default=420.0, help="seconds per run")
    parser.add_argument(
        "--reference-targets",
        type=int,
        default=50,
        help="targets of the scikit-learn alpha reference where it runs out of memory",
    )
    parser.add_argument(
        "--keep-openblas-env",
        action="store_true",
        help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for the runs",
    )
    parser.add_argument(
        "--gemm-size", type=int, default=3000, help="matrix size of the GEMM rate measurement"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        _worker_main(args.worker)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` removes the data
    sizes = [parse_size(t) for t in args.sizes.split(",") if t.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; use {METHODS}")
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    run_benchmark(
        sizes,
        args.out,
        repeats=args.repeats,
        threads=args.threads,
        n_alphas=args.n_alphas,
        n_folds=args.folds,
        seed=args.seed,
        methods=methods,
        dtypes=dtypes,
        mem_limit_gb=args.mem_limit_gb,
        timeout=args.timeout,
        keep_openblas_env=args.keep_openblas_env,
        reference_targets=args.reference_targets,
        gemm_size=args.gemm_size,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
