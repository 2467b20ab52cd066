"""scikit-learn's ``LinearSVC(C, class_weight="balanced")`` on one feature at a time, for every
code dimension and class at once: what SAP's discrete variant fits D x K times.

LinearSVC with ``dual=False`` (what ``dual="auto"``, the default from scikit-learn 1.5, picks for
N > 1 samples of one feature) minimizes, per one-vs-rest
class c,

    f(w, b) = (w^2 + b^2) / 2 + sum_i C_i max(0, 1 - y_i (w x_i + b))^2

with the bias regularized like a weight, C_i = C * weight_c on the positives and plain C on the rest
(liblinear's ``train_one(..., weighted_C[c], param->C)``; with two classes one problem, each side
weighted by its own class weight). liblinear stops its trust-region Newton method (TRON) at a
relative gradient of ~1e-6, early enough that the exact optimum moves some predictions; so TRON's
steps are replayed here (trust-region CG, radius updates, stopping rule), and the coefficients
agree with scikit-learn's to ~1e-12. With one feature, the samples inside a margin are a prefix or
suffix of the sorted feature, so f, its gradient and its (generalized) Hessian come from prefix
sums in O(log N) per problem instead of a pass over the data.
"""

from __future__ import annotations

import numpy as np


class _Sorted:
    """One code array sorted per dimension, with prefix sums, and per-class prefix sums for a
    factor."""

    def __init__(self, x: np.ndarray):
        self.n, self.d = x.shape
        order = np.argsort(x, axis=0, kind="stable")
        self.xs = np.take_along_axis(x, order, axis=0)
        self.rank = np.empty_like(order)
        np.put_along_axis(self.rank, order, np.arange(self.n)[:, None], axis=0)
        self.s1 = np.vstack([np.zeros(self.d), np.cumsum(self.xs, axis=0)])
        self.s2 = np.vstack([np.zeros(self.d), np.cumsum(self.xs**2, axis=0)])
        self.x = x

    def by_class(self, labels: np.ndarray, k: int) -> None:
        # Sorting integer keys (dimension, class, rank) groups each class's samples in feature
        # order.
        n = self.n
        key = (np.arange(self.d) * k * n)[None, :] + labels[:, None] * n + self.rank
        perm = np.argsort(key.ravel(), kind="stable")
        self.keys = key.ravel()[perm]
        xk = self.x.ravel()[perm]
        self.c1 = np.concatenate([[0.0], np.cumsum(xk)])
        self.c2 = np.concatenate([[0.0], np.cumsum(xk**2)])
        self.k = k

    def below(self, dim: np.ndarray, cls: np.ndarray, t: np.ndarray):
        """(count, sum x, sum x^2) of all samples, and of class ``cls``, with x < t in dimension
        dim."""
        r = np.empty(len(t), dtype=np.int64)
        for d in range(self.d):  # one searchsorted per code dimension over all its problems
            m = dim == d
            r[m] = np.searchsorted(self.xs[:, d], t[m], side="left")
        everyone = (r.astype(np.float64), self.s1[r, dim], self.s2[r, dim])
        base = dim * self.k * self.n + cls * self.n
        start = np.searchsorted(self.keys, base)
        stop = np.searchsorted(self.keys, base + r)
        same = (
            (stop - start).astype(np.float64),
            self.c1[stop] - self.c1[start],
            self.c2[stop] - self.c2[start],
        )
        return everyone, same


def _active_sums(s: _Sorted, dim, cls, w, b):
    """Sums over the samples inside their margin: positives with m < 1, negatives with m > -1."""
    inf = np.full_like(w, np.inf)
    safe = np.where(w == 0, 1.0, w)
    up = w >= 0  # positives active below t1, negatives above t2 (w = 0: all or none)
    t1 = np.where(w == 0, np.where(b < 1, inf, -inf), (1 - b) / safe)
    t2 = np.where(w == 0, np.where(b > -1, -inf, inf), (-1 - b) / safe)
    all1, cls1 = s.below(dim, cls, t1)
    all2, cls2 = s.below(dim, cls, t2)
    total_all, total_cls = s.below(dim, cls, inf)
    pos = [np.where(up, c, t - c) for c, t in zip(cls1, total_cls, strict=True)]
    neg_below = [a - c for a, c in zip(all2, cls2, strict=True)]
    neg_total = [a - c for a, c in zip(total_all, total_cls, strict=True)]
    neg = [np.where(up, t - nb, nb) for nb, t in zip(neg_below, neg_total, strict=True)]
    return pos, neg


def _objective(pos, neg, cp, cn, w, b):
    """f, gradient and generalized Hessian (entries ww, wb, bb) at (w, b) from the active sums."""
    (p0, p1, p2), (n0, n1, n2) = pos, neg
    f = 0.5 * (w**2 + b**2)
    f = f + cp * ((1 - b) ** 2 * p0 - 2 * (1 - b) * w * p1 + w**2 * p2)
    f = f + cn * ((1 + b) ** 2 * n0 + 2 * (1 + b) * w * n1 + w**2 * n2)
    gw = w + 2 * cp * (w * p2 + (b - 1) * p1) + 2 * cn * (w * n2 + (b + 1) * n1)
    gb = b + 2 * cp * (w * p1 + (b - 1) * p0) + 2 * cn * (w * n1 + (b + 1) * n0)
    hww = 1 + 2 * (cp * p2 + cn * n2)
    hwb = 2 * (cp * p1 + cn * n1)
    hbb = 1 + 2 * (cp * p0 + cn * n0)
    return f, np.stack([gw, gb]), np.stack([hww, hwb, hbb])


