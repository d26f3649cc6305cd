"""What every optimization method declares about itself: :class:`Solver`."""

__all__ = ["Solver"]


class Solver:
    """Base class of every optimization method: the capabilities the trainer asks about.

    The trainer, the callbacks, the checkpoints and the estimators read
    these attributes instead of testing for particular classes, so a new
    method declares what it can do here.
    """

    #: Meant for full batches only (Rprop, L-BFGS): the trainer warns about
    #: mini-batches, the estimators default to the full batch.
    full_batch = False
    #: Runs its own iterations over the whole objective (``minimize``)
    #: instead of taking steps inside the compiled training loop; it then
    #: needs a deterministic objective (no dropout or DropConnect) and a
    #: full batch, and one of its iterations counts as an epoch.
    minimizes = False
    #: Takes a learning-rate schedule.
    takes_schedule = True
    #: A checkpoint can resume it exactly (its whole state is inspectable).
    resumable = True

    #: Given a value per member of a population (:mod:`fastmlp.optim.members`): the
    #: population's size, else None
    n_members = None

    def check_single(self, what="a Model"):
        """Raise ValueError when the method holds values per member of a population."""

    def epoch_limit(self, epochs):
        """Most epochs a fit of ``epochs`` epochs runs with this method (progress displays).

        ``epochs`` itself, unless the method counts its own iterations (as
        L-BFGS does with ``max_iter``).
        """
        return epochs
