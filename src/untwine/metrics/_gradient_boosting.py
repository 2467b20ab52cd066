"""scikit-learn's ``GradientBoostingClassifier()`` with its default settings, the learner behind
disentanglement_lib's DCI, re-implemented for speed and nothing else: the same trees, leaf values,
predictions and impurity importances, from presorted features instead of a sort at every node.

What it reproduces, rule by rule (scikit-learn's ``ensemble/_gb.py``, ``tree/_splitter.pyx``,
``tree/_partitioner.pyx``, ``tree/_criterion.pyx``, ``_loss/_loss.pyx.tp``):

- Features are cast to float32, as ``GradientBoostingClassifier.fit`` does; predictions cast the
  same way and go left when ``x <= threshold`` (compared in float64).
- Start: the classes' prior probabilities (``DummyClassifier(strategy="prior")``) clipped to
  [eps, 1 - eps], through the symmetric multinomial logit ``log(p / gmean(p))`` (one raw score per
  class), or the logit of the second class for two classes, which fit one tree per round.
- 100 rounds, learning rate 0.1, no subsampling. Each round, per class k, a regression tree on the
  negative gradient ``y_k - p_k`` (softmax of the raw scores with the maximum subtracted; two
  classes: scikit-learn's branch at raw > -37 of ``expit(raw) - y``).
- Trees: depth 3, leaves of >= 1 sample, a node splits when it has >= 2 samples and impurity
  (``sum y^2 / n - (sum y / n)^2``; a right child's by subtraction from its parent, as the criterion
  computes it) above float64's eps. Candidate splits lie between consecutive node values that
  differ by more than ``FEATURE_THRESHOLD`` = 1e-7 (float32 arithmetic), at the threshold
  ``a / 2 + b / 2`` in float64; the split maximizes ``S_l^2 / n_l + S_r^2 / n_r``, the proxy of
  squared-error decrease (scikit-learn 1.9; up to 1.8 the default ``friedman_mse`` proxy
  ``(n_r S_l - n_l S_r)^2 / (n_l n_r)``, n times the same decrease, so the same order of
  candidates up to rounding).
- Leaf values: one Newton step, ``mean(y - p) / mean(p (1 - p))`` (numpy's pairwise sums, to the
  last bit), times (K - 1) / K with K > 2 classes, 0 when the denominator is below 1e-150; the raw
  scores grow by 0.1 times it.
- Importances: per tree, the sum over its splits of ``n imp - n_l imp_l - n_r imp_r`` divided by the
  training size; averaged over the trees that split at all, then normalized to sum to 1.

Ties. Candidate splits whose gains are equal in exact arithmetic are common: in the first rounds
the gradient takes a few values, and in a node of a few samples every feature that isolates the
same sample gives the same gain. Which one scikit-learn keeps depends on the rounding of its sums
(in an order that a presorted implementation does not reproduce) and on its random feature order
(``random_state``, which disentanglement_lib leaves unset), and the choice shows in the scores:
the same partition of the training samples routes unseen test samples differently. The rules here
were chosen by measuring against scikit-learn: within a feature, a later threshold replaces the
best only when its gain is larger by a relative 1e-10, so the first of equal gains is kept, as
scikit-learn's forward scan mostly keeps it; across features, one of the features whose best gains
are bitwise equal is drawn uniformly (from ``seed``), as scikit-learn's random order draws it, and
credited with the split's importance. So the result equals ``GradientBoostingClassifier``'s where
no two splits tie (to ~1e-15), and elsewhere differs from any one of its random states about as
much as another random state would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy.special import logit
from scipy.stats import gmean

FEATURE_THRESHOLD = np.float32(1e-7)  # tree/_partitioner.pxd
TIE_TOLERANCE = 1e-10  # relative: equal gains summed in different orders differ by ~1e-15
EPSILON = float(np.finfo(np.float64).eps)  # tree/_tree.pyx: a node this pure is a leaf
MAX_DEPTH = 3
N_ESTIMATORS = 100
LEARNING_RATE = 0.1
_INTERNAL = 2**MAX_DEPTH - 1  # heap positions 0..6 can split; 7..14 are depth-3 leaves
_NODES = 2 ** (MAX_DEPTH + 1) - 1


@dataclass(frozen=True)
class BoostedTrees:
    """One fitted classifier: trees in heap layout (children of h at 2h + 1, 2h + 2)."""

    classes: np.ndarray  # [C] the class values, sorted
    init: np.ndarray  # [T] starting raw score per tree column (T = C, or 1 for two classes)
    feature: np.ndarray  # [rounds, T, 7] split feature, -1 where the node is a leaf
    threshold: np.ndarray  # [rounds, T, 7] float64
    value: np.ndarray  # [rounds, T, 15] leaf values (Newton steps, before the learning rate)
    importance: np.ndarray  # [D] feature_importances_
    raw_train: np.ndarray  # [N, T] raw scores of the training samples after the last round

    def decide(self, raw: np.ndarray) -> np.ndarray:
        """Class values from raw scores, as ``predict`` decides (binary: raw >= 0)."""
        if raw.shape[1] == 1:
            return self.classes[(raw[:, 0] >= 0).astype(np.int64)]
        return self.classes[np.argmax(raw, axis=1)]

    def predict(self, x: np.ndarray) -> np.ndarray:
        raw = _raw_predict(np.ascontiguousarray(x, dtype=np.float32), self.init, self.feature,
                           self.threshold, self.value, LEARNING_RATE)
        return self.decide(raw)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _negative_gradient(raw, labels, out):
    """y - p [T, N] per tree column and sample, with scikit-learn's arithmetic (_loss.pyx.tp)."""
    n, t_count = raw.shape
    if t_count == 1:
        for i in range(n):
            y = 1.0 if labels[i] == 1 else 0.0
            r = raw[i, 0]
            if r > -37.0:
                e = np.exp(-r)
                out[0, i] = -(((1.0 - y) - y * e) / (1.0 + e))
            else:
                out[0, i] = -(np.exp(r) - y)
        return
    p = np.empty(t_count)
    for i in range(n):
        top = raw[i, 0]
        for k in range(1, t_count):
            if top < raw[i, k]:
                top = raw[i, k]
        total = 0.0
        for k in range(t_count):
            p[k] = np.exp(raw[i, k] - top)
            total += p[k]
        for k in range(t_count):
            out[k, i] = -(p[k] / total - (1.0 if labels[i] == k else 0.0))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _pairwise_sum(a, start, n):
    """a[start:start + n].sum() to the last bit: numpy's pairwise summation (blocks of 8 up to
    128 values, halves beyond)."""
    if n < 8:
        res = 0.0
        for i in range(start, start + n):
            res += a[i]
        return res
    if n <= 128:
        r = a[start : start + 8].copy()
        i = 8
        while i < n - (n % 8):
            for j in range(8):
                r[j] += a[start + i + j]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            res += a[start + i]
            i += 1
        return res
    half = n // 2
    half -= half % 8
    return _pairwise_sum(a, start, half) + _pairwise_sum(a, start + half, n - half)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _grow_tree(x, order, x_sorted, g, reciprocal, node, leaf, feature, threshold, importance, buffers):
    """One depth-3 regression tree on the target g [N], level by level from the presorted
    features. Writes the split feature and threshold of heap nodes 0..6 (feature -1: a leaf), each
    sample's leaf (heap position) and the tree's unnormalized impurity importances (not yet
    divided by N).

    Each level scans every feature once in sorted order, node by node: the features' orders are
    kept partitioned by node (a stable partition after each level, dropping the samples of nodes
    that became leaves), so a node's samples are one contiguous, sorted run.
    """
    n, d_count = x.shape
    width = 2 ** (MAX_DEPTH - 1)
    count = np.zeros(_NODES, dtype=np.int64)  # samples, target sum and sum of squares per node
    total = np.zeros(_NODES)
    squares = np.zeros(_NODES)
    impurity = np.zeros(_NODES)
    splits = np.zeros(width, dtype=np.bool_)
    best_feature = np.empty(width, dtype=np.int64)
    best_threshold = np.empty(width)
    best_left = np.empty(width)
    candidate = np.empty((width, d_count))
    candidate_threshold = np.empty((width, d_count))
    candidate_left = np.empty((width, d_count))
    tied = np.empty(d_count, dtype=np.bool_)
    segment = np.zeros(width + 1, dtype=np.int64)  # node j's run: [segment[j], segment[j + 1])
    next_segment = np.zeros(width + 1, dtype=np.int64)
    cursor = np.empty(width, dtype=np.int64)
    side = np.empty(n, dtype=np.int64)  # 0 left, 1 right, -1 stays in a leaf
    order_a, sorted_a, order_b, sorted_b = buffers
    feature[:] = -1
    importance[:] = 0.0
    for i in range(n):  # the root, summed in sample order as the criterion does
        node[i] = 0
        leaf[i] = 0
        total[0] += g[i]
        squares[0] += g[i] * g[i]
    count[0] = n
    impurity[0] = squares[0] / n - (total[0] / n) ** 2
    segment[1] = n
    source_order, source_sorted = order, x_sorted
    for level in range(MAX_DEPTH):
        base = 2**level - 1
        nodes = 2**level
        any_split = False
        for j in range(nodes):
            splits[j] = count[base + j] >= 2 and impurity[base + j] > EPSILON
            any_split |= splits[j]
            best_feature[j] = -1
        if not any_split:
            break
        for f in range(d_count):
            for j in range(nodes):
                candidate[j, f] = -np.inf
                if not splits[j]:
                    continue
                node_total = total[base + j]
                node_count = count[base + j]
                run_sum = 0.0
                best = -np.inf
                best_at = 0
                best_sum = 0.0
                best_between = 0.0
                start = segment[j]
                last = source_sorted[f, start]
                for p in range(start, segment[j + 1]):
                    xv = source_sorted[f, p]
                    c = p - start
                    if c > 0 and xv > last + FEATURE_THRESHOLD:
                        right = node_total - run_sum
                        # Reciprocals from a table, cheaper than dividing; the winner is recomputed
                        # below as scikit-learn divides.
                        proxy = run_sum * run_sum * reciprocal[c] + right * right * reciprocal[node_count - c]
                        # The first of gains equal within rounding is kept, as scikit-learn's
                        # forward scan keeps it.
                        if proxy > best * (1.0 + TIE_TOLERANCE):
                            best = proxy
                            best_at = c
                            best_sum = run_sum
                            best_between = np.float64(last) / 2.0 + np.float64(xv) / 2.0
                    run_sum += g[source_order[f, p]]
                    last = xv
                if best > -np.inf:
                    right = node_total - best_sum
                    candidate[j, f] = best_sum * best_sum / best_at + right * right / (node_count - best_at)
                    candidate_threshold[j, f] = best_between
                    candidate_left[j, f] = best_sum
        for j in range(nodes):
            if not splits[j]:
                continue
            top = -np.inf
            for f in range(d_count):
                top = max(top, candidate[j, f])
            if top == -np.inf:
                continue
            # Equal gains (bitwise, as scikit-learn compares them): it keeps the one its random
            # feature order visits first; draw one alike.
            ties = 0
            for f in range(d_count):
                tied[f] = candidate[j, f] == top
                ties += tied[f]
            pick = np.random.randint(0, ties) if ties > 1 else 0  # noqa: NPY002 (numba's generator)
            for f in range(d_count):
                if tied[f]:
                    if pick == 0:
                        best_feature[j] = f
                        best_threshold[j] = candidate_threshold[j, f]
                        best_left[j] = candidate_left[j, f]
                    pick -= 1
        # Children statistics, then each sample's node one level down.
        child = base + nodes
        for i in range(n):
            j = node[i]
            side[i] = -1
            if j < 0:
                continue
            f = best_feature[j]
            if f < 0:  # not split (too small, pure, or every feature constant here): a leaf
                node[i] = -1
                continue
            k = 0 if np.float64(x[i, f]) <= best_threshold[j] else 1
            side[i] = k
            k += 2 * j
            count[child + k] += 1
            total[child + k] += g[i]
            squares[child + k] += g[i] * g[i]
            node[i] = k
            leaf[i] = child + k
        for j in range(nodes):
            h = base + j
            if best_feature[j] < 0:
                continue
            feature[h] = best_feature[j]
            threshold[h] = best_threshold[j]
            # The children's impurities as the criterion computes them (children_impurity), the
            # right one by subtraction from the parent: its rounding decides whether a pure child
            # (impurity ~1e-16) counts as pure, so it is kept.
            a, b = child + 2 * j, child + 2 * j + 1
            s_left = best_left[j]
            impurity[a] = squares[a] / count[a] - (s_left / count[a]) ** 2
            impurity[b] = (squares[h] - squares[a]) / count[b] - ((total[h] - s_left) / count[b]) ** 2
            importance[best_feature[j]] += (
                count[h] * impurity[h] - count[a] * impurity[a] - count[b] * impurity[b]
            )
        if level == MAX_DEPTH - 1:
            break
        # Stable partition of every feature's order into the children's runs (samples of nodes
        # that stayed leaves are dropped).
        target_order, target_sorted = (order_a, sorted_a) if level % 2 == 0 else (order_b, sorted_b)
        position = 0
        for k in range(2 * nodes):
            next_segment[k] = position
            position += count[child + k] if best_feature[k // 2] >= 0 else 0
        next_segment[2 * nodes] = position
        for f in range(d_count):
            for k in range(2 * nodes):
                cursor[k] = next_segment[k]
            for j in range(nodes):
                if best_feature[j] < 0:
                    continue
                for p in range(segment[j], segment[j + 1]):
                    i = source_order[f, p]
                    k = 2 * j + side[i]
                    target_order[f, cursor[k]] = i
                    target_sorted[f, cursor[k]] = source_sorted[f, p]
                    cursor[k] += 1
        segment[:] = next_segment[:]
        source_order, source_sorted = target_order, target_sorted


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _fit(x, order, x_sorted, labels, raw, rounds, learning_rate, seed):
    """The boosting loop. x [N, D] float32, order [D, N] each feature's stable argsort, x_sorted
    [D, N] its values, labels [N] class indices, raw [N, T] the starting raw scores (updated in
    place). Returns (feature, threshold, value, the importance sum over the trees that split, their
    number, raw)."""
    np.random.seed(seed)  # noqa: NPY002 (numba's generator, one per thread: the tie draws)
    n, d_count = x.shape
    t_count = raw.shape[1]
    multiclass = t_count > 1
    factor = (t_count - 1.0) / t_count if multiclass else 1.0
    feature = np.full((rounds, t_count, _INTERNAL), -1, dtype=np.int64)
    threshold = np.zeros((rounds, t_count, _INTERNAL))
    value = np.zeros((rounds, t_count, _NODES))
    importance = np.zeros(d_count)
    tree_importance = np.zeros(d_count)
    relevant = 0
    grad = np.empty((t_count, n))
    node = np.empty(n, dtype=np.int64)
    leaf = np.empty(n, dtype=np.int64)
    reciprocal = 1.0 / np.maximum(np.arange(n + 1), 1)
    buffers = (np.empty_like(order), np.empty_like(x_sorted), np.empty_like(order), np.empty_like(x_sorted))
    count = np.empty(_NODES, dtype=np.int64)
    offset = np.empty(_NODES, dtype=np.int64)
    fill = np.empty(_NODES, dtype=np.int64)
    gathered = np.empty(n)
    hessian = np.empty(n)
    for r in range(rounds):
        _negative_gradient(raw, labels, grad)
        for t in range(t_count):
            g = grad[t]
            _grow_tree(x, order, x_sorted, g, reciprocal, node, leaf, feature[r, t], threshold[r, t],
                       tree_importance, buffers)
            if feature[r, t, 0] >= 0:
                relevant += 1
                for f in range(d_count):
                    importance[f] += tree_importance[f] / n
            # Leaf values: one Newton step per leaf, from np.average's sums (pairwise, in sample
            # order): their last bits steer later near-ties, so they are reproduced exactly.
            count[:] = 0
            for i in range(n):
                count[leaf[i]] += 1
            start = 0
            for h in range(_NODES):
                offset[h] = start
                start += count[h]
            fill[:] = offset[:]
            positive = t if multiclass else 1
            for i in range(n):
                h = leaf[i]
                prob = (1.0 if labels[i] == positive else 0.0) - g[i]
                gathered[fill[h]] = g[i]
                hessian[fill[h]] = prob * (1.0 - prob)
                fill[h] += 1
            for h in range(_NODES):
                c = count[h]
                if c == 0:
                    continue
                numerator = _pairwise_sum(gathered, offset[h], c) / c * factor
                denominator = _pairwise_sum(hessian, offset[h], c) / c
                value[r, t, h] = 0.0 if abs(denominator) < 1e-150 else numerator / denominator
            for i in range(n):
                raw[i, t] += learning_rate * value[r, t, leaf[i]]
    return feature, threshold, value, importance, relevant, raw


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _raw_predict(x, init, feature, threshold, value, learning_rate):
    """Raw scores [M, T] of float32 samples x [M, D], summed round by round as predict does."""
    m = x.shape[0]
    rounds, t_count, _ = feature.shape
    raw = np.empty((m, t_count))
    for i in range(m):
        for t in range(t_count):
            raw[i, t] = init[t]
    for r in range(rounds):
        for t in range(t_count):
            for i in range(m):
                h = 0
                while h < _INTERNAL and feature[r, t, h] >= 0:
                    h = 2 * h + 1 if np.float64(x[i, feature[r, t, h]]) <= threshold[r, t, h] else 2 * h + 2
                raw[i, t] += learning_rate * value[r, t, h]
    return raw


def presort(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 codes [N, D], each feature's stable argsort [D, N] and sorted values [D, N]: shared
    by every factor's classifier."""
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    order = np.ascontiguousarray(np.argsort(x32, axis=0, kind="stable").T)
    return x32, order, np.take_along_axis(x32.T, order, axis=1)


def fit(sorted_codes: tuple[np.ndarray, np.ndarray, np.ndarray], y: np.ndarray,
        rounds: int = N_ESTIMATORS, seed: int = 0) -> BoostedTrees:
    """``GradientBoostingClassifier().fit(codes, y)`` from ``presort(codes)``; y any integer labels
    with at least two values."""
    x32, order, x_sorted = sorted_codes
    classes, labels = np.unique(y, return_inverse=True)
    prior = np.bincount(labels) / len(labels)
    eps = np.finfo(np.float64).eps
    prior = np.clip(prior, eps, 1 - eps)
    init = logit(prior[1:]) if len(classes) == 2 else np.log(prior / gmean(prior))
    feature, threshold, value, total, relevant, raw = _fit(
        x32, order, x_sorted, labels.astype(np.int64), np.tile(init, (len(labels), 1)), rounds,
        LEARNING_RATE, seed,
    )
    mean = total / relevant if relevant else total
    importance = mean / mean.sum() if relevant else np.zeros_like(total)
    return BoostedTrees(classes, init, feature, threshold, value, importance, raw)
