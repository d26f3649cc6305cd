"""
An ensemble's predictive spread
===============================

A deep ensemble: eight networks of one architecture, each from its own
initial weights, trained together as a :class:`fastmlp.Population` on the
same batches.  Where the training data are, the members agree; away from
them -- in the gap in the middle and beyond both ends -- each extrapolates
its own way, and the spread of their predictions says how little the data
constrain the answer there.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastmlp as fm

rng = np.random.default_rng(0)
x = np.concatenate([rng.uniform(-3, -0.8, 120), rng.uniform(0.8, 3, 120)])
y = np.sin(2 * x) + 0.3 * x + rng.normal(0, 0.1, x.size)
X, Y = x[:, None], y[:, None]

template = fm.Model([1, 64, 64, 1], activation="tanh", output="identity", dtype="float64")
population = fm.Population(template, size=8, seed=0)
trainer = fm.Trainer(population, fm.optim.Adam(lr=1e-2), batch_size=32, epochs=300, seed=0,
                     verbose=0)
history = trainer.fit(X, Y)
final = np.array(history["loss"])[-1]
print("final training loss per member:", np.round(final, 4))

# %%
# ``predict`` gives every member's output, (K, n, 1); ``reduce="mean"`` the
# ensemble's.

grid = np.linspace(-5, 5, 400)[:, None]
members = population.predict(grid)[:, :, 0]
mean = population.predict(grid, reduce="mean")[:, 0]
spread = members.std(axis=0)

fig, (ax, ax_spread) = plt.subplots(2, 1, figsize=(8, 6), sharex=True,
                                    gridspec_kw={"height_ratios": [3, 1]})
ax.plot(grid[:, 0], members.T, color="tab:blue", linewidth=0.7, alpha=0.6)
ax.fill_between(grid[:, 0], mean - 2 * spread, mean + 2 * spread, color="tab:orange",
                alpha=0.25, label="mean ± 2 std of the members")
ax.plot(grid[:, 0], mean, color="tab:orange", linewidth=2, label='predict(..., reduce="mean")')
ax.scatter(x, y, s=6, color="black", label="training data")
ax.set_ylim(-4, 4)
ax.set_ylabel("y")
ax.legend(fontsize=8, loc="upper left")
ax_spread.plot(grid[:, 0], spread, color="tab:orange")
ax_spread.axvspan(-0.8, 0.8, color="grey", alpha=0.2)
ax_spread.set_xlabel("x")
ax_spread.set_ylabel("std")
fig.tight_layout()

# %%
# Each member is an ordinary :class:`fastmlp.Model` over its row of the
# population's parameters.

print(population.params.shape, type(population.members[0]).__name__,
      np.shares_memory(population.members[0].params, population.params))
