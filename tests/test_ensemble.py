"""Tests for mlbook.ensemble, read as the claims of chapter 2 (ensemble learning)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import ensemble as sk
from sklearn.datasets import (load_breast_cancer, load_diabetes, load_digits, load_iris,
                              make_moons)
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import check_estimator
from threadpoolctl import threadpool_limits

from mlbook.ensemble import (
    AdaBoostClassifier,
    BaggingClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    StackingClassifier,
    adaboost_margin_bound,
    bias_variance_decomposition,
    bias_variance_difference,
    make_sine_boundary,
    sine_boundary_proba,
)

ALL_CLASSES = [BaggingClassifier, AdaBoostClassifier, GradientBoostingRegressor,
               GradientBoostingClassifier, StackingClassifier]
BOOSTERS = [AdaBoostClassifier, GradientBoostingRegressor, GradientBoostingClassifier]


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """The problems here are tiny: one BLAS thread beats two competing for a busy machine
    (LogisticRegression's fits in the stacking tests run several times faster)."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def moons():
    X, y = make_moons(400, noise=0.3, random_state=0)
    return train_test_split(X, y, test_size=0.5, random_state=0)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0)


# ---------------------------------------------------------------------------------------
# scikit-learn's own estimator checks
# ---------------------------------------------------------------------------------------
#: Checks scikit-learn skips by itself in this environment, whatever the estimator:
#: array-API input needs SCIPY_ARRAY_API=1 and array-api-compat (our estimators do not
#: claim array-API support), and the pandas check needs pandas, which the book does not
#: install. Any other skip, or any failure, fails the test.
ENVIRONMENT_SKIPS = {"check_array_api_input", "check_classifier_data_not_an_array",
                     "check_regressor_data_not_an_array"}

#: The instances checked: defaults for bagging and AdaBoost; fewer stages for gradient
#: boosting and two quick base learners for stacking keep the run short (the checks test
#: the API, which does not depend on these numbers).
CHECKED = [
    BaggingClassifier(),
    AdaBoostClassifier(),
    GradientBoostingRegressor(n_estimators=20),
    GradientBoostingClassifier(n_estimators=20),
    StackingClassifier([("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
                        ("naive_bayes", GaussianNB())], LogisticRegression(), cv=3),
]


@pytest.mark.parametrize("estimator", CHECKED, ids=lambda e: type(e).__name__)
def test_passes_sklearn_check_estimator(estimator):
    results = []

    def record(*, check_name, status, exception, **_):
        results.append((check_name, status, exception))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(estimator, on_fail=None, on_skip=None, callback=record)
    failed = [(name, exc) for name, status, exc in results if status == "failed"]
    skipped = {name for name, status, _ in results if status == "skipped"}
    assert len(results) > 40
    assert not failed, failed
    assert skipped <= ENVIRONMENT_SKIPS, skipped - ENVIRONMENT_SKIPS


# ---------------------------------------------------------------------------------------
# Agreement with scikit-learn
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", ["moons", "iris"])
def test_adaboost_samme_makes_the_same_predictions_as_sklearn(dataset, moons):
    if dataset == "moons":
        X_train, X_test, y_train, _ = moons
    else:  # three classes: SAMME's log(K - 1) term matters
        X, y = load_iris(return_X_y=True)
        X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.5, random_state=0)
    stump = DecisionTreeClassifier(max_depth=1)
    ours = AdaBoostClassifier(stump, n_estimators=60, learning_rate=0.5,
                              random_state=0).fit(X_train, y_train)
    theirs = sk.AdaBoostClassifier(stump, n_estimators=60, learning_rate=0.5,
                                   random_state=0).fit(X_train, y_train)
    np.testing.assert_array_equal(ours.predict(X_test), theirs.predict(X_test))
    np.testing.assert_allclose(ours.estimator_weights_,
                               theirs.estimator_weights_[:len(ours.estimators_)])
    np.testing.assert_allclose(ours.decision_function(X_test),
                               theirs.decision_function(X_test), atol=1e-12)
    np.testing.assert_allclose(ours.predict_proba(X_test), theirs.predict_proba(X_test),
                               atol=1e-12)


