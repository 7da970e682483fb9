"""Test-wide set-up, kept short: other test files add their fixtures beside it.

Without a GPU, the Triton kernels run in Triton's interpreter on CPU tensors. Triton reads
TRITON_INTERPRET when a kernel is decorated, so it is set here, before any test imports
began_fast.kernels. BEGAN_FAST_POISON=1 makes every kernel output start as NaN, so an
element a kernel never writes fails the tests (on a GPU too).
"""
import os

import torch

if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"
os.environ.setdefault("BEGAN_FAST_POISON", "1")
