"""How the threads of a team split work: contiguous shares of rows, units or elements.

The same thread count always gives the same shares, so results are
bit-reproducible for a fixed thread count.
"""

from .config import jit


@jit
def share(n, t, n_threads):
    """Bounds of thread t's contiguous share of n items."""
    return (n * t) // n_threads, (n * (t + 1)) // n_threads


@jit
def line_share(n, t, n_threads, line):
    """:func:`share`, with the inner cuts moved down to multiples of ``line`` items (a
    cache line's worth), so that no two threads write one line."""
    lo, hi = share(n, t, n_threads)
    lo = lo // line * line
    return lo, (hi if t == n_threads - 1 else hi // line * line)


@jit
def weight_slice(fan_in, fan_out, t, n_threads):
    """Which part of a (fan_in, fan_out) weight gradient thread t computes.

    Returns (by_rows, lo, hi): rows lo..hi when fan_in >= fan_out, else
    columns lo..hi.  Splitting the larger dimension keeps each thread's
    GEMM efficient.
    """
    if fan_in >= fan_out:
        lo, hi = share(fan_in, t, n_threads)
        return True, lo, hi
    lo, hi = share(fan_out, t, n_threads)
    return False, lo, hi