def test_gradient_boosting_regressor_r2_is_within_one_percent_of_sklearn():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    ours = GradientBoostingRegressor(n_estimators=100, learning_rate=0.1,
                                     random_state=0).fit(X_train, y_train)
    theirs = sk.GradientBoostingRegressor(n_estimators=100, learning_rate=0.1, max_depth=3,
                                          random_state=0).fit(X_train, y_train)
    r2_ours, r2_theirs = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    assert abs(r2_ours - r2_theirs) <= 0.01 * abs(r2_theirs)
    # in fact the same trees: squared loss leaves nothing to round differently
    np.testing.assert_allclose(ours.predict(X_test), theirs.predict(X_test), atol=1e-8)


@pytest.mark.parametrize("dataset", ["moons", "cancer"])
def test_gradient_boosting_classifier_accuracy_is_within_one_percent_of_sklearn(
        dataset, moons, cancer):
    X_train, X_test, y_train, y_test = moons if dataset == "moons" else cancer
    ours = GradientBoostingClassifier(n_estimators=100, learning_rate=0.1,
                                      random_state=0).fit(X_train, y_train)
    theirs = sk.GradientBoostingClassifier(n_estimators=100, learning_rate=0.1, max_depth=3,
                                           random_state=0).fit(X_train, y_train)
    acc_ours, acc_theirs = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    assert abs(acc_ours - acc_theirs) <= 0.01 * acc_theirs
    assert np.mean(ours.predict(X_test) == theirs.predict(X_test)) >= 0.99


