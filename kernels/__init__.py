"""Fused Triton kernels for BEGAN training, importable as ``began_fast.kernels``.

Each op has a plain PyTorch reference in the same file; ``impl="torch"`` runs
the reference, ``impl="triton"`` the registered Triton op (which itself runs the
reference for CPU tensors unless TRITON_INTERPRET=1 is set).
"""
from began_fast.kernels.conv_elu import conv2d_elu, conv2d_elu_reference
from began_fast.kernels.equilibrium import equilibrium_update, equilibrium_update_reference
from began_fast.kernels.l1 import l1_per_sample, l1_per_sample_reference

IMPLS = ("torch", "triton")

__all__ = [
    "IMPLS",
    "conv2d_elu",
    "conv2d_elu_reference",
    "equilibrium_update",
    "equilibrium_update_reference",
    "l1_per_sample",
    "l1_per_sample_reference",
]
