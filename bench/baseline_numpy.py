"""The NumPy baseline: the same training as fastmlp, written as vectorised NumPy.

This is what a careful NumPy user writes from the lecture notes' matrix form
(row form ``A_l = f(A_{l-1} W_l + b_l)``): one matrix product per layer and
direction through NumPy's BLAS, vectorised element-wise operations with
preallocated buffers and in-place updates, the same initial weights, the same
mini-batch order and the same Adam rule as fastmlp.  It is the reference
users compare against, so it is kept honest: no deliberate slowness, and no
tricks beyond what the NumPy documentation teaches.
"""

import numpy as np


class NumpyMLP:
    """ReLU hidden layers, softmax output, mean cross-entropy, Adam."""

    def __init__(self, weights, biases, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.W = [np.array(w) for w in weights]
        self.b = [np.array(b) for b in biases]
        self.params = self.W + self.b
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.t = 0
        self.dtype = self.W[0].dtype
        self._buffers = {}

    def _bufs(self, n):
        if n not in self._buffers:
            widths = [w.shape[1] for w in self.W]
            self._buffers[n] = dict(
                A=[np.empty((n, w), self.dtype) for w in widths],
                D=[np.empty((n, w), self.dtype) for w in widths],
                gW=[np.empty_like(w) for w in self.W],
                gb=[np.empty_like(b) for b in self.b],
                tmp=[np.empty_like(p) for p in self.params],
            )
        return self._buffers[n]

    def forward(self, X, bufs):
        A = X
        last = len(self.W) - 1
        for l, (W, b) in enumerate(zip(self.W, self.b)):
            out = bufs["A"][l]
            np.matmul(A, W, out=out)
            out += b
            if l < last:
                np.maximum(out, 0, out=out)
            A = out
        # softmax, stable
        A -= A.max(axis=1, keepdims=True)
        np.exp(A, out=A)
        A /= A.sum(axis=1, keepdims=True)
        return A

    def train_step(self, X, y):
        n = X.shape[0]
        bufs = self._bufs(n)
        P = self.forward(X, bufs)
        rows = np.arange(n)
        loss = -np.log(np.maximum(P[rows, y], np.finfo(self.dtype).tiny)).mean()
        D = bufs["D"][-1]
        np.copyto(D, P)
        D[rows, y] -= 1
        D /= self.dtype.type(n)
        for l in range(len(self.W) - 1, -1, -1):
            prev = X if l == 0 else bufs["A"][l - 1]
            np.matmul(prev.T, D, out=bufs["gW"][l])
            np.sum(D, axis=0, out=bufs["gb"][l])
            if l > 0:
                up = bufs["D"][l - 1]
                np.matmul(D, self.W[l].T, out=up)
                up *= prev > 0
                D = up
        self._adam(bufs["gW"] + bufs["gb"], bufs["tmp"])
        return loss

    def _adam(self, grads, tmps):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step = self.dtype.type(self.lr / (1 - b1 ** self.t))
        inv_bc2 = self.dtype.type(1 / np.sqrt(1 - b2 ** self.t))
        c1, c2 = self.dtype.type(1 - b1), self.dtype.type(1 - b2)
        eps = self.dtype.type(self.eps)
        for p, g, m, v, tmp in zip(self.params, grads, self.m, self.v, tmps):
            m += c1 * (g - m)                 # m <- b1 m + (1 - b1) g
            v *= self.dtype.type(b2)
            v += c2 * g * g                   # v <- b2 v + (1 - b2) g^2
            np.sqrt(v, out=tmp)
            tmp *= inv_bc2
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= step
            p -= tmp

    def train_epoch(self, X, y, batch_size, order):
        total = 0.0
        for s in range(0, X.shape[0], batch_size):
            idx = order[s:s + batch_size]
            total += self.train_step(X[idx], y[idx]) * idx.size
        return total / X.shape[0]


def numpy_forward(weights, biases, X):
    """Inference: ReLU hidden layers and a softmax output, as plain vectorised NumPy."""
    A = X
    last = len(weights) - 1
    for l, (W, b) in enumerate(zip(weights, biases)):
        A = A @ W
        A += b
        if l < last:
            np.maximum(A, 0, out=A)
    A -= A.max(axis=1, keepdims=True)
    np.exp(A, out=A)
    A /= A.sum(axis=1, keepdims=True)
    return A
