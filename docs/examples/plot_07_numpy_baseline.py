"""
fastmlp against a NumPy MLP
===========================

What a careful NumPy user writes from the lecture's matrix form -- one
matrix product per layer and direction through NumPy's BLAS, vectorised
element-wise operations, in-place updates -- trained side by side with
fastmlp: the same network, the same initial weights, the same batches in
the same order, the same Adam rule.  The losses agree to float32 rounding;
the time per epoch is what differs.  (``bench/compare.py`` is the full
measurement, with more workloads, peers and rounds; see the performance
page of the guide.)
"""

import time

import matplotlib.pyplot as plt
import numpy as np

import fastmlp as fm


class NumpyMLP:
    """ReLU hidden layers, softmax output, mean cross-entropy, Adam (PyTorch's rule)."""

    def __init__(self, weights, biases, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.params = [np.array(w) for w in weights] + [np.array(b) for b in biases]
        self.n_layers = len(weights)
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.lr, self.beta1, self.beta2, self.eps, self.t = lr, beta1, beta2, eps, 0

    def step(self, X, y):
        """One Adam step on the batch (X, y); returns the batch's mean loss."""
        W, b = self.params[:self.n_layers], self.params[self.n_layers:]
        A = [X]
        for l in range(self.n_layers):
            Z = A[-1] @ W[l] + b[l]
            A.append(np.maximum(Z, 0) if l < self.n_layers - 1 else Z)
        logits = A.pop()
        logits -= logits.max(axis=1, keepdims=True)
        P = np.exp(logits)
        P /= P.sum(axis=1, keepdims=True)
        rows = np.arange(len(y))
        loss = -np.log(P[rows, y]).mean()
        D = P
        D[rows, y] -= 1                       # the sensitivity of the softmax output
        D /= len(y)
        grads_W, grads_b = [None] * self.n_layers, [None] * self.n_layers
        for l in range(self.n_layers - 1, -1, -1):
            grads_W[l] = A[l].T @ D
            grads_b[l] = D.sum(axis=0)
            if l > 0:
                D = (D @ W[l].T) * (A[l] > 0)
        self._adam(grads_W + grads_b)
        return loss

    def _adam(self, grads):
        self.t += 1
        step = self.lr / (1 - self.beta1 ** self.t)
        root = np.sqrt(1 - self.beta2 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            p -= step * m / (np.sqrt(v) / root + self.eps)


def numpy_epoch(net, X, y, batch_size):
    """One epoch in order (no shuffling, as the fastmlp trainer below); the mean loss."""
    total = 0.0
    for start in range(0, len(X), batch_size):
        batch = slice(start, start + batch_size)
        total += net.step(X[batch], y[batch]) * len(y[batch])
    return total / len(X)


# %%
# Two workloads of ``bench/compare.py``'s kind, on random data: S, a small
# network on small batches (where per-batch overheads dominate), and M, an
# MNIST-sized one (where the matrix products do).

workloads = {"S 64-128-10, batch 32": ([64, 128, 10], 32, 20_000),
             "M 784-256-256-10, batch 128": ([784, 256, 256, 10], 128, 12_000)}
EPOCHS = 3
rng = np.random.default_rng(0)
results = {}
for name, (sizes, batch_size, n) in workloads.items():
    X = rng.standard_normal((n, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], n)
    # load the compiled kernels before the clock starts (a throwaway model, same kind)
    fm.Trainer(fm.Model(sizes, seed=1), fm.optim.Adam(lr=1e-3), batch_size=batch_size,
               epochs=1, verbose=0).fit(X[:4 * batch_size], y[:4 * batch_size])
    model = fm.Model(sizes, activation="relu", output="softmax", seed=0)
    net = NumpyMLP(model.weights, model.biases)   # the same initial weights, copied
    trainer = fm.Trainer(model, fm.optim.Adam(lr=1e-3), batch_size=batch_size, epochs=1,
                         shuffle=False, verbose=0)
    results[name] = {"numpy": [], "fastmlp": [], "numpy loss": [], "fastmlp loss": []}
    for _ in range(EPOCHS):
        start = time.perf_counter()
        loss = numpy_epoch(net, X, y, batch_size)
        results[name]["numpy"].append(n / (time.perf_counter() - start))
        results[name]["numpy loss"].append(loss)
        start = time.perf_counter()
        history = trainer.fit(X, y)
        results[name]["fastmlp"].append(n / (time.perf_counter() - start))
        results[name]["fastmlp loss"].append(history["loss"][-1])
    r = results[name]
    print(f"{name}: NumPy {np.median(r['numpy']):,.0f} samples/s, "
          f"fastmlp {np.median(r['fastmlp']):,.0f} samples/s "
          f"({np.median(r['fastmlp']) / np.median(r['numpy']):.2f}x); "
          f"epoch losses NumPy {np.round(r['numpy loss'], 5)}, "
          f"fastmlp {np.round(r['fastmlp loss'], 5)}")

# %%
# Samples per second, the median of the epochs, on the machine that built
# this page (``fastmlp.get_num_threads()`` threads).

fig, axes = plt.subplots(1, len(results), figsize=(10, 3.2))
for ax, (name, result) in zip(axes, results.items()):
    speeds = [np.median(result["numpy"]), np.median(result["fastmlp"])]
    bars = ax.barh([0, 1], speeds, color=["tab:gray", "tab:blue"])
    ax.bar_label(bars, labels=[f"{s:,.0f}/s" for s in speeds], fontsize=8, padding=3)
    ax.set_yticks([0, 1], ["NumPy", "fastmlp"])
    ax.set_xlim(0, 1.3 * max(speeds))
    ax.set_xlabel("training samples per second")
    ax.set_title(f"{name}: {speeds[1] / speeds[0]:.2f}x", fontsize=10)
fig.suptitle(f"One epoch, float32, Adam, {fm.get_num_threads()} threads")
fig.tight_layout()
