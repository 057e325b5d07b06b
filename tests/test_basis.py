"""The shared per-layer basis (predictivity.core.basis): the matrices it holds are the ones each
stage computed on its own, every stage gives the same numbers with it as without it, and a stage
handed a basis forms no Gram of the layer and runs no eigh of its own."""

import io

import numpy as np
import pytest
import scipy.linalg

import predictivity.core.basis as basis_mod
from predictivity.core.basis import (
    StoredBases,
    bases_to_arrays,
    layer_basis,
)
from predictivity.core.controls.scoring import layer_controls
from predictivity.core.metrics.measures import score_metrics
from predictivity.core.ridge import cross_validated_ridge, make_folds, score_layers
from predictivity.core.spectra import layer_spectrum
from predictivity.core.theory import layer_theory
from predictivity.errors import InputError
from predictivity.fileio import write_npz


def _data(M, P=90, N=12, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((P, M)) * np.linspace(2.0, 0.1, M) + rng.uniform(-3, 3, M)).astype(
        dtype
    )
    Y = X[:, :N].astype(np.float64) @ rng.standard_normal((N, N)) + rng.standard_normal((P, N))
    return X, Y


@pytest.mark.parametrize("M", [200, 30])
def test_basis_holds_the_layers_matrices(M):
    X, _ = _data(M, dtype=np.float64)
    P = X.shape[0]
    folds = make_folds(P, 5, 0)
    b = layer_basis(X, folds)
    Xc = X - X.mean(axis=0)
    np.testing.assert_allclose(b.G, Xc @ Xc.T, rtol=1e-12, atol=1e-9)
    # eigendecomposition of G/P
    np.testing.assert_allclose((b.U * b.lam) @ b.U.T, Xc @ Xc.T / P, atol=1e-9)
    assert b.form == ("kernel" if M > P - min(len(f) for f in folds) else "covariance")
    for te, f in zip(folds, b.folds):
        tr = np.setdiff1d(np.arange(P), te)
        np.testing.assert_array_equal(f.te, np.sort(te))
        np.testing.assert_array_equal(f.tr, tr)
        Xt = X[tr] - X[tr].mean(axis=0)  # centred on the training fold
        K = Xt @ Xt.T
        np.testing.assert_allclose((f.Q * f.s) @ f.Q.T, K, atol=1e-8 * np.abs(K).max())
        np.testing.assert_allclose(f.Q.T @ f.Q, np.eye(len(tr)), atol=1e-10)
        assert f.trace == pytest.approx(np.trace(K), rel=1e-12)
        if b.form == "covariance":
            C = Xt.T @ Xt
            np.testing.assert_allclose((f.V * f.s_cov) @ f.V.T, C, atol=1e-8 * np.abs(C).max())
        else:
            assert f.V is None


def test_stored_bases_round_trip():
    X1, _ = _data(200)
    X2, _ = _data(30, seed=1)
    folds = make_folds(90, 4, 3)
    bases = {"conv/1": layer_basis(X1, folds), "fc": layer_basis(X2, folds)}
    buf = io.BytesIO()
    write_npz(buf, bases_to_arrays(bases))
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        stored = StoredBases(z)
        assert stored.names() == ["conv/1", "fc"] and len(stored) == 2
        assert stored.get("missing") is None and "fc" in stored
        for name, b in bases.items():
            r = stored.get(name)
            assert (r.form, r.n_units, r.dtype) == (b.form, b.n_units, b.dtype)
            np.testing.assert_array_equal(r.G, b.G)
            np.testing.assert_array_equal(r.U, b.U)
            for f, g in zip(b.folds, r.folds):
                np.testing.assert_array_equal(f.Q, g.Q)
                np.testing.assert_array_equal(f.s, g.s)
                assert f.trace == g.trace
                if f.V is not None:
                    np.testing.assert_array_equal(f.V, g.V)


def test_basis_of_other_folds_is_refused():
    X, Y = _data(200)
    b = layer_basis(X, make_folds(90, 5, 0))
    with pytest.raises(ValueError, match="other folds"):
        cross_validated_ridge(X, Y, make_folds(90, 5, 1), basis=b)