def _hv(h, v):
    return np.stack([h[0] * v[0] + h[1] * v[1], h[1] * v[0] + h[2] * v[1]])


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1]


def _trcg(delta, g, h):
    """liblinear's TRON::trcg: conjugate gradient on H s = -g inside the trust region ||s|| <=
    delta."""
    s = np.zeros_like(g)
    r = -g
    d = r.copy()
    cgtol = 0.1 * np.sqrt(_dot(g, g))
    rtr = _dot(r, r)
    live = np.ones(g.shape[1], dtype=bool)
    for _ in range(10):  # two unknowns: CG ends in two steps up to rounding
        live &= np.sqrt(_dot(r, r)) > cgtol
        if not live.any():
            break
        hd = _hv(h, d)
        alpha = np.where(live, rtr / np.where(live, _dot(d, hd), 1.0), 0.0)
        s_try = s + alpha * d
        out = live & (np.sqrt(_dot(s_try, s_try)) > delta)
        # Leaving the region: step to its boundary along d and stop.
        std, sts, dtd = _dot(s, d), _dot(s, s), _dot(d, d)
        dsq = delta**2
        rad = np.sqrt(np.maximum(std**2 + dtd * (dsq - sts), 0.0))
        tau = np.where(
            std >= 0,
            (dsq - sts) / np.where(out, std + rad, 1.0),
            (rad - std) / np.where(out, dtd, 1.0),
        )
        inside = live & ~out
        s = np.where(out, s + tau * d, np.where(inside, s_try, s))
        r = np.where(out, r - tau * hd, np.where(inside, r - alpha * hd, r))
        rnew = _dot(r, r)
        beta = rnew / np.where(inside, rtr, 1.0)
        d = np.where(inside, r + beta * d, d)
        rtr = np.where(inside, rnew, rtr)
        live &= ~out
    return s, r


def fit(
    x_train: np.ndarray,
    labels: np.ndarray,
    k: int,
    c: float = 0.01,
    tol: float = 1e-4,
    max_iter: int = 1000,
):
    """(w, b), each [D, P]: one-feature LinearSVCs per dimension; P = k classes (1 when k == 2).

    liblinear's trust-region Newton method (TRON) step for step, for all problems at once.
    """
    s = _Sorted(x_train)
    s.by_class(labels, k)
    n, d = x_train.shape
    count = np.bincount(labels, minlength=k)
    weight = n / (k * count)  # class_weight="balanced"
    classes = np.array([1]) if k == 2 else np.arange(k)
    dim = np.repeat(np.arange(d), len(classes))
    cls = np.tile(classes, d)
    cp = c * weight[cls]
    cn = c * (weight[0] if k == 2 else 1.0) * np.ones_like(cp)
    pos = count[cls]
    eps = tol * np.maximum(np.minimum(pos, n - pos), 1) / n  # liblinear's primal_solver_tol

    def evaluate(theta):
        return _objective(*_active_sums(s, dim, cls, theta[0], theta[1]), cp, cn, theta[0], theta[1])

    theta = np.zeros((2, len(dim)))
    f, g, h = evaluate(theta)
    delta = np.sqrt(_dot(g, g))
    gnorm1 = delta.copy()
    it = np.ones(len(dim), dtype=np.int64)
    search = np.sqrt(_dot(g, g)) > eps * gnorm1
    while search.any():
        step, r = _trcg(delta, g, h)
        new = theta + step
        gs = _dot(g, step)
        prered = -0.5 * (gs - _dot(step, r))
        fnew, gnew, hnew = evaluate(new)
        actred = f - fnew
        snorm = np.sqrt(_dot(step, step))
        delta = np.where(search & (it == 1), np.minimum(delta, snorm), delta)
        curv = fnew - f - gs
        alpha = np.where(curv <= 0, 4.0, np.maximum(0.25, -0.5 * gs / np.where(curv <= 0, 1.0, curv)))
        delta_new = np.select(
            [actred < 1e-4 * prered, actred < 0.25 * prered, actred < 0.75 * prered],
            [
                np.minimum(np.maximum(alpha, 0.25) * snorm, 0.5 * delta),
                np.maximum(0.25 * delta, np.minimum(alpha * snorm, 0.5 * delta)),
                np.maximum(0.25 * delta, np.minimum(alpha * snorm, 4.0 * delta)),
            ],
            np.maximum(delta, np.minimum(alpha * snorm, 4.0 * delta)),
        )
        delta = np.where(search, delta_new, delta)
        take = search & (actred > 1e-4 * prered)
        it = it + take
        theta = np.where(take, new, theta)
        f = np.where(take, fnew, f)
        g = np.where(take, gnew, g)
        h = np.where(take, hnew, h)
        stop = take & (np.sqrt(_dot(g, g)) <= eps * gnorm1)
        stop |= (np.abs(actred) <= 0) & (prered <= 0)
        stop |= (np.abs(actred) <= 1e-12 * np.abs(f)) & (np.abs(prered) <= 1e-12 * np.abs(f))
        search &= ~stop & (it <= max_iter)
    return theta[0].reshape(d, -1), theta[1].reshape(d, -1)


def fit_predict(
    x_train: np.ndarray, labels: np.ndarray, k: int, x_test: np.ndarray, c: float = 0.01
) -> np.ndarray:
    """Predicted class indices [M, D] of a LinearSVC fit on each column of x_train alone."""
    w, b = fit(x_train, labels, k, c)
    scores = x_test[:, :, None] * w + b  # [M, D, P]
    if k == 2:
        return (scores[:, :, 0] > 0).astype(np.int64)
    return scores.argmax(axis=2)
