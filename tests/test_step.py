"""The training step: single-forward gradients, FLOPs, and backends agreeing with eager."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from began_fast import kernels as kernel_switch
from began_fast.config import Options
from began_fast.data import DeviceImages, builtin_shapes
from began_fast.kernels import common as kernel_common
from began_fast.backends import StepRunner
from began_fast.models.began import pull_away_of, single_pass_gradients, train_step, two_pass_gradients
from began_fast.models.began_nets import Discriminator, Generator
from began_fast.step import new_state


def tiny_state(kernels="torch", batch=5, seed=0, n=4, h=8, precision="fp32", **options):
    """A small state; `kernels` sets the kernel switch for the rest of the test; `options`:
    other Options fields."""
    kernel_switch.use(kernels)
    torch.manual_seed(seed)
    residual = options.get("vanishing_residual", 0) > 0
    G, D = Generator(32, n=n, h=h, vanishing_residual=residual), Discriminator(32, n=n, h=h, vanishing_residual=residual)
    data = DeviceImages(builtin_shapes(32, 32, seed=seed).images, torch.device("cpu"))
    opts = Options.for_device("cpu", size=32, filters=n, latent=h, batch=batch, lr=1e-3, gamma=0.5,
                              lambda_k=0.05, precision=precision, **options)
    return new_state(G, D, data, opts)


# The Triton kernels run under the interpreter here (slow): one k for them.
@pytest.mark.parametrize("kernels, k", [("torch", 0.0), ("torch", 0.37), ("torch", 1.0), ("triton", 0.37)])
def test_single_forward_gives_the_two_pass_gradients(k, kernels):
    state = tiny_state(kernels, batch=3)
    state.buffers["k"].fill_(k)
    real = state.data.sample(3)
    z = torch.rand(3, 8) * 2 - 1
    fast = single_pass_gradients(state, real, z)
    kernel_switch.use("torch")           # the reference is plain PyTorch (and fast)
    reference = two_pass_gradients(state.G, state.D, real, z, state.buffers["k"])
    assert torch.allclose(fast[0], reference[0], rtol=1e-5) and torch.allclose(fast[1], reference[1], rtol=1e-5)
    for mine, theirs in zip(fast[2] + fast[3], reference[2] + reference[3]):
        assert torch.allclose(mine, theirs, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("kernels, k, pull_away", [("torch", 0.0, 0.0), ("torch", 0.37, 0.0), ("triton", 0.37, 0.7)])
def test_the_latent_constraint_gives_the_two_pass_gradients(k, kernels, pull_away):
    """BEGAN-CS's term in the one-forward step: D's fake half is scaled by -k_t, the
    constraint's pass is not, and both equal the plain two-pass reference. The Triton
    kernels (interpreted here: slow) run it beside the pull-away term's scale-0 block."""
    state = tiny_state(kernels, batch=3, latent_constraint=0.3, pull_away=pull_away)
    state.buffers["k"].fill_(k)
    real, z = state.data.sample(3), torch.rand(3, 8) * 2 - 1
    fast = single_pass_gradients(state, real, z)
    kernel_switch.use("torch")           # the reference is plain PyTorch (and fast)
    reference = two_pass_gradients(state.G, state.D, real, z, state.buffers["k"], 0.3, pull_away)
    torch.testing.assert_close(fast.latent_error, reference.latent_error, rtol=1e-5, atol=0)
    for mine, theirs in zip(fast.d_grads + fast.g_grads, reference.d_grads + reference.g_grads):
        # float32 sums in another order (the interpreter's): relative to each tensor's scale
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5 * theirs.abs().max().item())
    if kernels != "torch":
        return
    # Where the constraint's gradient goes (kernels aside): G's weights and D's encoder,
    # never D's decoder.
    without = two_pass_gradients(state.G, state.D, real, z, state.buffers["k"])
    d_names = [name for name, _ in state.D.named_parameters()]
    for name, a, b in zip(d_names, reference.d_grads, without.d_grads):
        assert torch.equal(a, b) == name.startswith("decoder."), name
    assert all(not torch.equal(a, b) for a, b in zip(reference.g_grads, without.g_grads))


