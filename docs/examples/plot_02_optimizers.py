"""
The lecture's comparison of optimizers
======================================

The lecture notes compare mini-batch SGD, momentum, Nesterov, cooling, the
adaptive per-weight methods (AdaGrad, RMSProp, AdaDelta, Adam, NAdam,
AdaMax) and the full-batch ones (Rprop, L-BFGS) on one network.  This is
that comparison (``fastmlp compare``, through
:func:`fastmlp.lectures.optimizers.compare_optimizers`): every method
trains a copy of the same initial weights on the same split, with the same
shuffling seed.  The loss is drawn against epochs (L-BFGS: iterations)
and against wall time -- the two orders differ, since an epoch of a
full-batch method is one step.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastmlp as fm
from fastmlp.datasets import load_digits
from fastmlp.lectures.optimizers import compare_optimizers, format_table
from fastmlp.preprocessing import train_test_split

X, y = load_digits()
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, stratify=y, seed=0)
model = fm.Model([64, 64, 10], activation="relu", output="softmax", seed=0,
                 preprocessing="standardize")
rows, target, metric = compare_optimizers(model, X_train, y_train, X_val, y_val, epochs=30,
                                          n_threads=1)
print(format_table(rows, target, metric))

# %%
# Loss against epochs and against time.  Ten colours in the cycle: the
# last methods are dashed.

fig, (ax_epochs, ax_time) = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
for i, row in enumerate(rows):
    loss = row["history"]["loss"]
    style = "-" if i < 10 else "--"
    ax_epochs.plot(np.arange(1, len(loss) + 1), loss, style, label=row["name"])
    ax_time.plot(np.cumsum(row["history"]["time"]), loss, style, label=row["name"])
ax_epochs.set_yscale("log")
ax_epochs.set_xlabel("epoch (L-BFGS: iteration)")
ax_epochs.set_ylabel("training loss")
ax_time.set_xlabel("seconds")
ax_time.set_xscale("log")
ax_time.legend(fontsize=7, loc="upper right")
fig.suptitle("64-64-10 on the digits, one thread")
fig.tight_layout()
