"""Alpha chosen by leave-one-group-out inside each training fold, against scikit-learn brute force
(Ridge refitted without each group) and on near-duplicates, where plain LOO leaks."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import LeaveOneGroupOut

from predictivity.core.ridge import cross_validated_ridge, make_folds


def _grouped_data(P=72, M=40, N=6, n_groups=12, seed=0):
    rng = np.random.default_rng(seed)
    groups = rng.permutation(np.arange(P) % n_groups)  # unequal order, equal sizes
    base = rng.standard_normal((n_groups, M)) * np.linspace(2, 0.2, M)
    X = base[groups] + 0.5 * rng.standard_normal((P, M)) + 3.0  # non-zero means
    W = rng.standard_normal((M, N)) * 0.3
    Y = X @ W + rng.standard_normal((n_groups, N))[groups] + rng.standard_normal((P, N)) + 1.0
    return X, Y, groups


def _brute_force(X, Y, folds, groups, alphas):
    """Per outer fold: for every alpha and every group of the training fold, sklearn Ridge refitted
    without that group predicts it; per target, the alpha of least summed squared error (first on
    ties); then Ridge(that alpha) on the whole training fold predicts the test fold."""
    P, N = Y.shape
    r2, chosen = [], []
    for te in folds:
        tr = np.setdiff1d(np.arange(P), te)
        err = np.zeros((len(alphas), N))
        for j, a in enumerate(alphas):
            for itr, ite in LeaveOneGroupOut().split(X[tr], Y[tr], groups[tr]):
                m = Ridge(alpha=a, fit_intercept=True).fit(X[tr][itr], Y[tr][itr])
                err[j] += ((Y[tr][ite] - m.predict(X[tr][ite])) ** 2).sum(axis=0)
        best = np.argmin(err, axis=0)
        pred = np.empty((len(te), N))
        for n in range(N):
            m = Ridge(alpha=alphas[best[n]], fit_intercept=True).fit(X[tr], Y[tr][:, n])
            pred[:, n] = m.predict(X[te])
        y = Y[te]
        r2.append(1 - ((y - pred) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0))
        chosen.append(alphas[best])
    return np.mean(r2, axis=0), np.array(chosen)


@pytest.mark.parametrize("M", [200, 25], ids=["kernel_M>p", "covariance_M<p"])
def test_leave_one_group_out_equals_sklearn_brute_force(M):
    X, Y, groups = _grouped_data(M=M)
    folds = make_folds(len(groups), 4, seed=3, groups=groups)
    alphas = np.logspace(-2, 5, 8)
    r2, chosen = _brute_force(X, Y, folds, groups, alphas)
    from predictivity.core.ridge import _cross_validated_ridge

    out, per_fold = _cross_validated_ridge(X, Y, folds, alphas, groups=groups)
    np.testing.assert_array_equal(per_fold, chosen)
    np.testing.assert_allclose(out["r2"], r2, rtol=0, atol=1e-8)
    assert (out["alpha_cv"] == "leave_one_group_out").all()
    # both forms agree, and the scores differ from plain LOO (the test is not vacuous)
    other = cross_validated_ridge(
        X, Y, folds, alphas, groups=groups, form="covariance" if M > 60 else "kernel"
    )
    np.testing.assert_array_equal(other["alpha"], out["alpha"])
    np.testing.assert_allclose(other["r2"], out["r2"], rtol=0, atol=1e-8)
    loo = cross_validated_ridge(X, Y, folds, alphas, groups=groups, alpha_cv="loo")
    assert (loo["alpha_cv"] == "loo").all()
    assert not np.array_equal(loo["alpha"], out["alpha"])


def test_singleton_groups_are_plain_loo_and_float32_agrees():
    X, Y, _ = _grouped_data(M=150)
    P = len(X)
    folds = make_folds(P, 5, seed=0)
    plain = cross_validated_ridge(X, Y, folds)
    single = cross_validated_ridge(X, Y, folds, groups=np.arange(P))
    np.testing.assert_array_equal(plain["alpha"], single["alpha"])
    np.testing.assert_array_equal(plain["r2"], single["r2"])
    assert (single["alpha_cv"] == "loo").all()
    X, Y, groups = _grouped_data(M=150, seed=4)
    folds = make_folds(P, 4, seed=0, groups=groups)
    a64 = cross_validated_ridge(X, Y, folds, groups=groups)
    a32 = cross_validated_ridge(X.astype(np.float32), Y, folds, groups=groups)
    assert np.max(np.abs(a64["r2"] - a32["r2"])) <= 1e-4
    with pytest.raises(ValueError, match="alpha_cv"):
        cross_validated_ridge(X, Y, folds, groups=groups, alpha_cv="kfold")
    with pytest.raises(ValueError, match="one label per stimulus"):
        cross_validated_ridge(X, Y, folds, groups=groups[:-1])


def _near_duplicates(seed, n_groups=20, n_copies=15, M=12, N=50):
    """20 source stimuli × 15 near-duplicates (jitter 0.1 of the source's s.d.); responses = a
    linear readout of the features + a noise shared by the copies of a source (s.d. 0.5, what a
    model cannot predict for a new source) + a little noise per copy."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n_groups, M))
    groups = np.repeat(np.arange(n_groups), n_copies)
    X = base[groups] + 0.1 * rng.standard_normal((len(groups), M))
    W = rng.standard_normal((M, N)) / np.sqrt(M)
    Y = X @ W + 0.5 * rng.standard_normal((n_groups, N))[groups]
    Y += 0.05 * rng.standard_normal(Y.shape)
    return X, Y, groups


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouped_selection_beats_loo_on_near_duplicates(seed):
    X, Y, groups = _near_duplicates(seed)
    folds = make_folds(len(groups), 5, seed=0, groups=groups)
    loo = cross_validated_ridge(X, Y, folds, groups=groups, alpha_cv="loo")
    grp = cross_validated_ridge(X, Y, folds, groups=groups)

    def pooled(df):
        return 1 - df["sse"].sum() / df["sst"].sum()

    # LOO finds the 14 copies of a left-out stimulus in its training set and picks a small alpha
    # that memorises the shared noise; new sources then are predicted worse than by their mean
    assert grp["alpha"].median() > 3 * loo["alpha"].median()
    assert pooled(grp) > 0.1
    assert pooled(grp) > pooled(loo) + 0.25
    assert grp["r2"].median() > loo["r2"].median() + 0.25


def _inner_cv_sse(Xtr, Ytr, groups_tr, alpha):
    """Σ of the squared held-out residuals of sklearn Ridge(alpha) refitted without each group
    (each stimulus when groups_tr is None) of the training fold."""
    labels = np.arange(len(Xtr)) if groups_tr is None else groups_tr
    err = np.zeros(Ytr.shape[1])
    for itr, ite in LeaveOneGroupOut().split(Xtr, Ytr, labels):
        m = Ridge(alpha=alpha, fit_intercept=True).fit(Xtr[itr], Ytr[itr])
        pred = m.predict(Xtr[ite]).reshape(len(ite), -1)
        err += ((Ytr[ite] - pred) ** 2).sum(axis=0)
    return err


@pytest.mark.parametrize("search", ["bounded", "exhaustive"])
@pytest.mark.parametrize("grouped", [False, True], ids=["loo", "logo"])
@pytest.mark.parametrize("M", [200, 25], ids=["kernel_M>p", "covariance_M<p"])
def test_fold_reports_the_inner_cv_error_at_the_chosen_alpha(M, grouped, search):
    from predictivity.core.ridge import ridge_cv_fold

    X, Y, groups = _grouped_data(P=48, M=M, N=5, n_groups=8, seed=5)
    te = make_folds(len(groups), 4, seed=1, groups=groups)[0]
    tr = np.setdiff1d(np.arange(len(groups)), te)
    alphas = np.logspace(-2, 5, 8)
    Xc = X - X.mean(axis=0)
    res = ridge_cv_fold(
        Xc, Y, tr, np.sort(te), alphas, loo_search=search, groups=groups if grouped else None
    )
    assert res.grouped == grouped
    Ytr = Y[tr]
    np.testing.assert_allclose(res.cv_sst, ((Ytr - Ytr.mean(0)) ** 2).sum(0), rtol=1e-12)
    g_tr = groups[tr] if grouped else None
    brute = np.array(
        [_inner_cv_sse(X[tr], Ytr[:, [n]], g_tr, a)[0] for n, a in enumerate(res.alpha)]
    )
    np.testing.assert_allclose(res.cv_sse, brute, rtol=1e-8)
    # the minimum over the grid: no alpha has a smaller inner-CV error
    every = np.array([_inner_cv_sse(X[tr], Ytr, g_tr, a) for a in alphas])
    np.testing.assert_allclose(res.cv_sse, every.min(axis=0), rtol=1e-8)
    assert np.all(res.cv_sse < res.cv_sst * 2)  # same units as the variance (not scaled by α)