def test_stacking_builds_the_same_stack_as_sklearn(cancer):
    X_train, X_test, y_train, _ = cancer
    learners = [("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
                ("logreg", make_pipeline(StandardScaler(), LogisticRegression())),
                ("naive_bayes", GaussianNB())]
    ours = StackingClassifier(learners, LogisticRegression(), cv=5).fit(X_train, y_train)
    theirs = sk.StackingClassifier(learners, LogisticRegression(), cv=5).fit(X_train, y_train)
    np.testing.assert_allclose(ours.transform(X_test), theirs.transform(X_test))
    np.testing.assert_allclose(ours.predict_proba(X_test), theirs.predict_proba(X_test),
                               atol=1e-6)


# ---------------------------------------------------------------------------------------
# The chapter's claims
# ---------------------------------------------------------------------------------------
def test_a_bootstrap_sample_leaves_out_about_one_in_e_points(moons):
    X_train, _, y_train, _ = moons
    bag = BaggingClassifier(n_estimators=200, random_state=0).fit(X_train, y_train)
    n = len(y_train)
    left_out = [np.mean(np.bincount(rows, minlength=n) == 0)
                for rows in bag.estimators_samples_]
    assert np.mean(left_out) == pytest.approx((1 - 1 / n) ** n, abs=0.01)   # eq. (2.4)
    assert (1 - 1 / n) ** n == pytest.approx(np.exp(-1), abs=0.002)


def test_out_of_bag_accuracy_estimates_test_accuracy(moons):
    X_train, X_test, y_train, y_test = moons
    bag = BaggingClassifier(n_estimators=100, oob_score=True,
                            random_state=0).fit(X_train, y_train)
    assert bag.oob_decision_function_.shape == (len(y_train), 2)
    assert not np.isnan(bag.oob_decision_function_).any()
    assert bag.oob_score_ == pytest.approx(bag.score(X_test, y_test), abs=0.05)


def test_bagging_cuts_the_variance_of_a_deep_tree_and_not_its_bias():
    X_test = np.random.RandomState(1).uniform([-3, -2], [3, 2], size=(300, 2))
    target = sine_boundary_proba(X_test)

    def draw(rng):
        return make_sine_boundary(200, random_state=rng)

    tree = bias_variance_decomposition(DecisionTreeClassifier(), draw, X_test, target,
                                       n_rounds=12, random_state=0, progress=False)
    bagged = bias_variance_decomposition(
        BaggingClassifier(DecisionTreeClassifier(), n_estimators=30), draw, X_test, target,
        n_rounds=12, random_state=0, progress=False)
    assert bagged.variance < 0.5 * tree.variance
    assert bagged.bias_squared == pytest.approx(tree.bias_squared, abs=0.02)


def test_bias_variance_terms_add_up_and_stumps_are_biased_deep_trees_vary():
    X_test = np.random.RandomState(1).uniform([-3, -2], [3, 2], size=(200, 2))
    target = sine_boundary_proba(X_test)

    def draw(rng):
        return make_sine_boundary(150, random_state=rng)

    stump = bias_variance_decomposition(DecisionTreeClassifier(max_depth=1), draw, X_test,
                                        target, n_rounds=10, random_state=0, progress=False)
    deep = bias_variance_decomposition(DecisionTreeClassifier(), draw, X_test, target,
                                       n_rounds=10, random_state=0, progress=False)
    for result in (stump, deep):                                             # eq. (2.20)
        assert result.error == pytest.approx(result.bias_squared + result.variance)
        assert result.predictions.shape == (10, 200)
    assert stump.bias_squared > 2 * deep.bias_squared
    assert deep.variance > 2 * stump.variance


def test_label_output_measures_disagreement_with_the_bayes_classifier():
    X_test = np.random.RandomState(1).uniform([-3, -2], [3, 2], size=(200, 2))
    bayes = (sine_boundary_proba(X_test) > 0.5).astype(float)

    def draw(rng):
        return make_sine_boundary(150, random_state=rng)

    result = bias_variance_decomposition(DecisionTreeClassifier(max_depth=3), draw, X_test,
                                         bayes, output="label", n_rounds=8, random_state=0,
                                         progress=False)
    assert set(np.unique(result.predictions)) <= {0.0, 1.0}
    disagreement = np.mean(result.predictions != bayes)     # (y_hat - y*)^2 is 0 or 1
    assert result.error == pytest.approx(disagreement)
    assert result.error == pytest.approx(result.bias_squared + result.variance)


def test_bias_variance_of_a_regressor_uses_its_predictions():
    rng = np.random.RandomState(0)
    X_test = np.linspace(0, 1, 50)[:, None]

    def draw(r):
        X = r.uniform(0, 1, (40, 1))
        return X, 2 * X[:, 0] + r.normal(0, 0.1, 40)

    result = bias_variance_decomposition(LinearRegression(), draw, X_test, 2 * X_test[:, 0],
                                         n_rounds=20, random_state=rng, progress=False)
    assert result.bias_squared < 1e-3            # a line fits a line: no bias
    assert 0 < result.variance < 0.01


def test_random_forest_is_bagging_with_feature_sampling(cancer):
    X_train, X_test, y_train, y_test = cancer
    forest = BaggingClassifier(DecisionTreeClassifier(max_features="sqrt"), n_estimators=50,
                               random_state=0).fit(X_train, y_train)
    reference = sk.RandomForestClassifier(n_estimators=50, random_state=0)
    reference.fit(X_train, y_train)
    assert forest.score(X_test, y_test) == pytest.approx(reference.score(X_test, y_test),
                                                         abs=0.02)


def test_random_subspace_learners_see_only_their_columns(cancer):
    X_train, X_test, y_train, _ = cancer
    bag = BaggingClassifier(n_estimators=5, max_features=0.2, random_state=0)
    bag.fit(X_train, y_train)
    assert all(len(cols) == 6 for cols in bag.estimators_features_)
    assert all(t.n_features_in_ == 6 for t in bag.estimators_)
    assert bag.predict(X_test).shape == (len(X_test),)


def test_pasting_without_bootstrap_gives_every_learner_all_rows(moons):
    X_train, _, y_train, _ = moons
    bag = BaggingClassifier(n_estimators=3, bootstrap=False, random_state=0)
    bag.fit(X_train, y_train)
    for rows in bag.estimators_samples_:
        np.testing.assert_array_equal(np.sort(rows), np.arange(len(y_train)))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_adaboost_reweighting_makes_the_last_learner_a_coin_flip(n_classes, moons):
    """After eq. (2.9) the learner just fitted has weighted error (K-1)/K: no better than
    guessing, so the next learner must find something new."""
    if n_classes == 2:
        X, y = moons[0], moons[2]
    else:
        X, y = load_iris(return_X_y=True)
    ada = AdaBoostClassifier(n_estimators=10, random_state=0).fit(X, y)
    for m in range(1, len(ada.estimators_)):
        wrong = ada.estimators_[m - 1].predict(X) != np.searchsorted(ada.classes_, y)
        weights = ada.sample_weights_[m]
        assert np.sum(weights[wrong]) / np.sum(weights) == pytest.approx(
            (n_classes - 1) / n_classes, abs=1e-9)


def test_adaboost_says_follow_the_samme_formula(moons):
    X_train, _, y_train, _ = moons
    ada = AdaBoostClassifier(n_estimators=5, learning_rate=0.7,
                             random_state=0).fit(X_train, y_train)
    err = ada.estimator_errors_
    np.testing.assert_allclose(ada.estimator_weights_,
                               0.7 * (np.log((1 - err) / err) + np.log(2 - 1)))  # eq. (2.8)
    np.testing.assert_allclose(ada.sample_weights_.sum(axis=1), 1.0)


def test_adaboost_stops_at_a_perfect_learner():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    ada = AdaBoostClassifier(n_estimators=10).fit(X, y)
    assert len(ada.estimators_) == 1
    np.testing.assert_array_equal(ada.predict(X), y)


def test_gradient_boosting_training_loss_falls_stage_by_stage(moons):
    X_train, _, y_train, _ = moons
    for model in (GradientBoostingClassifier(n_estimators=50),
                  GradientBoostingRegressor(n_estimators=50)):
        model.fit(X_train, y_train)
        assert np.all(np.diff(model.train_loss_) <= 1e-12)


def test_log_loss_gradient_is_label_minus_probability(moons):
    X_train, _, y_train, _ = moons
    model = GradientBoostingClassifier(n_estimators=1).fit(X_train, y_train)
    raw = np.full(len(y_train), model.init_)
    gradient, hessian = model.gradient_hessian(y_train.astype(float), raw)    # eq. (2.17)
    p = np.mean(y_train)
    np.testing.assert_allclose(model.init_, np.log(p / (1 - p)))
    np.testing.assert_allclose(gradient, y_train - p)
    np.testing.assert_allclose(hessian, p * (1 - p))


def test_newton_step_of_a_tree_is_gradient_over_hessian_in_each_leaf(moons):
    from sklearn.tree import DecisionTreeRegressor
    X_train, _, y_train, _ = moons
    model = GradientBoostingClassifier(n_estimators=1)
    y = y_train.astype(float)
    raw = np.linspace(-1.0, 1.0, len(y))                  # any current F, not a constant
    g, H = model.gradient_hessian(y, raw)
    rows = np.arange(0, len(y), 2)                         # fitted on every other point
    tree = DecisionTreeRegressor(max_depth=2, random_state=0).fit(X_train[rows], g[rows])
    step, update = model.newton_step(tree, X_train, rows, g, H)   # eq. (2.18)
    leaf = tree.apply(X_train)
    for node in np.unique(leaf[rows]):
        inside = rows[leaf[rows] == node]
        assert step[node] == pytest.approx(g[inside].sum() / H[inside].sum())
    np.testing.assert_allclose(update, step[leaf])
    # a learner without leaves gets one step for the whole stage: sum(g h) / sum(H h^2)
    line = LinearRegression().fit(X_train[rows], g[rows])
    one, update = model.newton_step(line, X_train, rows, g, H)
    h = line.predict(X_train)
    assert one == pytest.approx(np.sum(g[rows] * h[rows]) / np.sum(H[rows] * h[rows] ** 2))
    np.testing.assert_allclose(update, one * h)


def test_gradient_hessian_and_newton_step_refuse_bad_input(moons):
    X_train, _, y_train, _ = moons
    model = GradientBoostingRegressor()
    y = y_train.astype(float)
    with pytest.raises(ValueError, match="raw"):
        model.gradient_hessian(y, np.zeros(len(y) + 1))
    g, H = model.gradient_hessian(y, np.zeros(len(y)))
    with pytest.raises(TypeError, match="learner"):
        model.newton_step(None, X_train, np.arange(3), g, H)
    line = LinearRegression().fit(X_train, g)
    with pytest.raises(ValueError, match="rows"):
        model.newton_step(line, X_train, np.array([len(y)]), g, H)
    with pytest.raises(ValueError, match="H"):
        model.newton_step(line, X_train, np.arange(3), g, H[:-1])


def test_shrinkage_trades_stages_for_accuracy(moons):
    X_train, X_test, y_train, y_test = moons
    fast = GradientBoostingClassifier(n_estimators=200, learning_rate=1.0, random_state=0)
    slow = GradientBoostingClassifier(n_estimators=200, learning_rate=0.1, random_state=0)
    fast.fit(X_train, y_train)
    slow.fit(X_train, y_train)
    # with no shrinkage the training loss falls faster and the test log-loss (2.17)
    # suffers; accuracy on 200 test points would differ by a point or two, noise, while
    # the overfitted full steps' log-loss is several times larger
    assert fast.train_loss_[9] < slow.train_loss_[9]

    def test_log_loss(model):
        F = model.decision_function(X_test)
        return np.mean(np.logaddexp(0, F) - y_test * F)

    assert test_log_loss(slow) < 0.5 * test_log_loss(fast)


def test_gradient_boosting_takes_any_regressor_as_base_learner():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    boosted_lines = GradientBoostingRegressor(LinearRegression(), n_estimators=5,
                                              learning_rate=1.0).fit(X_train, y_train)
    line = LinearRegression().fit(X_train, y_train)
    # a line fitted to the residuals of a line is zero after the first stage: the sum of
    # lines is the least-squares line
    np.testing.assert_allclose(boosted_lines.predict(X_test), line.predict(X_test),
                               rtol=1e-6)
    assert isinstance(boosted_lines.steps_[0], float)


def test_staged_predictions_end_at_the_final_prediction(moons):
    X_train, X_test, y_train, _ = moons
    for model in (AdaBoostClassifier(n_estimators=15, random_state=0),
                  GradientBoostingClassifier(n_estimators=15),
                  GradientBoostingRegressor(n_estimators=15)):
        model.fit(X_train, y_train)
        stages = list(model.staged_predict(X_test))
        assert len(stages) == len(model.estimators_)
        np.testing.assert_array_equal(stages[-1], model.predict(X_test))


def test_in_sample_stacking_leaks_and_out_of_fold_stacking_does_not(cancer):
    X_train, X_test, y_train, y_test = cancer
    learners = [("deep tree", DecisionTreeClassifier(random_state=0)),
                ("logreg", make_pipeline(StandardScaler(), LogisticRegression())),
                ("15-NN", KNeighborsClassifier(15))]
    leaky = StackingClassifier(learners, cv="in-sample").fit(X_train, y_train)
    honest = StackingClassifier(learners, cv=5).fit(X_train, y_train)
    # the deep tree is perfect on its own training points, so the leaky meta-learner
    # trusts it most; out of fold it is the weakest and gets the least weight
    assert np.argmax(leaky.final_estimator_.coef_.ravel()) == 0
    assert np.argmin(honest.final_estimator_.coef_.ravel()) == 0
    # the leak costs several test points (the margin between out-of-fold and in-sample is
    # far more than the 1 in 171 that one split could flip); whether the honest stack beats
    # its best member is a one-point question on this split, so it is not tested here
    n_test = len(y_test)
    assert honest.score(X_test, y_test) - leaky.score(X_test, y_test) >= 3 / n_test
    logreg_accuracy = learners[1][1].fit(X_train, y_train).score(X_test, y_test)
    assert leaky.score(X_test, y_test) <= logreg_accuracy - 3 / n_test   # worse than a member


def test_stacking_handles_three_classes_and_every_stack_method():
    X, y = load_iris(return_X_y=True)
    for method in ("predict_proba", "decision_function", "predict"):
        learners = [("logreg", make_pipeline(StandardScaler(), LogisticRegression())),
                    ("tree", DecisionTreeClassifier(max_depth=2, random_state=0))]
        if method == "decision_function":
            learners = learners[:1]
        stack = StackingClassifier(learners, GaussianNB(), cv=3, stack_method=method)
        stack.fit(X, y)
        assert stack.transform(X).shape == (150, 3 * len(learners))
        assert stack.score(X, y) > 0.9


@pytest.mark.parametrize("make", [
    lambda: BaggingClassifier(n_estimators=5, random_state=3),
    lambda: AdaBoostClassifier(n_estimators=5, random_state=3),
    lambda: GradientBoostingClassifier(n_estimators=5, subsample=0.7, random_state=3),
    lambda: GradientBoostingRegressor(n_estimators=5, subsample=0.7, random_state=3),
    lambda: StackingClassifier(cv=3),
], ids=["bagging", "adaboost", "gb-classifier", "gb-regressor", "stacking"])
def test_the_same_seed_gives_the_same_model(make, moons):
    X_train, X_test, y_train, _ = moons
    first, second = make().fit(X_train, y_train), make().fit(X_train, y_train)
    method = "predict_proba" if hasattr(first, "predict_proba") else "predict"
    np.testing.assert_array_equal(getattr(first, method)(X_test),
                                  getattr(second, method)(X_test))


def test_a_different_seed_gives_a_different_bag(moons):
    X_train, X_test, y_train, _ = moons
    a = BaggingClassifier(n_estimators=5, random_state=0).fit(X_train, y_train)
    b = BaggingClassifier(n_estimators=5, random_state=1).fit(X_train, y_train)
    assert not np.array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_string_labels_come_back_as_strings(moons):
    X_train, X_test, y_train, _ = moons
    labels = np.array(["blue", "red"])[y_train]
    for model in (BaggingClassifier(n_estimators=3), AdaBoostClassifier(n_estimators=3),
                  GradientBoostingClassifier(n_estimators=3), StackingClassifier(cv=3)):
        assert set(model.fit(X_train, labels).predict(X_test)) <= {"blue", "red"}


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------
class NoFit:
    def predict(self, X):
        return np.zeros(len(X))


def _data():
    X, y = make_moons(40, noise=0.2, random_state=0)
    return X, y


@pytest.mark.parametrize("cls", ALL_CLASSES[:4])
@pytest.mark.parametrize("n_estimators", [0, -3])
def test_zero_or_negative_n_estimators_is_rejected(cls, n_estimators):
    X, y = _data()
    with pytest.raises(ValueError, match="n_estimators"):
        cls(n_estimators=n_estimators).fit(X, y)


@pytest.mark.parametrize("cls", BOOSTERS)
@pytest.mark.parametrize("learning_rate", [0.0, -0.1])
def test_learning_rate_must_be_positive(cls, learning_rate):
    X, y = _data()
    with pytest.raises(ValueError, match="learning_rate"):
        cls(learning_rate=learning_rate).fit(X, y)


@pytest.mark.parametrize("cls", ALL_CLASSES[:4])
def test_base_estimator_without_fit_is_rejected(cls):
    X, y = _data()
    with pytest.raises(ValueError, match="estimator"):
        cls(NoFit()).fit(X, y)


def test_stacking_rejects_bad_base_learners():
    X, y = _data()
    with pytest.raises(ValueError, match="fit and predict"):
        StackingClassifier([("bad", NoFit())]).fit(X, y)
    with pytest.raises(ValueError, match="final_estimator"):
        StackingClassifier(final_estimator=NoFit()).fit(X, y)
    with pytest.raises(ValueError, match="unique"):
        StackingClassifier([("a", GaussianNB()), ("a", GaussianNB())]).fit(X, y)
    with pytest.raises(ValueError, match="non-empty"):
        StackingClassifier([]).fit(X, y)
    with pytest.raises(ValueError, match="pairs"):
        StackingClassifier([GaussianNB()]).fit(X, y)


def test_adaboost_needs_a_base_learner_that_takes_sample_weight():
    X, y = _data()
    with pytest.raises(ValueError, match="sample_weight"):
        AdaBoostClassifier(KNeighborsClassifier()).fit(X, y)


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_predicting_before_fit_raises_not_fitted(cls):
    X, _ = _data()
    with pytest.raises(NotFittedError):
        cls().predict(X)


@pytest.mark.parametrize("cls", [BaggingClassifier, AdaBoostClassifier,
                                 GradientBoostingClassifier, StackingClassifier])
def test_labels_of_one_class_are_rejected(cls):
    X, _ = _data()
    with pytest.raises(ValueError, match="one class"):
        cls().fit(X, np.ones(len(X)))


def test_gradient_boosting_classifier_is_binary_only():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="Only binary classification"):
        GradientBoostingClassifier(n_estimators=2).fit(X, y)


