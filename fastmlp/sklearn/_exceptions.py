"""The estimators' warning class: :class:`ConvergenceWarning`."""

from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning

from ..exceptions import ConvergenceWarning as _FastmlpConvergenceWarning

__all__ = ["ConvergenceWarning"]


class ConvergenceWarning(_SklearnConvergenceWarning, _FastmlpConvergenceWarning):
    """The solver stopped at ``max_iter`` (or L-BFGS at ``max_fun``) before converging.

    A subclass of both ``sklearn.exceptions.ConvergenceWarning`` and
    ``fastmlp.ConvergenceWarning``, so a filter on either catches it.
    """

    # the public path: reprs, documentation and pickles name fastmlp.sklearn
    __module__ = "fastmlp.sklearn"
