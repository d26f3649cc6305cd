"""The worked example of the Kordecki back-propagation lecture (seeds/003), to its 4 decimals.

Network 3-2-2, sigmoid everywhere, E = 1/2 sum (t - y)^2, inputs (1, 4, 5),
targets (0.1, 0.05), learning rate 0.01.  The lecture's w_{i,j}^{(0)} goes
from input i to hidden j, i.e. ``weights[0][i-1, j-1]`` in the row form.
The lecture uses one bias weight w_0 = 0.5 shared by the neurons of a layer;
a shared weight's gradient is the sum of the per-neuron bias gradients.
"""

import numpy as np
import pytest

import fastmlp as fm


@pytest.fixture
def example():
    model = fm.Model([3, 2, 2], activation="sigmoid", output="sigmoid", loss="squared_error",
                     dtype="float64")
    model.weights[0][...] = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]
    model.biases[0][...] = 0.5
    model.weights[1][...] = [[0.7, 0.8], [0.9, 0.1]]
    model.biases[1][...] = 0.5
    X = np.array([[1.0, 4.0, 5.0]])
    T = np.array([[0.1, 0.05]])
    return model, X, T


def agrees(value, printed):
    """Equal to the lecture's 4-decimal figure.

    The lecture computes each step from the previous step's rounded figures,
    so its last digit can differ by one from the exact value rounded (the
    loss: exact 0.59324, printed 0.5933).  Allowing 0.6e-4 accepts that and
    nothing more: any real error shows up far above it.
    """
    np.testing.assert_allclose(np.asarray(value, dtype=float), printed, rtol=0, atol=0.6e-4)


def test_forward_values(example):
    model, X, T = example
    hidden = fm.Model([3, 2], activation="identity", output="sigmoid", loss="squared_error",
                      dtype="float64")
    hidden.params[...] = model.params[: hidden.n_params]
    agrees(hidden.predict(X), [[0.9866, 0.9950]])
    out = model.predict(X)
    agrees(out, [[0.8896, 0.8004]])
    agrees(T - out, [[-0.7896, -0.7504]])
    loss, _ = model.loss_and_grad(X, T)
    agrees(loss, 0.5933)


def test_gradients(example):
    model, X, T = example
    _, grad = model.loss_and_grad(X, T)
    gW0, gb0, gW1, gb1 = (grad[s] for s in (model.layout.weight_slice(0),
                                            model.layout.bias_slice(0),
                                            model.layout.weight_slice(1),
                                            model.layout.bias_slice(1)))
    # dE/dw_{1,1}^(1)=0.0765, dE/dw_{1,2}^(1)=0.1183,
    # dE/dw_{2,1}^(1)=0.0772, dE/dw_{2,2}^(1)=0.1193
    agrees(gW1.reshape(2, 2), [[0.0765, 0.1183], [0.0772, 0.1193]])
    # dE/dw_0^(1) = 0.1974 for the shared output bias
    agrees(gb1.sum(), 0.1974)
    # dE/dw^(0): 0.0020 0.0004 / 0.0079 0.0016 / 0.0099 0.0020
    agrees(gW0.reshape(3, 2), [[0.0020, 0.0004], [0.0079, 0.0016], [0.0099, 0.0020]])
    # dE/dy^(1) = (0.1502, 0.0818): the hidden deltas divided by y(1 - y)
    y_hidden = 1 / (1 + np.exp(-(X @ model.weights[0] + model.biases[0])[0]))
    agrees(gb0 / (y_hidden * (1 - y_hidden)), [0.1502, 0.0818])


def test_weight_update(example):
    model, X, T = example
    _, grad = model.loss_and_grad(X, T)
    fm.optim.SGD(lr=0.01).step(model.params, grad)
    # w_{2,1}^(1) <- 0.9 - 0.01 * 0.0772 = 0.8992.  For w_{2,2}^(1) the lecture prints
    # 0.9881, a typo for 0.1 - 0.01 * 0.1193 = 0.0988.
    agrees(model.weights[1][1, 0], 0.8992)
    agrees(model.weights[1][1, 1], 0.0988)
    # shared biases: w_0^(1) <- 0.5 - 0.01 * 0.1974 = 0.4980 and w_0^(0) rounds to 0.5000
    agrees(0.5 - 0.01 * grad[model.layout.bias_slice(1)].sum(), 0.4980)
    agrees(0.5 - 0.01 * grad[model.layout.bias_slice(0)].sum(), 0.5000)