def test_out_of_bag_needs_bootstrap():
    X, y = _data()
    with pytest.raises(ValueError, match="bootstrap"):
        BaggingClassifier(bootstrap=False, oob_score=True).fit(X, y)


def test_bias_variance_rejects_bad_arguments():
    X_test = np.zeros((5, 2))

    def draw(rng):
        return make_sine_boundary(30, random_state=rng)

    with pytest.raises(ValueError, match="n_rounds"):
        bias_variance_decomposition(GaussianNB(), draw, X_test, np.zeros(5), n_rounds=1)
    with pytest.raises(ValueError, match="same length"):
        bias_variance_decomposition(GaussianNB(), draw, X_test, np.zeros(4), n_rounds=3)
    with pytest.raises(ValueError, match="0 and 1"):
        bias_variance_decomposition(
            GaussianNB(), lambda rng: (draw(rng)[0], draw(rng)[1] + 1), X_test, np.zeros(5),
            n_rounds=2, progress=False)
    with pytest.raises(ValueError, match="fit and predict"):
        bias_variance_decomposition(NoFit(), draw, X_test, np.zeros(5))
    with pytest.raises(ValueError, match="output"):
        bias_variance_decomposition(GaussianNB(), draw, X_test, np.zeros(5), output="votes")
    with pytest.raises(ValueError, match="output"):
        bias_variance_decomposition(LinearRegression(), draw, X_test, np.zeros(5),
                                    output="label")


