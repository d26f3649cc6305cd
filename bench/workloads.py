"""The benchmark workloads: MLP shapes, batch sizes and synthetic data.

All three train ReLU networks with a softmax cross-entropy output and Adam
(lr 1e-3) in float32, the setting of the performance targets.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Workload:
    name: str
    sizes: tuple
    batch_size: int
    n_samples: int  # samples per epoch: enough for an epoch of ~0.3-1 s

    @property
    def label(self):
        return f"{self.name} {'-'.join(map(str, self.sizes))} batch {self.batch_size}"

    def data(self, seed=0, dtype=np.float32):
        """Synthetic standardised inputs and integer labels (fixed by ``seed``)."""
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((self.n_samples, self.sizes[0])).astype(dtype)
        y = rng.integers(0, self.sizes[-1], self.n_samples)
        return X, y

    def matmul_shapes(self):
        """(m, k, n) of every matrix product of one training step, as the trainer runs them.

        Forward: A_{l-1} (B x fan_in) @ W_l.  Backward: A_{l-1}^T @ D_l for every
        layer, and D_l @ W_l^T for every layer but the first.
        """
        B = self.batch_size
        shapes = []
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        for fan_in, fan_out in pairs:
            shapes.append(("fwd", B, fan_in, fan_out))
        for l, (fan_in, fan_out) in enumerate(pairs):
            shapes.append(("dW", fan_in, B, fan_out))
            if l > 0:
                shapes.append(("dA", B, fan_out, fan_in))
        return shapes

    def flops_per_sample(self):
        return sum(2 * m * k * n for _, m, k, n in self.matmul_shapes()) / self.batch_size


WORKLOADS = {
    "S": Workload("S", (64, 128, 10), 32, 65536),
    "M": Workload("M", (784, 256, 256, 10), 128, 16384),
    "L": Workload("L", (784, 1024, 1024, 10), 256, 4096),
}
