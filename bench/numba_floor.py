"""The least a Numba program compiles for case (b) of ``bench/cold_start.py``: a floor.

One epoch of 784-256-256-10 ReLU, softmax cross-entropy, Adam (weights
only), batch 128, float32, then a predict of 256 rows -- written to compile
as fast as Numba allows, not to run fast: one naive GEMM loop nest (its
rows over the threads, ``prange``) serves every product, and every other
step is a plain loop (no slicing assignments, array expressions or literal
flags, each of which Numba compiles at length).  No BLAS, no blocking, no
options, no checks.  ``python bench/cold_start.py --cases floor,b,jax``
times it cold beside fastmlp and JAX: what no Numba implementation of the
case can undercut.
"""

import numpy as np
from numba import njit, prange

OPTIONS = dict(cache=True, fastmath=True, error_model="numpy", nogil=True)


@njit(parallel=True, **OPTIONS)
def gemm(A, trans_a, B, trans_b, C, beta):
    # C (m, n) = beta C + op(A) op(B); one compiled loop nest for every product
    m, n = C.shape
    k = A.shape[0] if trans_a else A.shape[1]
    for i in prange(m):
        for j in range(n):
            C[i, j] *= beta
        for p in range(k):
            a = A[p, i] if trans_a else A[i, p]
            for j in range(n):
                C[i, j] += a * (B[j, p] if trans_b else B[p, j])


@njit(**OPTIONS)
def dense(A, W, b, out, relu):
    # out (rows, n_out) = act(A (rows, n_in) @ W (n_in, n_out) + b)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = b[j]
    gemm(A, np.bool_(False), W, np.bool_(False), out, np.float32(1.0))
    if relu:
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = max(out[i, j], np.float32(0.0))


@njit(**OPTIONS)
def relu_backward(D, H):
    for i in range(D.shape[0]):
        for j in range(D.shape[1]):
            if H[i, j] <= 0:
                D[i, j] = 0


@njit(**OPTIONS)
def adam(p, g, m, v, lr, c1, c2):
    p, g, m, v = p.ravel(), g.ravel(), m.ravel(), v.ravel()
    for k in range(p.size):
        m[k] = 0.9 * m[k] + 0.1 * g[k]
        v[k] = 0.999 * v[k] + 0.001 * g[k] * g[k]
        p[k] -= lr * (m[k] / c1) / (np.sqrt(v[k] / c2) + 1e-8)


@njit(**OPTIONS)
def predict(X, W1, b1, W2, b2, W3, b3, H1, H2, H3):
    dense(X, W1, b1, H1, np.bool_(True))
    dense(H1, W2, b2, H2, np.bool_(True))
    dense(H2, W3, b3, H3, np.bool_(False))


@njit(**OPTIONS)
def epoch(X, y, W1, b1, W2, b2, W3, b3, H0, H1, H2, H3, D1, D2, D3, G1, G2, G3, m1, m2, m3,
          v1, v2, v3, lr, batch):
    order = np.arange(X.shape[0])
    np.random.shuffle(order)  # noqa: NPY002  (Numba compiles the legacy API only)
    t = 0
    for start in range(0, X.shape[0] - batch + 1, batch):
        for i in range(batch):
            for j in range(X.shape[1]):
                H0[i, j] = X[order[start + i], j]
        predict(H0, W1, b1, W2, b2, W3, b3, H1, H2, H3)
        for i in range(batch):  # softmax cross-entropy, stable, mean over the batch
            top = H3[i, 0]
            for j in range(H3.shape[1]):
                top = max(top, H3[i, j])
            total = np.float32(0.0)
            for j in range(H3.shape[1]):
                D3[i, j] = np.exp(H3[i, j] - top)
                total += D3[i, j]
            for j in range(H3.shape[1]):
                D3[i, j] = D3[i, j] / total / batch
            D3[i, y[order[start + i]]] -= np.float32(1.0) / batch
        gemm(H2, np.bool_(True), D3, np.bool_(False), G3, np.float32(0.0))
        gemm(D3, np.bool_(False), W3, np.bool_(True), D2, np.float32(0.0))
        relu_backward(D2, H2)
        gemm(H1, np.bool_(True), D2, np.bool_(False), G2, np.float32(0.0))
        gemm(D2, np.bool_(False), W2, np.bool_(True), D1, np.float32(0.0))
        relu_backward(D1, H1)
        gemm(H0, np.bool_(True), D1, np.bool_(False), G1, np.float32(0.0))
        t += 1
        c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
        adam(W1, G1, m1, v1, lr, c1, c2)
        adam(W2, G2, m2, v2, lr, c1, c2)
        adam(W3, G3, m3, v3, lr, c1, c2)


def main():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4096, 784)).astype(np.float32)
    y = rng.integers(0, 10, 4096)
    sizes = [784, 256, 256, 10]
    weights = [(rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype(np.float32)
               for a, b in zip(sizes, sizes[1:])]
    biases = [np.zeros(b, np.float32) for b in sizes[1:]]
    layers = [a for pair in zip(weights, biases) for a in pair]
    outputs = [np.zeros((128, s), np.float32) for s in sizes]
    deltas = [np.zeros((128, s), np.float32) for s in sizes[1:]]
    grads, firsts, seconds = ([np.zeros_like(w) for w in weights] for _ in range(3))
    epoch(X, y, *layers, *outputs, *deltas, *grads, *firsts, *seconds, np.float32(1e-3), 128)
    rows = [np.zeros((256, s), np.float32) for s in sizes[1:]]
    predict(X[:256], *layers, *rows)


if __name__ == "__main__":
    main()