def test_sine_boundary_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_samples"):
        make_sine_boundary(0)
    with pytest.raises(ValueError, match="sharpness"):
        sine_boundary_proba(np.zeros((3, 2)), sharpness=-1.0)
    with pytest.raises(ValueError, match="shape"):
        sine_boundary_proba(np.zeros((3, 3)))


# ---------------------------------------------------------------------------------------
# Bias and variance: the debiased estimator, its standard errors, pairing, seeding
# ---------------------------------------------------------------------------------------
def _sine_draw(n):
    def draw(rng):
        return make_sine_boundary(n, random_state=rng)
    return draw


def test_debiased_bias_is_unbiased_where_the_plug_in_is_inflated_by_var_over_r():
    # a regressor with no bias at all: the true line, plus noise that does not depend on
    # the training set, so every f_hat_r = f + noise_r with variance sigma^2 = 0.01
    class NoisyTruth(LinearRegression):
        def fit(self, X, y):
            self.noise_ = np.random.RandomState(int(1e6 * abs(y[0])) % 2**31).normal(0, 0.1)
            return super().fit(X, y)

        def predict(self, X):
            return 2 * np.asarray(X)[:, 0] + self.noise_

    X_test = np.linspace(0, 1, 30)[:, None]

    def draw(rng):
        X = rng.uniform(0, 1, (20, 1))
        return X, 2 * X[:, 0] + rng.normal(0, 0.1, 20)

    R = 5
    plug_in, debiased = [], []
    for seed in range(200):
        r = bias_variance_decomposition(NoisyTruth(), draw, X_test, 2 * X_test[:, 0],
                                        n_rounds=R, random_state=seed, progress=False)
        plug_in.append(r.bias_squared_plugin)
        debiased.append(r.bias_squared)
        assert r.error == pytest.approx(r.bias_squared + r.variance)          # eq. (2.20)
    # E[plug-in] = sigma^2 / R = 0.002; E[debiased] = 0; the standard error of a mean of
    # 200 is below 0.0002 for both
    assert np.mean(plug_in) == pytest.approx(0.01 / R, rel=0.25)
    assert abs(np.mean(debiased)) < 0.0005


