"""Matrix operands inside flat buffers, as the kernels' products take them: each block at
an offset, its rows padded (a leading dimension wider than the block)."""



def flat_blocks(rng, dtype, m, n, k, trans_a, trans_b=False, pad=3, off=2):
    """``(a, lda, A), (b, ldb, B), (c, ldc, C)``: flat buffers holding op(A) (m, k), op(B)
    (k, n) and C (m, n) -- A stored (k, m) when ``trans_a``, B stored (n, k) when
    ``trans_b`` -- from element ``off`` on, and A, B, C the matrices op(A), op(B) and C as
    views of them."""
    a_rows, a_cols = (k, m) if trans_a else (m, k)
    b_rows, b_cols = (n, k) if trans_b else (k, n)
    lda, ldb, ldc = a_cols + pad, b_cols + pad, n + pad
    a = rng.standard_normal(off + a_rows * lda).astype(dtype)
    b = rng.standard_normal(off + b_rows * ldb).astype(dtype)
    c = rng.standard_normal(off + m * ldc).astype(dtype)
    A = a[off:].reshape(a_rows, lda)[:, :a_cols]
    B = b[off:].reshape(b_rows, ldb)[:, :b_cols]
    C = c[off:].reshape(m, ldc)
    return (a, lda, A.T if trans_a else A), (b, ldb, B.T if trans_b else B), (c, ldc, C)
