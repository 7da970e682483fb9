"""Every Triton kernel, in every configuration its launcher may pick, compiles for sm_90 and sm_80.

No GPU is needed: Triton compiles ahead of time for a target it cannot see. This catches
what the interpreter never does (tl.dot shape and dtype rules, shared-memory overflow,
register spills) and checks the tensor-core instructions are the ones meant. The report
runs in a subprocess without TRITON_INTERPRET, which the conftest sets for this process.
About a minute and a half on 2 cores with an empty Triton cache.
"""
import json
import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def rows():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "began_fast.kernels.aot_report", "--json"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]  # also fails when a kernel has no variant
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_every_kernel_compiles_for_both_targets(rows):
    kernels = {r["kernel"] for r in rows}
    assert kernels == {"_conv2d_elu_fwd_kernel", "_elu_grad_kernel", "_l1_partial_kernel",
                       "_l1_backward_kernel", "_sum_partials_kernel", "_equilibrium_kernel"}
    for target in ("sm_90", "sm_80"):
        assert {(r["kernel"], r["config"]) for r in rows if r["target"] == target} == \
               {(r["kernel"], r["config"]) for r in rows}


def test_shared_memory_fits_and_no_spills_in_the_models_layout(rows):
    """Every config the shape pruning keeps for the model's layers (channels_last, the
    3-channel first and last convs included) compiles without spills; the NCHW rows (a
    layout the trainer never feeds the kernel) must compile, and may spill."""
    for r in rows:
        assert 0 < r["regs"] <= 255, r
        assert r["smem"] <= r["smem_limit"], r
        if r["model_layout"]:
            assert r["spills"] == 0, r
    assert any(not r["model_layout"] for r in rows)      # the NCHW variants are compiled too


def test_conv_uses_tensor_cores(rows):
    for r in rows:
        if r["kernel"] != "_conv2d_elu_fwd_kernel":
            continue
        exact_fp32 = r["config"].startswith("fp32 ieee")
        expected = "-" if exact_fp32 else "mma" if r["target"] == "sm_80" or r["config"].startswith("fp64") else "wgmma"
        assert r["tensor_cores"] == expected, r
