"""Fused Triton kernels for BEGAN training, importable as ``began_fast.kernels``.

    from began_fast import kernels
    kernels.use("triton")          # the default; kernels.use("torch") runs the references

Each op has its plain PyTorch reference in the same file, and one switch (`use`,
`current`) chooses between them for every op. This package imports nothing from the
trainer: it can be copied into another project alone.
"""
from began_fast.kernels.common import KERNELS, current, use
from began_fast.kernels.conv_elu import conv2d_elu, conv2d_elu_reference
from began_fast.kernels.equilibrium import (STATS_FIELDS, equilibrium_update, equilibrium_update_reference,
                                            k_update, m_global, new_stats)
from began_fast.kernels.l1 import l1_per_sample, l1_per_sample_reference

__all__ = [
    "KERNELS",
    "STATS_FIELDS",
    "conv2d_elu",
    "conv2d_elu_reference",
    "current",
    "equilibrium_update",
    "equilibrium_update_reference",
    "k_update",
    "l1_per_sample",
    "l1_per_sample_reference",
    "m_global",
    "new_stats",
    "use",
]
