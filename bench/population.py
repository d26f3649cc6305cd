"""Populations: K models trained together, against the same K trained otherwise, in one run.

For each workload and population size K, the same K models (seeds 0..K-1,
Adam lr 1e-3, float32, softmax cross-entropy, the trainer's seed 0) are
trained for ``--epochs`` epochs:

* ``sequential``: one ``Trainer.fit`` after another (each on the threads the
  trainer picks for one model);
* ``threads``: two at a time in two Python threads, one thread each (what
  ``fastmlp.search`` does with ``n_jobs=2``);
* ``population``: one ``fm.Population`` of K members, one ``fit``;
* ``jax``: where JAX is installed, a population by hand -- the members'
  parameters stacked, ``jax.vmap`` of the step over the members inside one
  ``jax.jit``-compiled ``lax.scan`` epoch (how JAX users train ensembles).

Then a fixed-architecture coarse-to-fine search (``bench/search_speed.py``'s
space with hidden (64,) and batch 32; 24 trials in two rounds; one trial at
a time, the search's default, and two) with and without populations (``fastmlp.search(...,
populations=False)`` is the search as it was), and the largest difference
between the two searches' validation scores.

    python bench/population.py [--members 4,16,64] [--workloads S,M] [--epochs 3]
                               [--repeats 3] [--no-search] [--no-jax]
    python bench/population.py --workloads ""      # the searches only

Every figure is the median of ``--repeats`` runs after a warm-up run (which
compiles or loads the kernels); the ratios are sequential / population,
threads / population and jax / population.  Name the CPU (``lscpu``) beside
any figure you quote.
"""

import argparse
import statistics
import threading
import time

import numpy as np

#: name -> (layer sizes, batch size, training rows)
WORKLOADS = {"S": ((64, 128, 10), 32, 20000), "M": ((784, 256, 256, 10), 128, 4096)}


def _data(sizes, rows, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, sizes[0])).astype(np.float32)
    return X, rng.integers(0, sizes[-1], rows)


def fit_one(fm, sizes, batch, epochs, X, y, seed, n_threads=None):
    model = fm.Model(list(sizes), seed=seed)
    fm.Trainer(model, fm.optim.Adam(1e-3), batch_size=batch, epochs=epochs, verbose=0,
               n_threads=n_threads, seed=0).fit(X, y)
    return model


def sequential(fm, sizes, batch, epochs, X, y, k):
    for seed in range(k):
        fit_one(fm, sizes, batch, epochs, X, y, seed)


def in_two_threads(fm, sizes, batch, epochs, X, y, k):
    workers = [threading.Thread(target=lambda j=j: [
        fit_one(fm, sizes, batch, epochs, X, y, seed, n_threads=1) for seed in range(j, k, 2)])
        for j in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def population(fm, sizes, batch, epochs, X, y, k):
    pop = fm.Population(fm.Model(list(sizes)), size=k, seed=0)
    fm.Trainer(pop, fm.optim.Adam(1e-3), batch_size=batch, epochs=epochs, verbose=0,
               seed=0).fit(X, y)
    return pop


def jax_population(sizes, batch, epochs, X, y, k):
    """A function training a JAX population of ``k`` members (compiled on its first call)."""
    import jax
    import jax.numpy as jnp

    n_batches = X.shape[0] // batch

    def init(key):
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            key, sub = jax.random.split(key)
            layers.append((jax.random.normal(sub, (a, b), jnp.float32) * np.sqrt(2.0 / a),
                           jnp.zeros(b, jnp.float32)))
        return layers

    def loss_fn(p, xb, yb):
        h = xb
        for W, b in p[:-1]:
            h = jax.nn.relu(h @ W + b)
        logits = h @ p[-1][0] + p[-1][1]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), yb[:, None], axis=1))

    def step(p, m, v, t, xb, yb):
        b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
        g = jax.grad(loss_fn)(p, xb, yb)
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        size = lr / (1 - b1 ** t)
        scale = 1 / jnp.sqrt(1 - b2 ** t)
        p = jax.tree_util.tree_map(lambda p, m, v: p - size * m / (jnp.sqrt(v) * scale + eps),
                                   p, m, v)
        return p, m, v

    members_step = jax.vmap(step, in_axes=(0, 0, 0, None, None, None))

    @jax.jit
    def epoch(p, m, v, t, xs, ys):
        def body(carry, b):
            p, m, v, t = carry
            t = t + 1
            p, m, v = members_step(p, m, v, t, *b)
            return (p, m, v, t), None

        return jax.lax.scan(body, (p, m, v, t), (xs, ys))[0]

    def run():
        params = jax.vmap(init)(jax.random.split(jax.random.PRNGKey(0), k))
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        state = (params, zeros, zeros, jnp.float32(0))
        rng = np.random.default_rng(0)
        for _ in range(epochs):
            order = rng.permutation(X.shape[0])[:n_batches * batch]
            xs = jnp.asarray(X[order].reshape(n_batches, batch, -1))
            ys = jnp.asarray(y[order].reshape(n_batches, batch))
            state = epoch(*state, xs, ys)
        jax.block_until_ready(state)

    return run


