"""scikit-learn's own estimator checks on fastmlp.sklearn's estimators.

Every check passes: no ``expected_failed_checks`` are declared.  (Skips come
from optional packages -- pandas, array-API support -- and from checks of
methods the MLPs do not have, such as ``decision_function``.)
"""

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastmlp.sklearn import MLPClassifier, MLPRegressor

# The checks fit on tiny data sets for a few epochs on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# max_iter=100 is what scikit-learn's own test suite gives its MLPs for
# these checks; the small networks keep the whole file fast.
ESTIMATORS = [
    MLPClassifier(hidden_layer_sizes=(32,), max_iter=100),
    MLPRegressor(hidden_layer_sizes=(32,), max_iter=100),
    # L-BFGS takes its own path (full batch through scipy) and has no
    # partial_fit: check it too.
    MLPClassifier(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=100),
    MLPRegressor(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=100),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
