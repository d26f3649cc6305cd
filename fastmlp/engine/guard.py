"""Who may touch a model's parameters, and when: one fit at a time, reads between its steps.

A model's parameters change in place while it trains -- inside the compiled
loop, with the GIL released, for about half a second per call.  The rule,
for every model:

* **One fit at a time.**  :meth:`ParamGuard.fitting` makes a fit (or any
  training: ``Trainer.fit``, the estimators' ``fit``/``partial_fit``, a
  resumed checkpoint's fit) the model's owner until it ends; a second fit
  from another thread is refused at once with :class:`ConcurrentFitError`,
  before it changes anything, and the first goes on unaffected.  So is an
  optimizer step on those parameters (``opt.step(model.params, grad)``)
  from another thread while the fit runs.
* **Reads see whole steps.**  Every change of the parameters is a write
  (:meth:`writing`: a call of the compiled loop, an L-BFGS evaluation, a
  restore, an optimizer step).  ``predict``, ``evaluate`` and
  ``loss_and_grad`` read (:meth:`read`): a read that overlapped a write is
  done again once the write ends, so it sees the parameters before a call
  of steps or after it, never half-updated.  Reads take no lock and never
  wait for each other: concurrent predicts run side by side, each with its
  own workspace, and scale with the threads.

A guard is found from the parameter buffer alone (:func:`guard_of`), so that
an optimizer handed ``model.params`` follows the rule too.
"""

import threading
import weakref
from contextlib import contextmanager

from ..exceptions import ConcurrentFitError

__all__ = ["ParamGuard", "guard_of", "writing_to"]

#: The guard of each guarded parameter buffer, by the buffer's id; an entry
#: goes when its model's guard does.
_GUARDS = weakref.WeakValueDictionary()


def guard_of(params):
    """The :class:`ParamGuard` of a model's parameter buffer, or None for another array."""
    guard = _GUARDS.get(id(params))
    return guard if guard is not None and guard.params_id == id(params) else None


@contextmanager
def writing_to(params, what):
    """A write of ``params`` by code outside a fit (an optimizer step, a solver's iterate):
    refused while another thread's fit owns them, and seen whole by the reads."""
    guard = guard_of(params)
    if guard is None:
        yield
        return
    guard.check_not_fitted_elsewhere(what)
    with guard.writing():
        yield


class ParamGuard:
    """The rule above for one parameter buffer.

    Parameters
    ----------
    params : ndarray
        The buffer guarded (registered for :func:`guard_of`).
    """

    def __init__(self, params):
        self.params_id = id(params)
        self._changed = threading.Condition()
        # even: the parameters are at rest; odd: a write is running.  Reads
        # compare it before and after (a sequence lock): no lock on their path.
        self._version = 0
        self._writing = {}  # thread -> nested writes running in it
        self._pinned = 0  # reads being done again, holding writes off
        self._owner = None  # the thread whose fit owns the model
        _GUARDS[self.params_id] = self

    @contextmanager
    def fitting(self, what="fit"):
        """Own the model for a whole fit; :class:`ConcurrentFitError` if another fit does.

        The same thread may nest (a callback that continues training the
        model it is called from).
        """
        me = threading.get_ident()
        with self._changed:
            if self._owner is not None and self._owner != me:
                raise ConcurrentFitError(
                    f"this model is being trained by another thread; {what} refused (one fit "
                    "of a model at a time: wait for the other to end, or train model.copy())")
            nested = self._owner == me
            self._owner = me
        try:
            yield
        finally:
            if not nested:
                with self._changed:
                    self._owner = None

    def check_not_fitted_elsewhere(self, what):
        """:class:`ConcurrentFitError` when a fit in another thread owns the model."""
        owner = self._owner
        if owner is not None and owner != threading.get_ident():
            raise ConcurrentFitError(f"this model is being trained by another thread; {what} "
                                     "refused until that fit ends")

    @contextmanager
    def writing(self):
        """A change of the parameters: reads that overlap it are done again after it.

        Waits while a read that already overlapped one write is being done
        again (:meth:`read`), so a long read is never starved by a fit.
        """
        me = threading.get_ident()
        with self._changed:
            self._changed.wait_for(lambda: self._pinned == 0 or me in self._writing)
            self._writing[me] = self._writing.get(me, 0) + 1
            if sum(self._writing.values()) == 1:
                self._version += 1
        try:
            yield
        finally:
            with self._changed:
                self._writing[me] -= 1
                if not self._writing[me]:
                    del self._writing[me]
                if not self._writing:
                    self._version += 1
                    self._changed.notify_all()

    def read(self, compute):
        """``compute()`` on parameters at rest; once more, holding writes off, if a write
        overlapped it.

        The first try takes no lock (concurrent reads never wait for each
        other); a read inside a write of its own thread just computes.
        """
        version = self._version
        if not version & 1 or threading.get_ident() in self._writing:
            result = compute()
            if self._version == version or version & 1:
                return result
        with self._changed:  # a write overlapped: pin the parameters at rest
            self._changed.wait_for(lambda: not self._writing)
            self._pinned += 1
        try:
            return compute()
        finally:
            with self._changed:
                self._pinned -= 1
                self._changed.notify_all()