def test_standard_errors_shrink_like_one_over_root_r():
    X_test = np.random.RandomState(1).uniform([-3, -2], [3, 2], size=(100, 2))
    target = sine_boundary_proba(X_test)
    few, many = (bias_variance_decomposition(DecisionTreeClassifier(max_depth=3),
                                             _sine_draw(100), X_test, target, n_rounds=R,
                                             random_state=0, progress=False)
                 for R in (8, 32))
    for name in ("error_se", "bias_squared_se", "variance_se"):
        assert 0 < getattr(many, name) < getattr(few, name)
    assert many.error_se == pytest.approx(
        many.error_per_round.std(ddof=1) / np.sqrt(32))


def test_every_estimator_sees_the_same_training_sets():
    # a learner that draws random numbers of its own (bagging) must not shift the
    # training sets another learner sees: the paired comparison depends on it
    seen = {}

    def draw(rng):
        X, y = make_sine_boundary(60, random_state=rng)
        seen.setdefault("sets", []).append(X[0].copy())
        return X, y

    X_test = np.zeros((3, 2))
    for model in (GaussianNB(), BaggingClassifier(n_estimators=3)):
        bias_variance_decomposition(model, draw, X_test, np.zeros(3), n_rounds=4,
                                    random_state=5, progress=False)
    first, second = np.array(seen["sets"][:4]), np.array(seen["sets"][4:])
    np.testing.assert_array_equal(first, second)


