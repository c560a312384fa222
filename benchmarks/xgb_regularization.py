"""How ASRL's IRLS curvature (in (0, 1]) interacts with XGBoost's reg_lambda and
min_child_weight, measured.

The leaf value is ``-sum(g) / (sum(h) + reg_lambda)`` and a split needs
``sum(h) >= min_child_weight`` on each side. With squared error ``h = 1``, so the
defaults (1, 1) mean "one row's worth". With ASRL's ``h = psi(u)/u``, rows with large
residuals weigh less than one row. This script fits ASRLXGBRegressor on scikit-learn's
diabetes data (real, offline) with 0% and 20% gross outliers injected in the training
labels, 5-fold CV x 2 seeds, for several (reg_lambda, min_child_weight), and prints the
mean test R^2 on the clean test folds.

Run: ``python benchmarks/xgb_regularization.py``.
"""

from __future__ import annotations

import itertools

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold

from asrl.xgboost import ASRLXGBRegressor

SETTINGS = [(1.0, 1.0), (0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (5.0, 1.0)]


def main() -> None:
    X, y = load_diabetes(return_X_y=True)
    print("reg_lambda  min_child_weight  contamination  mean test R^2 (10 fits)")
    for contamination, (lam, mcw) in itertools.product((0.0, 0.2), SETTINGS):
        scores = []
        for seed in (0, 1):
            folds = KFold(5, shuffle=True, random_state=seed).split(X)
            for fold, (train, test) in enumerate(folds):
                rng = np.random.default_rng(100 * seed + fold)
                y_train = y[train].copy()
                bad = rng.random(len(train)) < contamination
                y_train[bad] += (
                    rng.choice([-1, 1], bad.sum()) * rng.uniform(3, 6, bad.sum()) * y.std()
                )
                model = ASRLXGBRegressor(
                    n_estimators=200,
                    max_depth=3,
                    learning_rate=0.05,
                    reg_lambda=lam,
                    min_child_weight=mcw,
                    n_jobs=1,
                )
                model.fit(X[train], y_train)
                scores.append(r2_score(y[test], model.predict(X[test])))
        print(f"{lam:10.1f}  {mcw:16.1f}  {contamination:13.1f}  {np.mean(scores):.4f}")


if __name__ == "__main__":
    main()
