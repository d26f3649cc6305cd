"""Slow, obvious NumPy versions of what the kernels compute, in float64.

Written from the formulas, one thing at a time and without the kernels'
tricks (no derivative-from-output, no fused epilogues, explicit softmax
Jacobians), so that agreement between the two means something.
"""

import math

import numpy as np
from scipy.special import erf, expit, log_softmax, softmax

SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def activation(name, z, param=0.0):
    z = np.asarray(z, dtype=np.float64)
    if name == "identity":
        return z.copy()
    if name == "sigmoid":
        return expit(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, param * z)
    if name == "elu":
        return np.where(z > 0, z, param * np.expm1(np.minimum(z, 0)))
    if name == "selu":
        return SELU_LAMBDA * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0)))
    if name == "softplus":
        return np.logaddexp(0.0, z)
    if name == "gelu":
        return 0.5 * z * (1.0 + erf(z / math.sqrt(2.0)))
    if name == "gelu_tanh":
        return 0.5 * z * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z ** 3)))
    if name == "swish":
        return z * expit(z)
    if name == "softmax":
        return softmax(z, axis=1)
    raise KeyError(name)


def activation_derivative(name, z, param=0.0):
    """f'(z) from z (element-wise activations only)."""
    z = np.asarray(z, dtype=np.float64)
    if name == "identity":
        return np.ones_like(z)
    if name == "sigmoid":
        s = expit(z)
        return s * (1 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, param)
    if name == "elu":
        return np.where(z > 0, 1.0, param * np.exp(np.minimum(z, 0)))
    if name == "selu":
        return SELU_LAMBDA * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(z, 0)))
    if name == "softplus":
        return expit(z)
    if name == "gelu":
        return (0.5 * (1.0 + erf(z / math.sqrt(2.0)))
                + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi))
    if name == "gelu_tanh":
        c = math.sqrt(2.0 / math.pi)
        u = c * (z + 0.044715 * z ** 3)
        t = np.tanh(u)
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * 0.044715 * z * z)
    if name == "swish":
        s = expit(z)
        return s + z * s * (1 - s)
    raise KeyError(name)


def forward(weights, biases, names, params, X):
    """Lists of pre-activations Z_l and outputs A_l (float64)."""
    A = np.asarray(X, dtype=np.float64)
    Zs, As = [], []
    for W, b, name, p in zip(weights, biases, names, params):
        Z = A @ np.asarray(W, np.float64) + np.asarray(b, np.float64)
        A = activation(name, Z, p)
        Zs.append(Z)
        As.append(A)
    return Zs, As


def per_sample_loss(loss, out_name, Z, A, T):
    if loss == "squared_error":
        return 0.5 * np.sum((A - T) ** 2, axis=1)
    if loss == "cross_entropy":
        return -np.sum(T * log_softmax(Z, axis=1), axis=1)
    if loss == "binary_cross_entropy":
        # -t log s(z) - (1 - t) log(1 - s(z)), with log s(z) = -log(1 + e^-z)
        return np.sum(T * np.logaddexp(0, -Z) + (1 - T) * np.logaddexp(0, Z), axis=1)
    raise KeyError(loss)


def output_delta(loss, out_name, out_param, Z, A, T):
    """dL_i/dZ per sample (not yet divided by the batch size)."""
    if loss == "cross_entropy":
        return A * T.sum(axis=1, keepdims=True) - T
    if loss == "binary_cross_entropy":
        return A - T
    G = A - T
    if out_name == "softmax":
        out = np.empty_like(G)
        for i in range(G.shape[0]):
            a = A[i]
            jac = np.diag(a) - np.outer(a, a)
            out[i] = jac.T @ G[i]
        return out
    return G * activation_derivative(out_name, Z, out_param)


def loss_and_grad(weights, biases, names, params, loss, X, T, sample_weight=None):
    """Mean loss and per-layer gradients (lists of dW, db) in float64.

    With ``sample_weight``: the weighted mean sum(w_i L_i) / sum(w_i).
    """
    X = np.asarray(X, np.float64)
    T = np.asarray(T, np.float64)
    n = X.shape[0]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    Zs, As = forward(weights, biases, names, params, X)
    L = len(weights)
    value = np.dot(w, per_sample_loss(loss, names[-1], Zs[-1], As[-1], T)) / w.sum()
    delta = output_delta(loss, names[-1], params[-1], Zs[-1], As[-1], T) * (w / w.sum())[:, None]
    dWs, dbs = [None] * L, [None] * L
    for l in range(L - 1, -1, -1):
        prev = X if l == 0 else As[l - 1]
        dWs[l] = prev.T @ delta
        dbs[l] = delta.sum(axis=0)
        if l > 0:
            upstream = delta @ np.asarray(weights[l], np.float64).T
            delta = upstream * activation_derivative(names[l - 1], Zs[l - 1], params[l - 1])
    return value, dWs, dbs


