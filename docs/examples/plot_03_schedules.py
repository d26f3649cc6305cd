"""
Learning-rate schedules
=======================

Every schedule of :mod:`fastmlp.schedules` starts from the optimizer's
learning rate and gives the trainer a rate per step, before each epoch.
Asked directly, without training, they draw these curves (30 epochs of 10
steps, from 0.1).  Then three of them train the same model with SGD; the
rate in effect is in ``history["lr"]``.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastmlp as fm
from fastmlp import schedules
from fastmlp.datasets import load_digits

EPOCHS, STEPS, ETA0 = 30, 10, 0.1


def rates(schedule):
    """The rate of every step of EPOCHS epochs, as the trainer asks for them."""
    schedule.start(ETA0)
    return np.concatenate([schedule.rates(epoch, epoch * STEPS, STEPS, STEPS)
                           for epoch in range(EPOCHS)])


closed_forms = {
    "StepDecay(10, 0.5)": schedules.StepDecay(step_size=10, gamma=0.5),
    "MultiStep([5, 20], 0.3)": schedules.MultiStep([5, 20], gamma=0.3),
    "Exponential(gamma=0.9)": schedules.Exponential(gamma=0.9),
    "InverseTime(k=0.3)": schedules.InverseTime(k=0.3),
    "LectureDecay(d=0.05)": schedules.LectureDecay(d=0.05),
    "Polynomial(30, power=2)": schedules.Polynomial(total=30, power=2.0),
    "CosineAnnealing(10, restarts)": schedules.CosineAnnealing(T_max=10, restarts=True),
    "LinearWarmup(50, Cosine(30))": schedules.LinearWarmup(
        50, then=schedules.CosineAnnealing(T_max=30)),
    "OneCycle(300)": schedules.OneCycle(total_steps=EPOCHS * STEPS),
}

fig, axes = plt.subplots(3, 3, figsize=(10, 7), sharex=True, sharey=True)
steps = np.arange(EPOCHS * STEPS) / STEPS
for ax, (name, schedule) in zip(axes.flat, closed_forms.items()):
    ax.plot(steps, rates(schedule))
    ax.set_title(name, fontsize=9)
for ax in axes[-1]:
    ax.set_xlabel("epoch")
for ax in axes[:, 0]:
    ax.set_ylabel("learning rate")
fig.suptitle("The rates the schedules give, from eta0 = 0.1 (10 steps an epoch)")
fig.tight_layout()

# %%
# Training with a schedule
# ------------------------
#
# The cooling schedules of the lecture against a constant rate and an
# adaptive one: the bold driver grows the rate while the loss falls and
# halves it when the loss rises.

X, y = load_digits()
trained = {
    "constant 0.1": None,
    "StepDecay(10, 0.5)": schedules.StepDecay(step_size=10, gamma=0.5),
    "BoldDriver(1.05, 0.5)": schedules.BoldDriver(increase=1.05, decrease=0.5),
}
fig, (ax_lr, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
for name, schedule in trained.items():
    model = fm.Model([64, 64, 10], seed=0, preprocessing="standardize")
    history = fm.Trainer(model, fm.optim.SGD(lr=0.1), batch_size=64, epochs=EPOCHS, seed=0,
                         verbose=0, schedule=schedule).fit(X, y)
    epochs = np.arange(1, EPOCHS + 1)
    ax_lr.plot(epochs, history["lr"], label=name)
    ax_loss.plot(epochs, history["loss"], label=name)
    print(f"{name:22} final loss {history['loss'][-1]:.4f}, final rate {history['lr'][-1]:.4g}")
ax_lr.set_xlabel("epoch")
ax_lr.set_ylabel('history["lr"]')
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("training loss")
ax_loss.set_yscale("log")
ax_loss.legend(fontsize=8)
fig.tight_layout()
