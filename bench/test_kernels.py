"""Each fused op under both settings of the kernel switch, forward and forward+backward.

"torch" is the op's plain PyTorch reference, what a model without the kernels runs:
conv2d_elu is F.conv2d then F.elu (cuDNN on CUDA), with the per-sample weight-gradient
scale D uses applied in its backward; l1_per_sample is the torch expression;
equilibrium_update is a few torch ops. "triton" is the fused op, timed on CUDA only.
Speed-ups of "triton" over "torch" are added to the JSON at the end of the session.
"""
import pytest
import torch

from bench.cases import INTERPRETED, ConvShape, conv_shapes
from bench.inputs import Ring
from bench.peaks import compute_dtype, rate_facts
from bench.timing import measure
from began_fast import kernels
from began_fast.devices import configure_math
from began_fast.kernels import conv2d_elu, equilibrium_update, l1_per_sample
from began_fast.models.began_layers import ConvELU
from began_fast.models.began_nets import Discriminator, Generator

MODES = ("fwd", "fwd_bwd")


def pytest_generate_tests(metafunc):
    suite = metafunc.config.bench_suite
    switch = list(suite.kernels)
    if "triton" not in switch:     # listed, so that a CPU run shows what it leaves out
        switch.append(pytest.param("triton", marks=pytest.mark.skip(
            reason="the triton kernels are timed on CUDA only (never under the interpreter)")))
    grid = dict(switch=switch, mode=MODES)
    if metafunc.function is test_conv2d_elu:
        shapes = conv_shapes(suite.kernel_filters)
        grid = dict(shape=[pytest.param(s, id=s.name) for s in shapes],
                    batch=suite.conv_batches, precision=suite.kernel_precisions, **grid)
    elif metafunc.function is test_l1_per_sample:
        grid = dict(batch=suite.l1_batches, precision=suite.l1_precisions, **grid)
    elif metafunc.function is test_equilibrium_update:
        grid = dict(switch=switch)
    for name, values in grid.items():
        if name in metafunc.fixturenames:
            ids = [f"b{v}" for v in values] if name == "batch" else None
            metafunc.parametrize(name, values, ids=ids)


@pytest.fixture(autouse=True)
def _kernel_switch(request):
    """Each case sets the switch for its own calls; the previous setting comes back after."""
    switch = request.node.callspec.params.get("switch") if hasattr(request.node, "callspec") else None
    if switch == "triton" and INTERPRETED:
        pytest.skip("TRITON_INTERPRET=1 is set: benchmarks never time the Triton interpreter")
    with kernels.use(switch or kernels.current()):
        yield


def run(benchmark, suite, fn, facts_of_seconds, **info):
    """Benchmark fn and store what the report needs in extra_info."""
    timing = measure(benchmark, fn, suite.device, suite.time_s, suite.min_rounds)
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
        seen.add(ConvShape(x.shape[1], module.weight.shape[0], module.stride, x.shape[-1]))

    with torch.device("meta"), kernels.use("torch"):
        G, D = Generator(64, n, 64, 3), Discriminator(64, n, 64, 3)
        for net in (G, D):
            for layer in net.modules():
                if isinstance(layer, ConvELU):
                    layer.register_forward_hook(record)
        D(G(torch.zeros(1, 64)))
    missing = [s.name for s in conv_shapes(n) if s not in seen]
    assert not missing, f"not layers of the 64 px n={n} model: {missing}"


def test_conv2d_elu(benchmark, bench_suite, shape, batch, precision, switch, mode):
    suite, device = bench_suite, bench_suite.device
    configure_math(precision)
    dtype = compute_dtype(precision)
    benchmark.group = f"conv2d_elu {shape.name} b{batch} {precision} {mode}"

    layout = torch.channels_last if suite.channels_last else torch.contiguous_format   # the trainer's

    def make():
        x = torch.randn(batch, shape.cin, shape.size, shape.size, device=device, dtype=dtype)
        w = torch.randn(shape.cout, shape.cin, 3, 3, device=device, dtype=dtype) / (3 * shape.cin ** 0.5)
        b = torch.randn(shape.cout, device=device, dtype=dtype) * 0.1
        scale = torch.rand(batch, device=device) * 2 - 1
        gy = torch.randn(batch, shape.cout, shape.out_size, shape.out_size, device=device, dtype=dtype)
        x, w, gy = (t.contiguous(memory_format=layout) for t in (x, w, gy))
        return x.requires_grad_(), w.requires_grad_(), b.requires_grad_(), scale, gy

    op = lambda x, w, b, s, gy: conv2d_elu(x, w, b, shape.stride, 1, True, weight_grad_scale=s)
    fn = _timed_call(op, Ring(make, device), mode, differentiable=3)
    fwd_flops = 2 * batch * shape.cout * shape.out_size ** 2 * shape.cin * 9
    flops = fwd_flops if mode == "fwd" else 3 * fwd_flops   # backward: input and weight gradients
    run(benchmark, suite, fn, lambda s: rate_facts(s, device, flops=flops, precision=precision),
        op="conv2d_elu", shape=shape.name, batch=batch, precision=precision, kernels=switch, mode=mode,
        channels_last=suite.channels_last)


def test_l1_per_sample(benchmark, bench_suite, batch, precision, switch, mode):
    """D's output on [real; fake] (2 x batch images) against its input, as in the step:
    under bf16 autocast recon is bf16 and the target float32."""
    suite, device = bench_suite, bench_suite.device
    rows, size = 2 * batch, suite.l1_size
    dtype = compute_dtype(precision)
    benchmark.group = f"l1_per_sample {rows}x3x{size}x{size} {precision} {mode}"

    def make():
        recon = torch.randn(rows, 3, size, size, device=device, dtype=dtype)
        target = torch.rand(rows, 3, size, size, device=device) * 2 - 1
        return recon.requires_grad_(), target.requires_grad_(), torch.randn(rows, device=device)

    op = lambda recon, target, g: l1_per_sample(recon, target)
    fn = _timed_call(op, Ring(make, device), mode, differentiable=2)
    elements = rows * 3 * size * size
    pair = elements * (torch.finfo(dtype).bits // 8 + 4)          # one pass over recon and target
    bytes_moved = pair + rows * 4 if mode == "fwd" else 3 * pair + 2 * rows * 4
    run(benchmark, suite, fn, lambda s: rate_facts(s, device, bytes_moved=bytes_moved),
        op="l1_per_sample", shape=f"{rows}x3x{size}x{size}", batch=batch, precision=precision,
        kernels=switch, mode=mode)


def test_equilibrium_update(benchmark, bench_suite, switch):
    """k_t's update, M_global and the stats sums: a handful of scalars, so this measures
    launches (one fused kernel against a few torch ops)."""
    suite, device = bench_suite, bench_suite.device
    benchmark.group = "equilibrium_update"

    def make():
        return (torch.full((), 0.5, device=device), torch.rand((), device=device),
                torch.rand((), device=device), torch.zeros(5, device=device))

    op = lambda k, lr, lf, st: equilibrium_update(k, lr, lf, 0.5, 0.001, st)
    fn = _timed_call(op, Ring(make, device, max_sets=8), "fwd")
    # Reads k, both losses and the stats; writes k, the stats and M_global (float32 each).
    bytes_moved = 4 * (1 + 2 + 5 + 1 + 5 + 1)
    run(benchmark, suite, fn, lambda s: rate_facts(s, device, bytes_moved=bytes_moved),
        op="equilibrium_update", shape="scalars", batch=None, precision="fp32", kernels=switch, mode="fwd")


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
