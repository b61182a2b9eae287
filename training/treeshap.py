"""`TreeShap`: exact path-dependent TreeSHAP of a LightGBM booster, from tables made once per model.

LightGBM's `pred_contrib` runs the TreeSHAP recursion (Lundberg et al., 2020) for every row: for
each tree it extends and unwinds the path polynomials, O(leaves x depth^2) per tree and row. Here,
as in Fast TreeSHAP v2 (Yang, 2021), what depends on the model alone is computed once. For a leaf
with value v whose path tests the distinct features P (d of them; a feature tested twice counts
once, its cover fractions multiplied), feature i's share of v for a row is

    phi_i = v (o_i - z_i) / z_i * H(M \\ {i}),   H(N) = sum over S in N of w(|S|) prod_{j in P \\ S} z_j

where z_j is the share of the training rows that follow the path at feature j's tests (cover), o_j
is 1 when the row follows the path there, M is the set of path features the row follows and
w(k) = k! (d - k - 1)! / d! is the Shapley weight. H is tabulated per leaf over the 2^d subsets
of its path, so a row costs O(leaves x depth): its decisions at every node, one bit mask per
leaf, one table read per path feature. The sum is the same as LightGBM's to rounding (a test
holds it to 1e-9 of `pred_contrib`, categorical splits and missing values included).

The tables grow as 2^depth: a model whose tables would pass `max_entries` (deep trees) is
explained by LightGBM's own `pred_contrib`, which `contributions` then calls.
"""

from __future__ import annotations

import functools
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from math import factorial

import numpy as np

NONE, ZERO, NAN = 0, 1, 2  # LightGBM's missing types
MISSING = {"None": NONE, "Zero": ZERO, "NaN": NAN}
ZERO_BAND = float(np.float32(1e-35))  # LightGBM's kZeroThreshold: |x| at most this is "zero"
MIN_ROWS_PER_THREAD = 64  # a batch is split among threads only when each gets this many rows


@dataclass
class _Tree:
    """One tree's leaves as their paths: per leaf, (node, goes left) from the root, and the nodes."""

    leaves: list[tuple[float, float, list[tuple[int, bool]]]]  # (value, share of rows, path)
    bias: float


