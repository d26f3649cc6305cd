"""
Hyper-parameter search
======================

A coarse-to-fine random search (:func:`fastmlp.search.search`) over the
hidden layers, the learning rate, the L2 penalty and the batch size of a
digits classifier.  Every trial trains on the training split and is scored
on one fixed validation split; the second round samples the numeric
ranges narrowed around the best trials of the first (on the log scale for
the log-uniform ones).  The best configuration is retrained on training +
validation data and tested once: the test score takes no part in the
choice.
"""

import matplotlib.pyplot as plt
import numpy as np

from fastmlp.datasets import load_digits
from fastmlp.search import loguniform, search

X, y = load_digits()
space = {"hidden": [(64,), (128,), (128, 64)], "lr": loguniform(1e-4, 1e-1),
         "l2": loguniform(1e-6, 1e-2), "batch_size": [32, 64]}
result = search(X, y, space, method="random", n_trials=24, rounds=2, epochs=10, seed=0)

# %%
# The leaderboard: the best trials first, with their validation score and
# loss, epochs and seconds.

print(result.leaderboard())
print("best:", result.best_params)
print(f"test accuracy of the best, retrained on training + validation data: "
      f"{result.test_score:.4f}")

# %%
# Validation accuracy against the learning rate, the search's most telling
# hyper-parameter here; each round in its colour, the best trial marked.

trials = [t for t in result.trials if t["status"] == "ok"]
fig, (ax_lr, ax_l2) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for round_, marker in zip(sorted({t["round"] for t in trials}), ["o", "s", "^"]):
    chosen = [t for t in trials if t["round"] == round_]
    scores = np.array([t["val_score"] for t in chosen])
    ax_lr.scatter([t["lr"] for t in chosen], scores, marker=marker, label=f"round {round_}")
    ax_l2.scatter([t["l2"] for t in chosen], scores, marker=marker, label=f"round {round_}")
for ax, name in [(ax_lr, "lr"), (ax_l2, "l2")]:
    ax.axvline(result.best_params[name], color="tab:red", linewidth=1, label="best")
    ax.set_xscale("log")
    ax.set_xlabel(name)
ax_lr.set_ylabel(f"validation {result.metric}")
ax_lr.legend(fontsize=8)
fig.suptitle(f"{len(trials)} trials, 10 epochs each")
fig.tight_layout()