@pytest.mark.parametrize("kernels, constraint", [("torch", 0.0), ("torch", 0.3)])
def test_the_pull_away_term_gives_the_two_pass_gradients_and_reaches_g_alone(kernels, constraint):
    """EBGAN's pull-away term in the one-forward step (alone and beside the latent
    constraint): its encoder block has scale 0, so D's gradients are those without it.
    (The Triton kernels' run of both blocks is the latent constraint's test.)"""
    state = tiny_state(kernels, batch=4, latent_constraint=constraint, pull_away=0.7)
    state.buffers["k"].fill_(0.37)
    real, z = state.data.sample(4), torch.rand(4, 8) * 2 - 1
    fast = single_pass_gradients(state, real, z)
    kernel_switch.use("torch")
    reference = two_pass_gradients(state.G, state.D, real, z, state.buffers["k"], constraint, pull_away=0.7)
    torch.testing.assert_close(fast.pull_away, reference.pull_away, rtol=1e-5, atol=0)
    for mine, theirs in zip(fast.d_grads + fast.g_grads, reference.d_grads + reference.g_grads):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5 * theirs.abs().max().item())   # float32, interpreter sums
    without = two_pass_gradients(state.G, state.D, real, z, state.buffers["k"], constraint)
    assert all(torch.equal(a, b) for a, b in zip(reference.d_grads, without.d_grads))
    assert all(not torch.equal(a, b) for a, b in zip(reference.g_grads, without.g_grads))


def test_the_pull_away_term_is_the_mean_squared_cosine_of_distinct_pairs():
    codes = torch.randn(5, 7, dtype=torch.float64)
    pairs = [(i, j) for i in range(5) for j in range(5) if i != j]
    expected = sum(torch.nn.functional.cosine_similarity(codes[i], codes[j], dim=0) ** 2 for i, j in pairs) / 20
    torch.testing.assert_close(pull_away_of(codes), expected)
    assert float(pull_away_of(codes[:1].repeat(4, 1))) == pytest.approx(1.0)      # one image, four times


def test_the_latent_constraint_and_vanishing_residuals_compile(monkeypatch):
    """One compiled step with the three options (a compilation costs most of a minute here):
    the constraint's error and the pull-away term logged, the carry set on the device, the
    same as eager."""
    monkeypatch.setattr(kernel_common, "INTERPRET", False)
    torch._dynamo.reset()
    both = dict(latent_constraint=0.5, pull_away=0.2, vanishing_residual=4)
    eager = run_steps(tiny_state(seed=3, **both), "eager", 3)
    with torch._inductor.config.patch(fallback_random=True):
        compiled = run_steps(tiny_state(seed=3, **both), "compile", 3)
    assert eager.stats[-2] > 0 and eager.stats[-1] > 0      # three steps' C (near E[z^2] = 1/3 at first) and PT
    assert float(compiled.G.carry) == float(eager.D.carry) == 0.5
    torch.testing.assert_close(compiled.stats, eager.stats, rtol=1e-3, atol=1e-5)
    for a, b in zip(params(eager), params(compiled)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-3)
    plain = run_steps(tiny_state(seed=3, vanishing_residual=4), "eager", 3)
    assert not plain.stats[-2:].any() and not torch.equal(plain.stats[:-2], eager.stats[:-2])


def test_vanishing_residuals_fade_over_the_stated_steps_and_keep_the_two_pass_gradients():
    state = tiny_state(batch=3, vanishing_residual=4)
    carries = []
    for _ in range(6):
        train_step(state)
        carries.append((float(state.G.carry), float(state.D.carry)))
    assert carries == [(c, c) for c in (1.0, 0.75, 0.5, 0.25, 0.0, 0.0)]     # set at steps 0..5
    state.G.carry.fill_(0.4)
    state.D.carry.fill_(0.4)
    state.buffers["k"].fill_(0.3)
    real, z = state.data.sample(3), torch.rand(3, 8) * 2 - 1
    fast = single_pass_gradients(state, real, z)
    reference = two_pass_gradients(state.G, state.D, real, z, state.buffers["k"])
    for mine, theirs in zip(fast.d_grads + fast.g_grads, reference.d_grads + reference.g_grads):
        assert torch.allclose(mine, theirs, rtol=1e-4, atol=1e-7)