def test_an_unseeded_tree_inside_a_stack_is_seeded_so_runs_repeat():
    X_test = np.random.RandomState(1).uniform([-3, -2], [3, 2], size=(150, 2))
    bayes = (sine_boundary_proba(X_test) > 0.5).astype(float)
    stack = StackingClassifier([("deep tree", DecisionTreeClassifier()),
                                ("15-NN", KNeighborsClassifier(15))], LogisticRegression())
    assert "deep tree__random_state" in stack.get_params(deep=True)
    runs = [bias_variance_decomposition(stack, _sine_draw(150), X_test, bayes,
                                        output="label", n_rounds=4, random_state=3,
                                        progress=False) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].predictions, runs[1].predictions)


def test_stacking_set_params_reaches_and_replaces_base_learners():
    stack = StackingClassifier([("tree", DecisionTreeClassifier()), ("nb", GaussianNB())])
    stack.set_params(tree__max_depth=2)
    assert stack.estimators[0][1].max_depth == 2
    stack.set_params(nb=KNeighborsClassifier(3))
    assert isinstance(dict(stack.estimators)["nb"], KNeighborsClassifier)


def test_paired_difference_is_the_difference_with_a_smaller_error_than_unpaired():
    X_test = np.random.RandomState(1).uniform([-3, -2], [3, 2], size=(200, 2))
    bayes = (sine_boundary_proba(X_test) > 0.5).astype(float)
    deep, bagged = (bias_variance_decomposition(model, _sine_draw(150), X_test, bayes,
                                                output="label", n_rounds=12, random_state=0,
                                                progress=False)
                    for model in (DecisionTreeClassifier(),
                                  BaggingClassifier(n_estimators=15)))
    d = bias_variance_difference(deep, bagged)
    assert d.error == pytest.approx(deep.error - bagged.error)
    assert d.bias_squared == pytest.approx(deep.bias_squared - bagged.bias_squared)
    assert d.variance == pytest.approx(deep.variance - bagged.variance)
    assert d.error_se < np.hypot(deep.error_se, bagged.error_se)
    assert d.variance > 2 * d.variance_se                 # bagging cuts the variance


