"""A guard for the sparse-input tests: fail if a sparse X of a given width is densified."""

import contextlib

import scipy.sparse as sp

#: The SciPy classes whose toarray/todense are guarded.
SPARSE_CLASSES = (sp.csr_matrix, sp.csr_array, sp.csc_matrix, sp.csc_array, sp.coo_matrix,
                  sp.coo_array)


@contextlib.contextmanager
def no_densifying(n_features):
    """Make ``toarray``/``todense`` raise for any sparse matrix of ``n_features`` columns.

    Only that width: scikit-learn's LabelBinarizer densifies sparse label
    matrices of its own, which have one column per class.
    """
    saved = []
    for cls in SPARSE_CLASSES:
        for name in ("toarray", "todense"):
            original = getattr(cls, name)

            def guarded(self, *args, _original=original, **kwargs):
                if self.shape[1] == n_features:
                    raise AssertionError(f"a sparse X ({self.shape}) was densified")
                return _original(self, *args, **kwargs)

            saved.append((cls, name, cls.__dict__.get(name)))
            setattr(cls, name, guarded)
    try:
        yield
    finally:
        for cls, name, own in reversed(saved):
            if own is None:
                delattr(cls, name)
            else:
                setattr(cls, name, own)
