"""StyleGAN2 ops in plain PyTorch: a reference path beside each fast path, picked by ``impl=``.

Importing this package compiles nothing and needs no GPU.
"""

from engine.ops.fused_act import FusedLeakyReLU, fused_leaky_relu
from engine.ops.upfirdn2d import upfirdn2d

__all__ = ["FusedLeakyReLU", "fused_leaky_relu", "upfirdn2d"]