class TreeShap:
    """Exact TreeSHAP contributions of a LightGBM booster, laid out as `pred_contrib` returns them
    (one column per feature, then the expected value)."""

    def __init__(self, max_entries: int = 4_000_000):
        self.max_entries = max_entries

    def fit(self, booster) -> TreeShap:
        """Read the booster's trees and make the tables; `tabulated_` says whether they fit within
        `max_entries` (else `contributions` asks LightGBM)."""
        model = booster.dump_model()
        self.booster_ = booster
        self.n_features_ = int(model["max_feature_idx"]) + 1
        self._nodes: list[dict] = []
        trees = [self._tree(info["tree_structure"]) for info in model["tree_info"]]
        self.expected_value_ = float(sum(tree.bias for tree in trees))
        leaves = [leaf for tree in trees for leaf in tree.leaves]
        widths = [len({self._nodes[n]["split_feature"] for n, _ in path}) for _, _, path in leaves]
        self.table_entries_ = int(sum(2**d for d in widths))
        self.tabulated_ = self.table_entries_ <= self.max_entries
        if self.tabulated_:
            self._lay_out_nodes()
            self._lay_out_paths(leaves)
        return self

    def _tree(self, root: dict) -> _Tree:
        """The leaves of one tree with their paths; a one-leaf tree is its value, for every row."""
        if "split_index" not in root:
            return _Tree([], float(root["leaf_value"]))
        out: list = []
        stack = [(root, [], 1.0)]
        while stack:
            node, path, share = stack.pop()
            if "split_index" not in node:
                out.append((float(node["leaf_value"]), share, path))
                continue
            index = len(self._nodes)
            self._nodes.append(node)
            total = float(node["internal_count"])
            for child, left in ((node["left_child"], True), (node["right_child"], False)):
                count = child["internal_count"] if "split_index" in child else child["leaf_count"]
                stack.append((child, [*path, (index, left)], share * count / total))
        return _Tree(out, float(sum(value * share for value, share, _ in out)))

    def _lay_out_nodes(self) -> None:
        """Every split as arrays: feature, threshold, missing type, default side, and for
        categorical splits a row of a table saying which category codes go left."""
        nodes = self._nodes
        self._feature = np.array([n["split_feature"] for n in nodes], dtype=np.int64)
        self._missing = np.array([MISSING[n["missing_type"]] for n in nodes], dtype=np.int8)
        self._default_left = np.array([bool(n["default_left"]) for n in nodes])
        categorical = [i for i, n in enumerate(nodes) if n["decision_type"] == "=="]
        self._categorical = np.array(categorical, dtype=np.int64)
        sets = [[int(c) for c in str(nodes[i]["threshold"]).split("||")] for i in categorical]
        width = max((max(s) for s in sets), default=0) + 1
        self._left_codes = np.zeros((len(sets), width), dtype=bool)
        for row, codes in enumerate(sets):
            self._left_codes[row, codes] = True
        self._threshold = np.array(
            [np.nan if n["decision_type"] == "==" else float(n["threshold"]) for n in nodes], dtype=float
        )

    def _lay_out_paths(self, leaves: list) -> None:
        """Per *element* (a distinct feature on a leaf's path): its first test (node, goes left),
        leaf, bit in the leaf's mask, feature, cover share, leaf value / share and table offset;
        the further tests of a feature tested again on the path; and the tables."""
        first, more, element_leaf, element_feature, element_z, bits, tables = [], [], [], [], [], [], []
        for leaf, (_, _, path) in enumerate(leaves):
            by_feature: dict[int, list[tuple[int, bool]]] = {}
            shares: dict[int, float] = {}
            for node, left in path:
                feature = int(self._feature[node])
                child = self._nodes[node]["left_child" if left else "right_child"]
                count = child["internal_count"] if "split_index" in child else child["leaf_count"]
                by_feature.setdefault(feature, []).append((node, left))
                shares[feature] = shares.get(feature, 1.0) * count / self._nodes[node]["internal_count"]
            for bit, (feature, tests) in enumerate(by_feature.items()):
                more += [(len(first), node, left) for node, left in tests[1:]]
                first.append(tests[0])
                element_leaf.append(leaf)
                element_feature.append(feature)
                element_z.append(shares[feature])
                bits.append(1 << bit)
            tables.append([shares[f] for f in by_feature])
        leaf_of = np.array(element_leaf, dtype=np.int64)
        values = np.array([value for value, _, _ in leaves], dtype=float)
        z = np.array(element_z, dtype=float)
        tables = _laid_out(tables)
        offsets = np.concatenate([[0], np.cumsum([len(t) for t in tables])[:-1]]).astype(np.int64)
        category_row = np.full(len(self._nodes), -1, dtype=np.int64)
        category_row[self._categorical] = np.arange(len(self._categorical))
        self._arrays = (
            (self._feature, self._threshold, self._missing, self._default_left, category_row, self._left_codes),
            (
                np.array([node for node, _ in first], dtype=np.int64),
                np.array([left for _, left in first], dtype=bool),
                np.array([element for element, _, _ in more], dtype=np.int64),
                np.array([node for _, node, _ in more], dtype=np.int64),
                np.array([left for _, _, left in more], dtype=bool),
            ),
            (
                leaf_of,
                np.array(bits, dtype=np.int64),
                np.array(element_feature, dtype=np.int64),
                np.where(np.r_[leaf_of[1:] != leaf_of[:-1], True], 0, -1).astype(np.int64),  # 0 ends a leaf
            ),
            (z, values[leaf_of] / z, offsets[leaf_of], np.concatenate(tables) if tables else np.zeros(0)),
        )
        self.repeated_tests_ = len(more)  # tests of a feature already tested higher on the path

    def contributions(self, matrix: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Each row's contribution per feature, and the expected value last (`pred_contrib`'s
        layout), on `threads` threads (default: every core); by LightGBM when the tables did not
        fit."""
        matrix = np.ascontiguousarray(matrix, dtype=float)
        if not self.tabulated_:
            kwargs = {} if threads is None else {"num_threads": threads}
            return self.booster_.predict(matrix, pred_contrib=True, **kwargs)
        out = np.zeros((len(matrix), self.n_features_ + 1))
        out[:, -1] = self.expected_value_
        parts = min(threads or os.cpu_count() or 1, max(1, len(matrix) // MIN_ROWS_PER_THREAD))
        if parts <= 1:
            _kernel()(matrix, out, *self._arrays)
            return out
        bounds = np.linspace(0, len(matrix), parts + 1).astype(int)
        with ThreadPoolExecutor(parts) as pool:  # the kernel releases the GIL
            done = [pool.submit(_kernel(), matrix[a:b], out[a:b], *self._arrays) for a, b in itertools.pairwise(bounds)]
            for future in done:
                future.result()
        return out


def _rows(matrix, out, splits, tests, elements, shares):
    """The kernel (compiled by numba, `_kernel`), flat loops over arrays: for each row, its
    decision at every split as LightGBM makes it (`Tree::Decision`); whether it follows each
    element's tests; each leaf's mask; one table read per element."""
    feature, threshold, missing, default_left, category_row, left_codes = splits
    first_node, first_left, more_element, more_node, more_left = tests
    leaf_of, bit, element_feature, last = elements
    z, scale, offset, table = shares
    width = left_codes.shape[1]
    left = np.empty(len(feature), dtype=np.bool_)
    follows = np.empty(len(leaf_of), dtype=np.bool_)
    mask = np.empty(leaf_of[-1] + 1 if len(leaf_of) else 0, dtype=np.int64)
    for r in range(matrix.shape[0]):
        for k in range(len(feature)):
            x = matrix[r, feature[k]]
            if category_row[k] >= 0:  # NaN and negative codes go right
                left[k] = -1.0 < x < width and left_codes[category_row[k], int(x)]
                continue
            nan = np.isnan(x)
            if nan and missing[k] != NAN:
                x, nan = 0.0, False
            if (missing[k] == ZERO and abs(x) <= ZERO_BAND) or (missing[k] == NAN and nan):
                left[k] = default_left[k]
            else:
                left[k] = x <= threshold[k]
        # branch-free below: which way a row goes is data, not a pattern a CPU predicts
        follows[:] = True
        for j in range(len(more_element)):  # a feature tested again on the same path
            follows[more_element[j]] &= left[more_node[j]] == more_left[j]
        m = 0  # the mask so far of the leaf of element e: stored, never read back, in this loop
        for e in range(len(leaf_of)):
            f = follows[e] & (left[first_node[e]] == first_left[e])
            follows[e] = f
            m |= bit[e] * f
            mask[leaf_of[e]] = m
            m &= last[e]
        for e in range(len(leaf_of)):
            f = follows[e]
            h = table[offset[e] + (mask[leaf_of[e]] & ~(bit[e] * f))]  # H(M \\ {i}): M itself when i is not in M
            out[r, element_feature[e]] += scale[e] * (f - z[e]) * h


@functools.cache
def _kernel():
    """`_rows` compiled once per process (numba; cached on disk beside this module)."""
    from numba import njit

    return njit(cache=True, nogil=True)(_rows)


def _laid_out(paths: list[list[float]]) -> list[np.ndarray]:
    """Each path's table (`_tables`), made for all paths of one length at once."""
    out: list = [None] * len(paths)
    by_length: dict[int, list[int]] = {}
    for i, z in enumerate(paths):
        by_length.setdefault(len(z), []).append(i)
    for d, which in by_length.items():
        for i, table in zip(which, _tables(np.array([paths[i] for i in which]).reshape(len(which), d)), strict=True):
            out[i] = table
    return out