def test_paired_difference_rejects_what_cannot_be_paired():
    X_test = np.zeros((4, 2))
    a = bias_variance_decomposition(GaussianNB(), _sine_draw(40), X_test, np.zeros(4),
                                    n_rounds=3, random_state=0, progress=False)
    b = bias_variance_decomposition(GaussianNB(), _sine_draw(40), X_test, np.zeros(4),
                                    n_rounds=4, random_state=0, progress=False)
    with pytest.raises(ValueError, match="paired"):
        bias_variance_difference(a, b)
    with pytest.raises(TypeError, match="BiasVariance"):
        bias_variance_difference(a, 0.5)


# ---------------------------------------------------------------------------------------
# AdaBoost's training-error bound and margins
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def boosted_digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y % 2, test_size=0.5,
                                                        random_state=0, stratify=y % 2)
    model = AdaBoostClassifier(DecisionTreeClassifier(max_depth=2), n_estimators=120,
                               random_state=0).fit(X_train, y_train)
    return model, X_train, y_train


def test_training_error_never_exceeds_the_product_bound(boosted_digits):
    model, X_train, y_train = boosted_digits
    bound = adaboost_margin_bound(model.estimator_errors_)                  # eq. (2.11)
    train_err = np.array([np.mean(p != y_train) for p in model.staged_predict(X_train)])
    assert np.all(train_err <= bound)
    assert np.all(np.diff(bound) < 0)           # every factor 2 sqrt(e(1 - e)) is below 1
    assert bound[-1] < 1 / len(y_train)         # so the training error must be zero
    assert train_err[-1] == 0


def test_margins_are_positive_exactly_where_the_vote_is_right(boosted_digits):
    model, X_train, y_train = boosted_digits
    for margin, labels in zip(model.staged_margins(X_train, y_train),
                              model.staged_predict(X_train)):
        assert np.all((margin >= -1) & (margin <= 1))
        right = labels == y_train
        assert np.all(margin[right] >= 0) and np.all(margin[~right] <= 0)


def test_margin_bound_holds_for_every_theta(boosted_digits):
    model, X_train, y_train = boosted_digits
    margins = list(model.staged_margins(X_train, y_train))
    for theta in (0.0, 0.05, 0.1, 0.2):
        bound = adaboost_margin_bound(model.estimator_errors_, theta)       # eq. (2.13)
        share = np.array([np.mean(m <= theta) for m in margins])
        assert np.all(share <= bound + 1e-12)


def test_margins_of_three_classes_match_the_vote():
    X, y = load_iris(return_X_y=True)
    model = AdaBoostClassifier(n_estimators=10, random_state=0).fit(X, y)
    margin = list(model.staged_margins(X, y))[-1]
    assert np.array_equal(margin > 0, model.predict(X) == y)


def test_margin_functions_reject_bad_arguments(boosted_digits):
    model, X_train, y_train = boosted_digits
    with pytest.raises(ValueError, match="one label per row"):
        next(model.staged_margins(X_train, y_train[:-1]))
    with pytest.raises(ValueError, match="not trained on"):
        next(model.staged_margins(X_train, y_train + 5))
    with pytest.raises(ValueError, match=r"\(0, 1/2\)"):
        adaboost_margin_bound([0.2, 0.6])
    with pytest.raises(ValueError, match="errors must hold at least 1 value"):
        adaboost_margin_bound([])
    with pytest.raises(ValueError, match="theta"):
        adaboost_margin_bound([0.2], theta=1.5)
