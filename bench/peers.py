"""The peers, each in its own fastest idiomatic form, timed per epoch.

* scikit-learn: ``MLPClassifier(solver="adam")`` trained one epoch per
  ``partial_fit`` call (its own shuffling and batching).
* PyTorch: ``nn.Sequential`` of ``Linear``/``ReLU``, ``CrossEntropyLoss``,
  ``torch.optim.Adam(foreach=True)``, mini-batches cut from a shuffled index
  tensor, ``zero_grad(set_to_none=True)``.
* JAX: the whole epoch is one ``jax.jit``-compiled ``lax.scan`` over the
  batches with ``optax``-free hand-written Adam (the form the JAX docs teach),
  samples per epoch rounded down to whole batches.

Each returns the seconds of ``epochs`` timed epochs after one warm-up epoch.
"""

import os
import time

import numpy as np


def sklearn_epochs(workload, epochs, threads):
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    X, y = workload.data()
    clf = MLPClassifier(hidden_layer_sizes=workload.sizes[1:-1], solver="adam",
                        batch_size=workload.batch_size, learning_rate_init=1e-3, random_state=0)
    classes = np.arange(workload.sizes[-1])
    with threadpool_limits(threads):
        clf.partial_fit(X, y, classes=classes)
        times = []
        for _ in range(epochs):
            start = time.perf_counter()
            clf.partial_fit(X, y)
            times.append(time.perf_counter() - start)
    return times


def torch_epochs(workload, epochs, threads):
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    X, y = workload.data()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    layers = []
    for i, (a, b) in enumerate(zip(workload.sizes[:-1], workload.sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(workload.sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, foreach=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    bs = workload.batch_size

    def epoch():
        perm = torch.randperm(Xt.shape[0])
        for s in range(0, Xt.shape[0], bs):
            idx = perm[s:s + bs]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    epoch()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - start)
    return times


def jax_epochs(workload, epochs, threads):
    if threads == 1:
        # XLA's CPU client has no thread-count knob; one thread is the one setting it offers.
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
    import jax
    import jax.numpy as jnp

    X, y = workload.data()
    bs = workload.batch_size
    n_batches = X.shape[0] // bs
    key = jax.random.PRNGKey(0)
    params = []
    for a, b in zip(workload.sizes[:-1], workload.sizes[1:]):
        key, sub = jax.random.split(key)
        params.append((jax.random.normal(sub, (a, b), jnp.float32) * np.sqrt(2.0 / a),
                       jnp.zeros(b, jnp.float32)))

    def loss_fn(p, xb, yb):
        h = xb
        for W, b in p[:-1]:
            h = jax.nn.relu(h @ W + b)
        W, b = p[-1]
        logits = h @ W + b
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), yb[:, None], axis=1))

    def adam(p, g, m, v, t):
        b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        step = lr / (1 - b1 ** t)
        scale = 1 / jnp.sqrt(1 - b2 ** t)
        p = jax.tree_util.tree_map(lambda p, m, v: p - step * m / (jnp.sqrt(v) * scale + eps),
                                   p, m, v)
        return p, m, v

    @jax.jit
    def epoch(p, m, v, t, Xs, ys):
        def body(carry, batch):
            p, m, v, t = carry
            g = jax.grad(loss_fn)(p, *batch)
            t = t + 1
            p, m, v = adam(p, g, m, v, t)
            return (p, m, v, t), None

        (p, m, v, t), _ = jax.lax.scan(body, (p, m, v, t), (Xs, ys))
        return p, m, v, t

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = (params, zeros, zeros, jnp.float32(0))
    rng = np.random.default_rng(0)

    def batches():
        order = rng.permutation(X.shape[0])[: n_batches * bs]
        return (jnp.asarray(X[order].reshape(n_batches, bs, -1)),
                jnp.asarray(y[order].reshape(n_batches, bs)))

    state = epoch(*state, *batches())
    jax.block_until_ready(state)
    times = []
    for _ in range(epochs):
        xs, ys = batches()
        start = time.perf_counter()
        state = epoch(*state, xs, ys)
        jax.block_until_ready(state)
        # per-epoch rate is reported over n_samples: scale to the samples trained
        times.append((time.perf_counter() - start) * X.shape[0] / (n_batches * bs))
    return times


PEERS = {"sklearn": sklearn_epochs, "torch": torch_epochs, "jax": jax_epochs}
