"""Each fused op against the plain PyTorch computation it replaces, forward and forward+backward.

impl "reference" is the op's *_reference function (conv2d_elu: F.conv2d then F.elu;
l1_per_sample: the torch expression; equilibrium_update: torch ops); "torch" is the op
with impl="torch", the path the step takes with kernels="torch" (conv2d_elu with a
per-sample weight-gradient scale, as D uses it); "triton" the fused op, on CUDA only.
Speed-ups against "reference" are added to the JSON at the end of the session.
"""
import pytest
import torch

from bench import common
from began_fast.kernels import (conv2d_elu, conv2d_elu_reference, equilibrium_update,
                                equilibrium_update_reference, l1_per_sample,
                                l1_per_sample_reference)
from began_fast.layers import ConvELU
from began_fast.model import Discriminator, Generator

MODES = ("fwd", "fwd_bwd")


def pytest_generate_tests(metafunc):
    suite = metafunc.config.bench_suite
    impls = list(suite.impls)
    if "triton" not in impls:     # listed, so that a CPU run shows what it leaves out
        impls.append(pytest.param("triton", marks=pytest.mark.skip(
            reason="the triton impl is timed on CUDA only (never under the interpreter)")))
    grid = dict(impl=impls, mode=MODES)
    if metafunc.function is test_conv2d_elu:
        shapes = common.conv_shapes(suite.kernel_filters)
        grid = dict(shape=[pytest.param(s, id=s.name) for s in shapes],
                    batch=suite.conv_batches, precision=suite.kernel_precisions, **grid)
    elif metafunc.function is test_l1_per_sample:
        grid = dict(batch=suite.l1_batches, precision=suite.l1_precisions, **grid)
    elif metafunc.function is test_equilibrium_update:
        grid = dict(impl=impls)
    for name, values in grid.items():
        if name in metafunc.fixturenames:
            ids = [f"b{v}" for v in values] if name == "batch" else None
            metafunc.parametrize(name, values, ids=ids)


def skip_if_unrunnable(impl):
    if impl == "triton" and common.INTERPRETED:
        pytest.skip("TRITON_INTERPRET=1 is set: benchmarks never time the Triton interpreter")


def run(benchmark, suite, fn, facts_of_seconds, **info):
    """Benchmark fn and store what the report needs in extra_info."""
    with common.skip_unavailable(f"{info['op']} impl={info['impl']}"):
        timing = common.measure(benchmark, fn, suite)
    benchmark.extra_info.update(kind="kernel", **info)
    if timing:
        benchmark.extra_info.update(timing)
        benchmark.extra_info.update(facts_of_seconds(timing["median_s"]))


# ----------------------------------------------------------------------------------------------

def test_conv_shapes_are_the_models(bench_suite):
    """The benchmarked layers are layers of the real 64 px model (guards against drift)."""
    n = bench_suite.kernel_filters
    seen = set()

    def record(module, args, output):
        x = args[0]
        seen.add(common.ConvShape(x.shape[1], module.weight.shape[0], module.stride, x.shape[-1]))

    with torch.device("meta"):
        G, D = Generator(64, n, 64, 3), Discriminator(64, n, 64, 3)
        for net in (G, D):
            for layer in net.modules():
                if isinstance(layer, ConvELU):
                    layer.register_forward_hook(record)
        D(G(torch.zeros(1, 64)))
    missing = [s.name for s in common.conv_shapes(n) if s not in seen]
    assert not missing, f"not layers of the 64 px n={n} model: {missing}"