def timed(run, repeats):
    run()  # warm-up: compile or load
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(fm, name, k, epochs, repeats, with_jax):
    sizes, batch, rows = WORKLOADS[name]
    X, y = _data(sizes, rows)
    args = (fm, sizes, batch, epochs, X, y, k)
    seconds = {"sequential": timed(lambda: sequential(*args), repeats),
               "threads": timed(lambda: in_two_threads(*args), repeats),
               "population": timed(lambda: population(*args), repeats)}
    if with_jax:
        try:
            seconds["jax"] = timed(jax_population(sizes, batch, epochs, X, y, k), repeats)
        except ImportError:
            pass
    pop = seconds["population"]
    ratios = "  ".join(f"{key}/pop {value / pop:5.2f}" for key, value in seconds.items()
                       if key != "population")
    cells = "  ".join(f"{key} {value:7.3f} s" for key, value in seconds.items())
    print(f"{name} {'-'.join(map(str, sizes))} b{batch} K={k:3d}: {cells}  |  {ratios}",
          flush=True)


def search_comparison(repeats, n_jobs):
    """The fixed-architecture coarse-to-fine search with and without populations."""
    from fastmlp.datasets import load_digits
    from fastmlp.preprocessing import train_val_test_split
    from fastmlp.search import loguniform, search

    X, y = load_digits()
    X_train, X_val, _, y_train, y_val, _ = train_val_test_split(
        X, y, val_size=0.15, test_size=0.15, stratify=y, seed=0)
    space = {"hidden": (64,), "batch_size": 32, "lr": loguniform(1e-4, 1e-1),
             "l2": loguniform(1e-6, 1e-2)}
    results = {}

    def run(populations):
        results[populations] = search(
            X_train, y_train, space, method="random", n_trials=24, rounds=2, epochs=20,
            validation_data=(X_val, y_val), seed=0, n_jobs=n_jobs, populations=populations)

    before = timed(lambda: run(False), repeats)
    after = timed(lambda: run(True), repeats)
    scores = [(a["val_score"], b["val_score"], a["val_loss"], b["val_loss"])
              for a, b in zip(results[False].trials, results[True].trials)]
    worst = max(max(abs(a - b), abs(c - d)) for a, b, c, d in scores)
    n = len(results[True].trials)
    print(f"coarse-to-fine search, {n} trials, 20 epochs, {n_jobs} jobs: without populations "
          f"{before:.3f} s, with {after:.3f} s: x{before / after:.2f}; largest score "
          f"difference {worst:.2g}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", default="4,16,64")
    parser.add_argument("--workloads", default="S,M")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-search", action="store_true")
    parser.add_argument("--no-jax", action="store_true")
    args = parser.parse_args()
    import fastmlp as fm

    for name in filter(None, args.workloads.split(",")):
        for k in (int(v) for v in args.members.split(",")):
            compare(fm, name, k, args.epochs, args.repeats, not args.no_jax)
    if not args.no_search:
        for n_jobs in (1, 2):  # the search's default, and two trials at a time
            search_comparison(args.repeats, n_jobs)


if __name__ == "__main__":
    main()
