"""scikit-learn's own MLP tests (sklearn/neural_network/tests/test_mlp.py) on fastmlp's estimators.

The installed scikit-learn's test file is copied into a temporary directory
with its import of MLPClassifier/MLPRegressor swapped for fastmlp.sklearn,
and run by pytest in a subprocess with scikit-learn's conftest.  Tests that
reach into scikit-learn's private internals are deselected (each with its
reason); those that fail for other reasons are listed as strict xfails, so
that fixing one turns this file red until it moves to the passing set.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

sklearn = pytest.importorskip("sklearn")

UPSTREAM = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
ORIGINAL_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"

#: Tests that use scikit-learn's private internals, which fastmlp's estimators do not have.
PRIVATE = {
    "test_fit": "builds the network by hand through private attributes (_initialize, "
                "_coef_grads, ...) before any fit",
    "test_gradient": "calls the private _loss_grad_lbfgs",
    "test_learning_rate_warmstart": "reads the private _optimizer.learning_rate",
    "test_adaptive_learning_rate": "reads the private _optimizer.learning_rate",
}

#: Tests that fail for reasons still to fix in fastmlp/sklearn/ (none today: the last six --
#: error texts, the stratified split's error, verbose lines, a diverging fit with early
#: stopping -- now behave as scikit-learn's).  A name added here runs as a strict xfail.
KNOWN_FAILURES = {}


@pytest.fixture(scope="module")
def upstream_copy(tmp_path_factory):
    if not UPSTREAM.exists():
        pytest.skip("the installed scikit-learn has no test_mlp.py")
    source = UPSTREAM.read_text()
    if ORIGINAL_IMPORT not in source:
        pytest.skip("scikit-learn's test_mlp.py imports the estimators differently")
    directory = tmp_path_factory.mktemp("upstream")
    path = directory / "test_mlp.py"
    path.write_text(source.replace(ORIGINAL_IMPORT,
                                   "from fastmlp.sklearn import MLPClassifier, MLPRegressor"))
    return path


def _pytest(path, *args):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "sklearn.conftest",
                           "-p", "no:cacheprovider", str(path), *args],
                          cwd=path.parent, capture_output=True, text=True, env=env,
                          timeout=900)


def test_upstream_suite_passes(upstream_copy):
    skipped = [*PRIVATE, *KNOWN_FAILURES]
    result = _pytest(upstream_copy, "-k", " and ".join(f"not {name}" for name in skipped))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


@pytest.mark.parametrize("name", sorted(KNOWN_FAILURES))
def test_known_upstream_failure(upstream_copy, name, request):
    request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[name]))
    result = _pytest(upstream_copy, "-k", name)
    assert result.returncode == 0, result.stdout[-3000:]
