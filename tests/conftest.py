"""Test-wide set-up, kept short: other test files add their fixtures beside it.

Without a GPU, the Triton kernels run in Triton's interpreter on CPU tensors. Triton reads
TRITON_INTERPRET when a kernel is decorated, so it is set here, before any test imports
began_fast.kernels. BEGAN_FAST_POISON=1 makes every kernel output start as NaN, so an
element a kernel never writes fails the tests (on a GPU too).

Every test starts with the kernel switch at "torch" (the references), so that a test
that selects "triton" cannot leak its choice into the next; the kernel tests select
"triton" themselves.
"""
import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"
os.environ.setdefault("BEGAN_FAST_POISON", "1")


@pytest.fixture(autouse=True)
def _kernel_switch_at_torch():
    from began_fast import kernels
    with kernels.use("torch"):
        yield