def test_conv2d_elu(benchmark, bench_suite, shape, batch, precision, impl, mode):
    suite, device = bench_suite, bench_suite.device
    skip_if_unrunnable(impl)
    common.configure_precision(precision)
    dtype = common.compute_dtype(precision)
    benchmark.group = f"conv2d_elu {shape.name} b{batch} {precision} {mode}"

    def make():
        x = torch.randn(batch, shape.cin, shape.size, shape.size, device=device, dtype=dtype)
        w = torch.randn(shape.cout, shape.cin, 3, 3, device=device, dtype=dtype) / (3 * shape.cin ** 0.5)
        b = torch.randn(shape.cout, device=device, dtype=dtype) * 0.1
        scale = torch.rand(batch, device=device) * 2 - 1
        gy = torch.randn(batch, shape.cout, shape.out_size, shape.out_size, device=device, dtype=dtype)
        return x.requires_grad_(), w.requires_grad_(), b.requires_grad_(), scale, gy

    if impl == "reference":
        op = lambda x, w, b, s, gy: conv2d_elu_reference(x, w, b, shape.stride, 1, True)
    else:
        op = lambda x, w, b, s, gy: conv2d_elu(x, w, b, shape.stride, 1, True, weight_grad_scale=s,
                                               impl=impl)
    fn = _timed_call(op, common.Ring(make, device), mode, differentiable=3)
    fwd_flops = 2 * batch * shape.cout * shape.out_size ** 2 * shape.cin * 9
    flops = fwd_flops if mode == "fwd" else 3 * fwd_flops   # backward: input and weight gradients
    run(benchmark, suite, fn,
        lambda s: common.rate_facts(s, device, flops=flops, precision=precision),
        op="conv2d_elu", shape=shape.name, batch=batch, precision=precision, impl=impl, mode=mode)


def test_l1_per_sample(benchmark, bench_suite, batch, precision, impl, mode):
    """D's output on [real; fake] (2 x batch images) against its input, as in the step:
    under bf16 autocast recon is bf16 and the target float32."""
    suite, device = bench_suite, bench_suite.device
    skip_if_unrunnable(impl)
    rows, size = 2 * batch, suite.l1_size
    dtype = common.compute_dtype(precision)
    benchmark.group = f"l1_per_sample {rows}x3x{size}x{size} {precision} {mode}"

    def make():
        recon = torch.randn(rows, 3, size, size, device=device, dtype=dtype)
        target = torch.rand(rows, 3, size, size, device=device) * 2 - 1
        return recon.requires_grad_(), target.requires_grad_(), torch.randn(rows, device=device)

    if impl == "reference":
        op = lambda recon, target, g: l1_per_sample_reference(recon, target)
    else:
        op = lambda recon, target, g: l1_per_sample(recon, target, impl=impl)
    fn = _timed_call(op, common.Ring(make, device), mode, differentiable=2)
    elements = rows * 3 * size * size
    pair = elements * (torch.finfo(dtype).bits // 8 + 4)          # one pass over recon and target
    bytes_moved = pair + rows * 4 if mode == "fwd" else 3 * pair + 2 * rows * 4
    run(benchmark, suite, fn, lambda s: common.rate_facts(s, device, bytes_moved=bytes_moved),
        op="l1_per_sample", shape=f"{rows}x3x{size}x{size}", batch=batch, precision=precision,
        impl=impl, mode=mode)


def test_equilibrium_update(benchmark, bench_suite, impl):
    """k_t's update, M_global and the stats sums: a handful of scalars, so this measures
    launches (one fused kernel against a few torch ops)."""
    suite, device = bench_suite, bench_suite.device
    skip_if_unrunnable(impl)
    benchmark.group = "equilibrium_update"

    def make():
        return (torch.full((), 0.5, device=device), torch.rand((), device=device),
                torch.rand((), device=device), torch.zeros(5, device=device))

    if impl == "reference":
        op = lambda k, lr, lf, st: equilibrium_update_reference(k, lr, lf, 0.5, 0.001, st)
    else:
        op = lambda k, lr, lf, st: equilibrium_update(k, lr, lf, 0.5, 0.001, st, impl=impl)
    fn = _timed_call(op, common.Ring(make, device, max_sets=8), "fwd")
    # Reads k, both losses and the stats; writes k, the stats and M_global (float32 each).
    bytes_moved = 4 * (1 + 2 + 5 + 1 + 5 + 1)
    run(benchmark, suite, fn, lambda s: common.rate_facts(s, device, bytes_moved=bytes_moved),
        op="equilibrium_update", shape="scalars", batch=None, precision="fp32", impl=impl, mode="fwd")


# ----------------------------------------------------------------------------------------------

def _timed_call(op, ring, mode, differentiable=0):
    """What one timed call does: op on the next input set (autograd records, as in
    training) and, for fwd_bwd, the gradients of the set's first `differentiable`
    tensors given the set's last tensor as the output's gradient."""
    def forward():
        op(*ring.next())

    def forward_backward():
        inputs = ring.next()
        torch.autograd.grad(op(*inputs), inputs[:differentiable], inputs[-1])

    return forward if mode == "fwd" else forward_backward