class _Counter:
    """Counts calls of the wrapped eigensolver / Gram function."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *a, **k):
        self.calls += 1
        return self.fn(*a, **k)


@pytest.fixture
def counters(monkeypatch):
    """Every eigh and every Gram formation reachable from the stages, counted."""
    import predictivity.core.controls.scoring as scoring
    import predictivity.core.gram as gram
    import predictivity.core.metrics.measures as measures
    import predictivity.core.ridge as ridge
    import predictivity.core.spectra as spectra
    import predictivity.core.theory as theory

    c = {
        "eigh": _Counter(scipy.linalg.eigh),
        "np_eigh": _Counter(np.linalg.eigh),
        "gram": _Counter(gram.centred_gram),
    }
    monkeypatch.setattr(scipy.linalg, "eigh", c["eigh"])
    monkeypatch.setattr(np.linalg, "eigh", c["np_eigh"])
    for mod in (gram, ridge, spectra, scoring, measures, basis_mod):
        if hasattr(mod, "centred_gram"):
            monkeypatch.setattr(mod, "centred_gram", c["gram"])
    del theory  # imports centred_gram from predictivity.core.gram inside the function
    return c


@pytest.mark.parametrize("M", [200, 30])
def test_stages_with_a_basis_equal_stages_without_and_redo_nothing(M, counters):
    X, Y = _data(M)
    P = X.shape[0]
    Yc = Y - Y.mean(axis=0)
    folds = make_folds(P, 5, 0)
    kw = dict(alphas=np.logspace(-3, 5, 12), alpha_scaling="trace")
    ctl = dict(gammas=(0.5, 1.0, 2.0), n_null=0, noise_units=0, **kw)
    own = {
        "ridge": cross_validated_ridge(X, Y, folds, kw["alphas"], "trace"),
        "spectrum": layer_spectrum(X, Yc),
        "theory": layer_theory(X, Yc, 0.01, folds),
        "controls": layer_controls(X, Y, folds, **ctl)[0],
        "metrics": score_metrics({"x": X}, Y, folds, enabled=["cka", "procrustes", "cca"]),
    }
    b = layer_basis(X, folds)
    for c in counters.values():
        c.calls = 0
    shared = {
        "ridge": cross_validated_ridge(X, Y, folds, kw["alphas"], "trace", basis=b),
        "spectrum": layer_spectrum(X, Yc, basis=b),
        "theory": layer_theory(X, Yc, 0.01, folds, basis=b),
        "controls": layer_controls(X, Y, folds, basis=b, **ctl)[0],
    }
    # no Gram of the layer and no eigendecomposition in the ridge, spectra, theory and controls
    assert {k: c.calls for k, c in counters.items()} == {"eigh": 0, "np_eigh": 0, "gram": 0}
    shared["metrics"] = score_metrics(
        {"x": X}, Y, folds, enabled=["cka", "procrustes", "cca"], bases={"x": b}
    )
    # the measures' own work is on the responses' side only: one Gram (of Y), the PCs of Y on
    # all stimuli and on each training fold
    assert counters["gram"].calls == 1
    assert counters["eigh"].calls == 1 + len(folds)

    for key in ("r2", "pearson_r", "alpha"):
        np.testing.assert_allclose(shared["ridge"][key], own["ridge"][key], rtol=1e-12)
    assert shared["spectrum"][0] == own["spectrum"][0]
    np.testing.assert_allclose(shared["spectrum"][1], own["spectrum"][1], rtol=1e-12)
    num = own["theory"].select_dtypes("number").columns
    np.testing.assert_allclose(shared["theory"][num], own["theory"][num], rtol=1e-9, atol=1e-12)
    num = own["controls"].select_dtypes("number").columns
    np.testing.assert_allclose(
        shared["controls"][num].astype(float), own["controls"][num].astype(float), rtol=1e-12
    )
    np.testing.assert_allclose(shared["metrics"]["score"], own["metrics"]["score"], rtol=1e-10)


def test_score_layers_fold_table_matches_the_layer_table():
    X, Y = _data(200)
    folds = make_folds(90, 5, 0)
    table, per_fold = score_layers({"a": X}, Y, folds, return_folds=True)
    assert len(per_fold) == len(folds) * Y.shape[1]
    mean_r2 = per_fold.groupby("target")["r2"].mean().to_numpy()
    np.testing.assert_allclose(table["r2"], mean_r2, rtol=1e-12)
    np.testing.assert_allclose(table["sse"], per_fold.groupby("target")["sse"].sum(), rtol=1e-12)


def test_stored_bases_of_other_folds_or_stimuli_are_one_error_naming_the_file():
    X, _ = _data(200)
    folds = make_folds(90, 4, 3)
    buf = io.BytesIO()
    write_npz(buf, bases_to_arrays({"a": layer_basis(X, folds)}))
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        assert StoredBases(z, "eigen.npz", folds).get("a").n_stimuli == 90  # its own folds: fine
        for other in (make_folds(90, 4, 4), make_folds(90, 5, 3), make_folds(95, 4, 3)):
            with pytest.raises(InputError, match="eigen.npz") as err:
                StoredBases(z, "eigen.npz", other).get("a")
            assert "Delete it and rerun" in str(err.value)