def count_flops(fn):
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def test_step_flops_are_below_the_naive_step_less_one_fake_forward_of_d():
    state = tiny_state(batch=8, n=8)
    real, z = state.data.sample(8), torch.rand(8, 8) * 2 - 1
    ours = count_flops(lambda: single_pass_gradients(state, real, z))
    naive = count_flops(lambda: two_pass_gradients(state.G, state.D, real, z, state.buffers["k"]))
    fake = state.G(z).detach()
    d_forward_fake = count_flops(lambda: state.D(fake))
    assert ours <= naive - d_forward_fake
    print(f"FLOPs per step: single-forward {ours / 1e6:.1f} M, naive {naive / 1e6:.1f} M, "
          f"one D forward on fake {d_forward_fake / 1e6:.1f} M")


def params(state):
    return [*state.G.parameters(), *state.D.parameters()]


def run_steps(state, backend, steps):
    runner = StepRunner(backend, state)
    for _ in range(steps):
        runner()
    return state


def assert_compiled_equals_eager(kernels, steps):
    torch._dynamo.reset()
    eager = run_steps(tiny_state(kernels, seed=3), "eager", steps)
    start = [p.detach().clone() for p in params(tiny_state(kernels, seed=3))]
    # Inductor's own RNG would draw different z and batches; fall back to torch's.
    with torch._inductor.config.patch(fallback_random=True):
        compiled = run_steps(tiny_state(kernels, seed=3), "compile", steps)
    # Tolerance: the compiled step reorders float sums, and a GAN step amplifies such
    # differences (Adam turns a tiny gradient difference into one of up to lr = 1e-3 a
    # step). Over 20 steps the weights moved up to 3e-2 and differed by 2.5e-4, k_t moved
    # 4.6e-2 and differed by 1.1e-4, the stats by 3e-4 relative (torch ops, 2026-11-24).
    # A wrong step (a lost -k_t scale, a missing update) differs by the size of the moves.
    moved = max((a - b).abs().max() for a, b in zip(params(eager), start))
    for a, b in zip(params(eager), params(compiled)):
        assert (a - b).abs().max() <= 0.02 * moved
    assert torch.allclose(eager.buffers["k"], compiled.buffers["k"], atol=5e-4)
    assert torch.allclose(eager.stats, compiled.stats, rtol=1e-3)   # includes sum of M_global
    assert int(compiled.step) == steps and eager.buffers["k"] > 0


@pytest.mark.parametrize("kernels", ["torch", "triton"])
def test_compiled_step_equals_eager_over_20_steps(kernels, monkeypatch):
    # With kernels="triton" the step calls the registered custom ops, which is what the
    # compiler must trace; their bodies run the CPU references here, because the Triton
    # interpreter takes about 12 s a step. The next test runs the kernels themselves.
    monkeypatch.setattr(kernel_common, "INTERPRET", False)
    assert_compiled_equals_eager(kernels, 20)


def test_compiled_step_with_interpreted_triton_kernels_equals_eager():
    assert kernel_common.INTERPRET or torch.cuda.is_available()
    assert_compiled_equals_eager("triton", 2)


@pytest.mark.parametrize("kernels", kernel_switch.KERNELS)
def test_bf16_step_gives_fp32_gradients_and_compiles(kernels, monkeypatch):
    """bf16 autocast with fp32 master weights, both kernel choices: one step's losses and
    gradients agree with fp32's to bf16 precision, the weights' gradients come back fp32,
    and the compiled step follows the eager one (the custom ops run their CPU references
    here, as in the 20-step test above)."""
    monkeypatch.setattr(kernel_common, "INTERPRET", False)
    results = {}
    for precision in ("fp32", "bf16"):
        state = tiny_state(kernels, batch=4, seed=5, precision=precision)
        torch.manual_seed(6)
        real, z = state.data.sample(4), torch.rand(4, 8) * 2 - 1
        results[precision] = single_pass_gradients(state, real, z)
    (r32, f32, d32, g32, *_), (r16, f16, d16, g16, *_) = results["fp32"], results["bf16"]
    torch.testing.assert_close(torch.stack([r16, f16]), torch.stack([r32, f32]), rtol=3e-2, atol=1e-3)
    for mine, theirs in zip(d16 + g16, d32 + g32):
        assert mine.dtype == torch.float32 and torch.isfinite(mine).all()
        cosine = torch.nn.functional.cosine_similarity(mine.flatten(), theirs.flatten(), dim=0)
        assert cosine > 0.98, cosine
    # Compiled against eager, in bf16: each rounds activations to 8 bits at different places,
    # and Adam turns a tiny gradient's flipped sign into a full lr-sized step, so single
    # weights may differ by up to 2 lr; what must agree is where the steps took the weights
    # as a whole (a wrong step moves them elsewhere entirely).
    torch._dynamo.reset()
    start = [p.detach().clone() for p in params(tiny_state(kernels, seed=3, precision="bf16"))]
    eager = run_steps(tiny_state(kernels, seed=3, precision="bf16"), "eager", 5)
    with torch._inductor.config.patch(fallback_random=True):
        compiled = run_steps(tiny_state(kernels, seed=3, precision="bf16"), "compile", 5)
    moves = {name: torch.cat([(p - p0).detach().flatten() for p, p0 in zip(params(state), start)])
             for name, state in (("eager", eager), ("compiled", compiled))}
    mismatch = (moves["compiled"] - moves["eager"]).norm() / moves["eager"].norm()
    print(f"bf16, kernels={kernels}: compiled vs eager weight moves differ by {mismatch:.3f} of their size")
    assert torch.isfinite(moves["compiled"]).all() and mismatch < 0.1   # measured 0.018 and 0.003
    assert torch.allclose(eager.buffers["k"], compiled.buffers["k"], atol=5e-3) and int(compiled.step) == 5


