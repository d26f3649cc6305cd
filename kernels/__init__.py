"""Compiled core of fastmlp (Numba kernels over flat arrays)."""