def _tables(z: np.ndarray) -> np.ndarray:
    """H(N) for every subset N of each path's d features (bit j of N: feature j), from the cover
    shares `z` (one path a row, d columns): sum over S in N of w(|S|) prod_{j not in S} z_j."""
    paths, d = z.shape
    weights = np.array([factorial(k) * factorial(d - k - 1) / factorial(d) for k in range(d)])
    # elementary symmetric polynomials e_m of the z in N, and the product of z outside N, by doubling
    symmetric = np.zeros((paths, 1, d + 1))
    symmetric[:, 0, 0] = 1.0
    outside = np.ones((paths, 1))
    for j in range(d):
        grown = symmetric.copy()
        grown[:, :, 1:] += z[:, j, None, None] * symmetric[:, :, :-1]
        symmetric = np.concatenate([symmetric, grown], axis=1)
        outside = np.concatenate([outside * z[:, j, None], outside], axis=1)
    size = np.zeros(1, dtype=np.int64)
    for _ in range(d):
        size = np.concatenate([size, size + 1])
    total = np.zeros((paths, 2**d))
    for k in range(d):  # |S| = k; the rest of N (|N| - k features) outside S contributes e_{|N|-k}
        m = size - k
        valid = np.flatnonzero(m >= 0)
        total[:, valid] += weights[k] * symmetric[:, valid, m[valid]]
    return outside * total
