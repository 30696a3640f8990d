"""Chapter 2: the from-scratch ensembles of ``mlbook.ensemble`` against scikit-learn's.

For each of the five estimators this fits ours and scikit-learn's with the same settings
on the same training set, alternating the two, ``--repeats`` times, and prints

* the median fit time of ours as a ratio to scikit-learn's (> 1 means ours is slower),
* how often the two predict the same class on the test set (classifiers), or the largest
  difference between their predictions (the regressor),
* the test accuracy (classifiers) or R^2 (the regressor) of each.

Both run with one BLAS thread (the problems are tiny, and a shared machine makes threaded
timings noisy). Data: scikit-learn's bundled breast-cancer set (569 x 30, two classes) for the
classifiers and its diabetes set (442 x 10) for the regressor, 70/30 split, seed 0.
Nothing is downloaded. Run with ``python benchmarks/ensemble_vs_sklearn.py``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn import ensemble as sk
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from mlbook import ensemble as ours


def stacking_learners():
    return [("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
            ("logreg", make_pipeline(StandardScaler(), LogisticRegression())),
            ("naive_bayes", GaussianNB())]


def pairs():
    """(name, task, our estimator, scikit-learn's estimator) with the same settings."""
    tree = DecisionTreeClassifier()
    stump = DecisionTreeClassifier(max_depth=1)
    return [
        ("BaggingClassifier (50 trees)", "clf",
         ours.BaggingClassifier(tree, n_estimators=50, random_state=0),
         sk.BaggingClassifier(tree, n_estimators=50, random_state=0)),
        ("AdaBoostClassifier (SAMME, 100 stumps)", "clf",
         ours.AdaBoostClassifier(stump, n_estimators=100, random_state=0),
         sk.AdaBoostClassifier(stump, n_estimators=100, random_state=0)),
        ("GradientBoostingRegressor (100 x depth 3)", "reg",
         ours.GradientBoostingRegressor(n_estimators=100, learning_rate=0.1, random_state=0),
         sk.GradientBoostingRegressor(n_estimators=100, learning_rate=0.1, max_depth=3,
                                      random_state=0)),
        ("GradientBoostingClassifier (100 x depth 3)", "clf",
         ours.GradientBoostingClassifier(n_estimators=100, learning_rate=0.1, random_state=0),
         sk.GradientBoostingClassifier(n_estimators=100, learning_rate=0.1, max_depth=3,
                                       random_state=0)),
        ("StackingClassifier (tree, logreg, NB; 5 folds)", "clf",
         ours.StackingClassifier(stacking_learners(), LogisticRegression(), cv=5),
         sk.StackingClassifier(stacking_learners(), LogisticRegression(), cv=5)),
    ]


def fit_time(estimator, X, y) -> float:
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start


def main(repeats: int = 5) -> list[dict]:
    warnings.simplefilter("ignore")  # LogisticRegression's ConvergenceWarning on raw data
    threadpool_limits(limits=1)      # tiny problems: one BLAS thread, the same for both
    data = {}
    for task, loader in (("clf", load_breast_cancer), ("reg", load_diabetes)):
        X, y = loader(return_X_y=True)
        data[task] = train_test_split(X, y, test_size=0.3, random_state=0)

    rows = []
    for name, task, mine, theirs in pairs():
        X_train, X_test, y_train, y_test = data[task]
        t_mine, t_theirs = [], []
        for _ in range(repeats):                       # side by side, alternating
            t_mine.append(fit_time(mine, X_train, y_train))
            t_theirs.append(fit_time(theirs, X_train, y_train))
        p_mine, p_theirs = mine.predict(X_test), theirs.predict(X_test)
        row = {"name": name, "task": task,
               "ratio": float(np.median(t_mine) / np.median(t_theirs)),
               "ms_ours": 1e3 * float(np.median(t_mine)),
               "ms_sklearn": 1e3 * float(np.median(t_theirs)),
               "score_ours": mine.score(X_test, y_test),
               "score_sklearn": theirs.score(X_test, y_test)}
        if task == "clf":
            row["agreement"] = f"{np.mean(p_mine == p_theirs):.1%} same class"
        else:
            row["agreement"] = f"max |diff| {np.max(np.abs(p_mine - p_theirs)):.2g}"
        rows.append(row)

    print(f"{'estimator':48s} {'fit ours':>9s} {'sklearn':>9s} {'ratio':>6s}  "
          f"{'test score ours / sklearn':>26s}  agreement on the test set")
    for r in rows:
        metric = "acc" if r["task"] == "clf" else "R^2"
        print(f"{r['name']:48s} {r['ms_ours']:7.1f}ms {r['ms_sklearn']:7.1f}ms "
              f"{r['ratio']:5.2f}x  {metric} {r['score_ours']:.4f} / {r['score_sklearn']:.4f}"
              f"     {r['agreement']}")
    print(f"(median of {repeats} fits each; breast cancer n_train = {len(data['clf'][2])}, "
          f"n_test = {len(data['clf'][3])}; diabetes n_train = {len(data['reg'][2])}, "
          f"n_test = {len(data['reg'][3])})")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fits per estimator (5)")
    main(parser.parse_args().repeats)
