"""
Training curves on the digits
=============================

A model of the 1,797 UCI digits shipped with fastmlp, trained with Adam:
the training and validation loss and accuracy after every epoch, from the
trainer's history.  The same model with dropout shows how regularisation
narrows the gap between the two.
"""

import matplotlib.pyplot as plt

import fastmlp as fm
from fastmlp.datasets import load_digits
from fastmlp.preprocessing import train_test_split

X, y = load_digits()
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, stratify=y, seed=0)
print(f"{len(X_train)} training rows, {len(X_val)} validation rows, {X.shape[1]} pixels")

# %%
# Train two models from the same initial weights: the second drops a fifth
# of its hidden units (inverted dropout) at every step.

histories = {}
for name, dropout in [("no dropout", 0.0), ("dropout 0.2", 0.2)]:
    model = fm.Model([64, 256, 128, 10], activation="relu", output="softmax", seed=0,
                     dropout=dropout, preprocessing="standardize")
    trainer = fm.Trainer(model, fm.optim.Adam(lr=1e-3), batch_size=32, epochs=30, seed=0,
                         verbose=0)
    histories[name] = trainer.fit(X_train, y_train, validation_data=(X_val, y_val))
    print(f"{name:12}: validation accuracy {histories[name]['val_accuracy'][-1]:.4f}, "
          f"{sum(histories[name]['time']):.2f} s for 30 epochs")

# %%
# The history holds one value per epoch for every metric.

fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
for (name, history), color in zip(histories.items(), ["tab:blue", "tab:orange"]):
    epochs = range(1, len(history["loss"]) + 1)
    ax_loss.plot(epochs, history["loss"], color=color, label=f"{name}, training")
    ax_loss.plot(epochs, history["val_loss"], color=color, linestyle="--",
                 label=f"{name}, validation")
    ax_acc.plot(epochs, history["accuracy"], color=color, label=f"{name}, training")
    ax_acc.plot(epochs, history["val_accuracy"], color=color, linestyle="--",
                label=f"{name}, validation")
ax_loss.set_yscale("log")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("cross-entropy")
ax_acc.set_xlabel("epoch")
ax_acc.set_ylabel("accuracy")
ax_acc.set_ylim(0.9, 1.001)
ax_loss.legend(fontsize=8)
fig.suptitle("64-256-128-10, Adam, batch 32")
fig.tight_layout()
