"""Dispatch without the interpreter: on CPU tensors a registered op runs its reference.

The rest of the kernel tests run under TRITON_INTERPRET=1 (tests/conftest.py), which is
read at import time, so this path is checked in a fresh process with it switched off.
"""
import os
import subprocess
import sys

SCRIPT = r"""
import torch
from began_fast.kernels import (conv2d_elu, conv2d_elu_reference, current, equilibrium_update,
                                l1_per_sample, new_stats, l1_per_sample_reference as l1_ref)
from began_fast.kernels.common import INTERPRET
assert not INTERPRET and current() == "triton"   # the registered ops, by default

torch.manual_seed(0)
r, t = torch.randn(3, 2, 5, 7, requires_grad=True), torch.randn(3, 2, 5, 7, requires_grad=True)
g = torch.randn(3)
ours = torch.autograd.grad((l1_per_sample(r, t) * g).sum(), [r, t])
theirs = torch.autograd.grad((l1_ref(r, t) * g).sum(), [r, t])
assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(ours, theirs)), "l1 gradients"

x = torch.randn(3, 5, 9, 7, requires_grad=True)
w, b = torch.randn(6, 5, 3, 3, requires_grad=True), torch.randn(6, requires_grad=True)
for stride in (1, 2):
    y = conv2d_elu(x, w, b, stride)
    y_ref = conv2d_elu_reference(x, w, b, stride)
    assert torch.allclose(y, y_ref, atol=1e-5), "conv forward"
    gy = torch.randn_like(y)
    ours = torch.autograd.grad(y, [x, w, b], gy)
    theirs = torch.autograd.grad(y_ref, [x, w, b], gy)
    assert all(torch.allclose(a, c, atol=1e-4) for a, c in zip(ours, theirs)), "conv gradients"

k, stats = torch.tensor(0.5), new_stats("cpu")
m = equilibrium_update(k, torch.tensor(0.4), torch.tensor(0.1), 0.5, 0.01, stats)
assert torch.allclose(k, torch.tensor(0.501)) and torch.allclose(m, torch.tensor(0.5))
assert stats.tolist()[0] == 1.0
print("dispatch ok")
"""


def test_cpu_tensors_without_the_interpreter_run_the_references():
    env = dict(os.environ, TRITON_INTERPRET="0", BEGAN_FAST_POISON="1")
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0 and "dispatch ok" in result.stdout, result.stderr