def test_the_compiled_step_is_five_graphs():
    """torch.compile traces the step in five graphs (data and z; G, D and the losses, whose
    backward AOTAutograd compiles; D's Adam; G's Adam; the k_t update), split where
    torch.autograd.grad and the optimisers' steps stop tracing. More would mean a new graph
    break on the hot path (docs/training.md, "Speed")."""
    torch._dynamo.reset()
    state = tiny_state(seed=4)
    explained = torch._dynamo.explain(train_step)(state)
    assert explained.graph_count <= 5, [r.reason for r in explained.break_reasons]
    assert all("autograd.grad" in r.reason for r in explained.break_reasons)


def test_lr_k_and_data_changes_do_not_recompile():
    torch._dynamo.reset()
    state = tiny_state(seed=4)
    runner = StepRunner("compile", state)
    runner()
    graphs_after_first = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert graphs_after_first > 0
    for lr in (5e-4, 2.5e-4):
        state.lr_g.fill_(lr)
        state.buffers["k"].fill_(0.5)
        state.data.images.copy_(torch.randint_like(state.data.images, 256))
        runner()
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs_after_first


def test_cudagraph_backends_refuse_the_cpu():
    with pytest.raises(ValueError, match="needs a CUDA device"):
        StepRunner("cudagraph", tiny_state())


def test_kernel_switch_keeps_parameters_and_outputs():
    """One set of weights serves both settings of the switch: same parameters, same images."""
    torch.manual_seed(0)
    G = Generator(32, n=4, h=8)
    z = torch.rand(2, 8) * 2 - 1
    outputs = {}
    for choice in kernel_switch.KERNELS:
        with kernel_switch.use(choice):
            assert kernel_switch.current() == choice
            outputs[choice] = G(z)
    torch.testing.assert_close(outputs["triton"], outputs["torch"], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="kernels must be one of"):
        kernel_switch.use("cuda")


def test_the_option_and_the_switch_share_one_vocabulary():
    from began_fast.config import KERNELS
    assert KERNELS == kernel_switch.KERNELS


def test_grids_run_in_the_training_shapes():
    """Outside the step the networks see only the step's own batch sizes (G: batch, D: twice
    that), so nothing autotunes anew; the results equal one plain forward."""
    from began_fast.step import in_training_shapes
    state = tiny_state(batch=3)
    seen = {"G": set(), "D": set()}
    hooks = [net.register_forward_pre_hook(lambda m, a, name=name: seen[name].add(a[0].shape[0]))
             for name, net in (("G", state.G), ("D", state.D))]
    z = torch.rand(7, 8) * 2 - 1
    images = in_training_shapes(state, state.G, z, 3)
    recon = in_training_shapes(state, state.D, images, 6)
    for hook in hooks:
        hook.remove()
    assert seen == {"G": {3}, "D": {6}}
    with torch.no_grad():
        torch.testing.assert_close(images, state.G(z))
        torch.testing.assert_close(recon, state.D(images))
