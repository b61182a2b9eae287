"""`Trees` gives LightGBM's own margin (to 1e-12) and `pred_contrib` (to 1e-9), whatever the trees hold."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from training.trees import Trees


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows with what LightGBM's splits treat apart: a categorical code column (with unseen,
    negative and fractional codes), missing values, exact zeros, and a label that needs them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[:, 0] = rng.integers(0, 12, n)  # a category code
    x[rng.random(n) < 0.15, 1] = np.nan
    x[rng.random(n) < 0.2, 2] = 0.0
    logit = (x[:, 0] % 3 == 0) * 1.5 + np.nan_to_num(x[:, 1]) - 2 * (x[:, 2] == 0) + x[:, 3] * x[:, 4]
    return x, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)


@pytest.fixture(scope="module")
def scored_rows():
    """Rows to explain, unlike the training rows: codes never seen, negative or fractional,
    missing values where training had none, zeros, and very large values."""
    x, _ = _rows(400, seed=2)
    x[:20, 0] = [-1, -0.5, 0.5, 11.9, 12, 40, 1e12, np.nan, *range(12)]
    x[20:30, 3] = np.nan
    x[30:40, 2] = [0.0, -0.0, 1e-36, -1e-36, 1e-30, np.nan, 1e300, -1e300, np.inf, -np.inf]
    return x


def _kinds(booster) -> set[str]:
    """What the booster's splits are: "==" (categorical) and each missing type."""
    found, stack = set(), [t["tree_structure"] for t in booster.dump_model()["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_index" in node:
            found |= {node["decision_type"], node["missing_type"]}
            stack += [node["left_child"], node["right_child"]]
    return found


@pytest.mark.parametrize(
    ("params", "kinds"),
    [
        (dict(num_leaves=31, min_child_samples=5), {"==", "NaN", "None"}),  # deep: features tested again
        (dict(num_leaves=7, zero_as_missing=True), {"Zero"}),  # zeros (and NaN) take the default side
        (dict(num_leaves=15, use_missing=False), {"None"}),  # NaN is read as zero
        (dict(num_leaves=4, max_depth=2, min_gain_to_split=1e9), set()),  # one leaf: the expected value only
    ],
    ids=["deep", "zero-missing", "no-missing", "one-leaf"],
)
def test_contributions_equal_lightgbms_pred_contrib(params, kinds, scored_rows):
    x, y = _rows(3_000, seed=1)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "seed": 3, "max_cat_to_onehot": 2, **params},
        lgb.Dataset(x, y, categorical_feature=[0]),
        num_boost_round=40,
    )
    expected = booster.predict(scored_rows, pred_contrib=True)
    assert kinds <= _kinds(booster)  # the splits this case is about are in the trees
    shap = Trees().fit(booster)
    assert shap.tabulated_
    assert shap.repeated_tests_ > 0 or params["num_leaves"] < 31
    margin = booster.predict(scored_rows, raw_score=True)
    for threads in (1, 2):
        got = shap.contributions(scored_rows, threads=threads)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
        np.testing.assert_allclose(shap.margin(scored_rows, threads=threads), margin, rtol=0, atol=1e-12)
    one = np.vstack([shap.contributions(row[None, :], threads=1) for row in scored_rows[:50]])
    np.testing.assert_allclose(one, expected[:50], rtol=0, atol=1e-9)  # one row alone = in a batch


def test_a_model_whose_tables_would_not_fit_is_explained_by_lightgbm(scored_rows):
    x, y = _rows(3_000, seed=1)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 31}, lgb.Dataset(x, y), 10)
    shap = Trees(max_entries=100).fit(booster)
    assert not shap.tabulated_
    np.testing.assert_allclose(
        shap.contributions(scored_rows), booster.predict(scored_rows, pred_contrib=True), rtol=0, atol=1e-12
    )


def test_a_booster_of_averaged_trees_is_left_to_lightgbm(scored_rows):
    """A random forest averages its trees: the compiled sum would be wrong, so LightGBM answers."""
    x, y = _rows(3_000, seed=1)
    params = {"objective": "binary", "verbose": -1, "boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.5}
    booster = lgb.train(params, lgb.Dataset(x, y), 10)
    trees = Trees().fit(booster)
    assert not trees.compiled_ and not trees.tabulated_
    np.testing.assert_allclose(trees.margin(scored_rows), booster.predict(scored_rows, raw_score=True), rtol=0, atol=0)


def test_the_served_models_contributions_are_lightgbms(trained):
    """The session's model on its own feature rows (the categories it learnt, unseen ones as NaN)."""
    model = trained["model"]
    from features.build import build_features
    from features.contract import load_dataset

    data = load_dataset(trained["data"])
    features = build_features(data.leads.head(500), data.events, "2026-01-01T00:00:00Z")
    matrix = model.matrix(features)
    np.testing.assert_allclose(
        model.contributions(matrix), model.booster.predict(matrix, pred_contrib=True), rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(model.margin(matrix), model.booster.predict(matrix, raw_score=True), rtol=0, atol=1e-12)