def flatten(dWs, dbs):
    """Layer gradients in the flat layout W_0, b_0, W_1, b_1, ..."""
    return np.concatenate([np.concatenate([dW.ravel(), db]) for dW, db in zip(dWs, dbs)])


# ------------------------------------------------------------------ optimizers
# Transcriptions of the update rules as published in the torch.optim docs.
def sgd_step(p, g, buf, t, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    g = g + weight_decay * p
    if momentum != 0:
        buf = g.copy() if t == 1 else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, buf


def adam_step(p, g, m, v, vmax, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
              amsgrad=False):
    b1, b2 = betas
    g = g + weight_decay * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    mhat = m / (1 - b1 ** t)
    if amsgrad:
        vmax = np.maximum(vmax, v)
        vhat = vmax / (1 - b2 ** t)
    else:
        vhat = v / (1 - b2 ** t)
    return p - lr * mhat / (np.sqrt(vhat) + eps), m, v, vmax


# The rest of torch.optim's rules, transcribed from its documentation's
# pseudo-code; ``s`` is a dict of state arrays, created on the first call.
def adagrad_step(p, g, s, t, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):
    s.setdefault("sum", np.full_like(p, initial_accumulator_value))
    g = g + weight_decay * p
    clr = lr / (1 + (t - 1) * lr_decay)
    s["sum"] = s["sum"] + g * g
    return p - clr * g / (np.sqrt(s["sum"]) + eps)


def rmsprop_step(p, g, s, t, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
    for k in ("v", "gbar", "b"):
        s.setdefault(k, np.zeros_like(p))
    g = g + weight_decay * p
    s["v"] = alpha * s["v"] + (1 - alpha) * g * g
    v = s["v"]
    if centered:
        s["gbar"] = alpha * s["gbar"] + (1 - alpha) * g
        v = v - s["gbar"] ** 2
    d = np.sqrt(v) + eps
    if momentum > 0:
        s["b"] = momentum * s["b"] + g / d
        return p - lr * s["b"]
    return p - lr * g / d


def adadelta_step(p, g, s, t, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    for k in ("v", "u"):
        s.setdefault(k, np.zeros_like(p))
    g = g + weight_decay * p
    s["v"] = rho * s["v"] + (1 - rho) * g * g
    dx = np.sqrt(s["u"] + eps) / np.sqrt(s["v"] + eps) * g
    s["u"] = rho * s["u"] + (1 - rho) * dx * dx
    return p - lr * dx


def adamw_step(p, g, s, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
               amsgrad=False):
    for k in ("m", "v", "vmax"):
        s.setdefault(k, np.zeros_like(p))
    p = p * (1 - lr * weight_decay)
    out, s["m"], s["v"], s["vmax"] = adam_step(p, g, s["m"], s["v"], s["vmax"], t, lr, betas, eps,
                                              0.0, amsgrad)
    return out


def adamax_step(p, g, s, t, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    for k in ("m", "u"):
        s.setdefault(k, np.zeros_like(p))
    b1, b2 = betas
    g = g + weight_decay * p
    s["m"] = b1 * s["m"] + (1 - b1) * g
    s["u"] = np.maximum(b2 * s["u"], np.abs(g) + eps)
    return p - lr / (1 - b1 ** t) * s["m"] / s["u"]


def nadam_step(p, g, s, t, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
               momentum_decay=4e-3, decoupled_weight_decay=False):
    for k in ("m", "v"):
        s.setdefault(k, np.zeros_like(p))
    s.setdefault("mu_product", 1.0)
    b1, b2 = betas
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    s["mu_product"] *= mu
    s["m"] = b1 * s["m"] + (1 - b1) * g
    s["v"] = b2 * s["v"] + (1 - b2) * g * g
    denom = np.sqrt(s["v"] / (1 - b2 ** t)) + eps
    p = p - lr * (1 - mu) / (1 - s["mu_product"]) * g / denom
    return p - lr * mu_next / (1 - s["mu_product"] * mu_next) * s["m"] / denom


def radam_step(p, g, s, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
               decoupled_weight_decay=False):
    for k in ("m", "v"):
        s.setdefault(k, np.zeros_like(p))
    b1, b2 = betas
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    s["m"] = b1 * s["m"] + (1 - b1) * g
    s["v"] = b2 * s["v"] + (1 - b2) * g * g
    mhat = s["m"] / (1 - b1 ** t)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
    if rho_t > 5:
        rect = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                       / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        adaptive = np.sqrt(1 - b2 ** t) / (np.sqrt(s["v"]) + eps)
        return p - lr * mhat * rect * adaptive
    return p - lr * mhat


def rprop_step(p, g, s, t, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
    s.setdefault("prev", np.zeros_like(p))
    s.setdefault("step", np.full_like(p, lr))
    sign = np.sign(g * s["prev"])
    factor = np.where(sign > 0, etas[1], np.where(sign < 0, etas[0], 1.0))
    s["step"] = np.clip(s["step"] * factor, *step_sizes)
    g = np.where(sign < 0, 0.0, g)
    s["prev"] = g
    return p - np.sign(g) * s["step"]


def clip_by_global_norm(g, max_norm):
    """torch.nn.utils.clip_grad_norm_'s scaling."""
    return g * min(1.0, max_norm / (np.linalg.norm(g) + 1e-6))


# ------------------------------------------------------- regularised forward
# Dropout/DropConnect masks: the documented hash of fastmlp/kernels/noise.py
# (SplitMix64's finaliser over seed, step, stream, row, column), in NumPy.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_K_STEP = np.uint64(0xD1B54A32D192ED03)
_K_STREAM = np.uint64(0xABC98388FB8FAC03)
_K_ROW = np.uint64(0x8CB92BA72F3D8DD7)


def _splitmix(z):
    with np.errstate(over="ignore"):
        z = np.asarray(z, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def mask_uniforms(seed, step, stream, rows, cols):
    """(rows, cols) uniform numbers in [0, 1) of one mask."""
    with np.errstate(over="ignore"):
        k = _splitmix(np.uint64(seed))
        k = _splitmix(k ^ (np.uint64(step) * _K_STEP))
        k = _splitmix(k ^ (np.uint64(stream) * _K_STREAM))
        keys = _splitmix(k ^ (np.arange(rows, dtype=np.uint64) * _K_ROW))
    bits = _splitmix(keys[:, None] ^ np.arange(cols, dtype=np.uint64)[None, :])
    return (bits >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def inverted_mask(seed, step, stream, shape, rate):
    """Kept elements 1/(1 - rate), dropped ones 0."""
    keep = 1.0 - rate
    return np.where(mask_uniforms(seed, step, stream, *shape) < keep, 1.0 / keep, 0.0)


def regularised_forward(model, X, training, seed=0, step=0, eps=None):
    """Pre-activation and output of the last layer, and each layer's batch (mean, var).

    Training mode: dropout on each layer's input, DropConnect on its
    weights, batch normalisation with the batch's (biased) statistics;
    inference: none of the masks, the running statistics.
    """
    eps = model.bn_eps if eps is None else eps
    A = np.asarray(X, np.float64)
    stats = []
    n_layers = len(model.weights)
    for l in range(n_layers):
        W = np.asarray(model.weights[l], np.float64)
        if training and model.dropout[l] > 0:
            A = A * inverted_mask(seed, step, 2 * l, A.shape, model.dropout[l])
        if training and model.dropconnect[l] > 0:
            W = W * inverted_mask(seed, step, 2 * l + 1, W.shape, model.dropconnect[l])
        Z = A @ W
        beta = np.asarray(model.biases[l], np.float64)
        gamma = model.gammas[l]
        if gamma is None:
            Z = Z + beta
            stats.append(None)
        else:
            if training:
                mean, var = Z.mean(axis=0), Z.var(axis=0)
            else:
                mean = np.asarray(model.running_means[l], np.float64)
                var = np.asarray(model.running_vars[l], np.float64)
            stats.append((Z.mean(axis=0), Z.var(axis=0)))
            Z = np.asarray(gamma, np.float64) * (Z - mean) / np.sqrt(var + eps) + beta
        act = model.activations[l]
        A = activation(act.name, Z, act.param)
    return Z, A, stats


def regularised_loss(model, X, T, training, seed=0, step=0):
    """Mean loss of the regularised forward pass (no penalty)."""
    Z, A, _ = regularised_forward(model, X, training, seed, step)
    return per_sample_loss(model.loss, model.output, Z, A, np.asarray(T, np.float64)).mean()
