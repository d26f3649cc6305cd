"""A NumPy random generator's exact state as JSON, and back (for checkpoints)."""

import numpy as np

__all__ = ["encode_generator", "encode_state", "decode_generator", "BIT_GENERATORS"]

#: The bit generators whose state can be restored.
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def encode_generator(rng):
    """The state of ``rng`` (a ``numpy.random.Generator``) as JSON-able values.

    Arrays are tagged with their dtype; Python integers stay whole (a PCG64
    state is a 128-bit integer).
    """
    return encode_state(rng.bit_generator.state)


def encode_state(state):
    """:func:`encode_generator` of a bit generator's ``state`` dict taken earlier."""
    def encode(value):
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        if isinstance(value, np.ndarray):
            return {"ndarray": value.tolist(), "dtype": value.dtype.name}
        return value.item() if isinstance(value, np.generic) else value

    return encode(state)


def decode_generator(state):
    """A ``numpy.random.Generator`` in the state :func:`encode_generator` gave.

    Raises
    ------
    ValueError
        An unknown bit generator or a malformed state.
    """
    def decode(value):
        if isinstance(value, dict) and set(value) == {"ndarray", "dtype"}:
            if value["dtype"] not in ("uint32", "uint64"):
                raise ValueError(f"generator state dtype {value['dtype']!r}")
            return np.array(value["ndarray"], dtype=value["dtype"])
        if isinstance(value, dict):
            return {k: decode(v) for k, v in value.items()}
        return value

    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in BIT_GENERATORS:
        raise ValueError(f"unsupported random generator {name!r}")
    bit_generator = getattr(np.random, name)()
    bit_generator.state = decode(state)
    return np.random.Generator(bit_generator)
