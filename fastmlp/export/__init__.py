"""Deployment and interoperability: ONNX, PyTorch and skl2onnx.

* :func:`to_onnx` -- a :class:`fastmlp.Model` (or a fitted
  ``fastmlp.sklearn`` estimator) as an ``onnx.ModelProto``: the whole
  predict path, stored preprocessing and batch normalisation included,
  float32 or float64, free batch dimension.
* :func:`to_torch` / :func:`from_torch` -- the same network as a
  ``torch.nn.Sequential`` and back.
* :func:`register_skl2onnx` -- lets ``skl2onnx.to_onnx`` convert
  scikit-learn pipelines that hold fastmlp's estimators.

onnx, onnxruntime, skl2onnx and torch are optional: each function imports
what it needs when called and says how to install it when it is missing
(``pip install 'fastmlp[onnx]'``; PyTorch from pytorch.org).
"""

from ._onnx import to_onnx
from ._skl2onnx import register_skl2onnx
from ._torch import from_torch, to_torch

__all__ = ["to_onnx", "to_torch", "from_torch", "register_skl2onnx"]
