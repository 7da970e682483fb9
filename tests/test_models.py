"""The GAN baselines (GAN, DCGAN, WGAN, WGAN-GP): networks, losses against plain two-pass
references written out here, the clip and the penalty, compiled against eager, resume, the
command line, and the combinations that cannot work."""
import copy

import pytest
import torch
import torch.nn.functional as F

from began_fast import checkpoint
from began_fast.backends import StepRunner
from began_fast.config import Options
from began_fast.data import DeviceImages, builtin_shapes
from began_fast.models import build_networks, count_parameters, objective
from began_fast.models import dcgan
from began_fast.models.wgan_gp import gradient_penalty
from began_fast.step import new_state
from began_fast.train import main
from tests.helpers import TINY, only_run_dir, read_stats, run_cli

BASELINES = ("gan", "dcgan", "wgan", "wgan-gp")


def tiny_state(model, batch=4, seed=0, **options):
    torch.manual_seed(seed)
    opts = Options.for_device("cpu", model=model, size=32, filters=4, latent=8, batch=batch, **options)
    G, D = build_networks(opts, torch.device("cpu"))
    return new_state(G, D, DeviceImages(builtin_shapes(32, 32, seed=seed).images, torch.device("cpu")), opts)


def params(state):
    return [*state.G.parameters(), *state.D.parameters()]


# ---------------------------------------------------------------------------
# Networks.

@pytest.mark.parametrize("size", [32, 64, 128, 256])
@pytest.mark.parametrize("batch_norm", [True, False])
def test_dcgan_shapes(size, batch_norm):
    G, D = dcgan.Generator(size, 4, 8, 3), dcgan.Discriminator(size, 4, 3, batch_norm)
    images = G(torch.randn(2, 8))
    assert images.shape == (2, 3, size, size) and images.abs().max() <= 1     # tanh
    assert D(images).shape == (2,)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules()) == batch_norm


def test_dcgan_at_64_px_has_the_papers_size():
    """64 px, 64 filters, z of 100: the DCGAN paper's networks (G 3.58 M parameters; D
    2.76 M: its 4x4 logit convolution is global pooling and one linear unit here)."""
    G, D = dcgan.Generator(64, 64, 100, 3), dcgan.Discriminator(64, 64, 3)
    assert round(count_parameters(G) / 1e6, 2) == 3.58 and round(count_parameters(D) / 1e6, 2) == 2.76
    assert all(m.stride == (2, 2) for m in D.modules() if isinstance(m, torch.nn.Conv2d))    # no pooling


# ---------------------------------------------------------------------------
# Losses and gradients against plain references.

def recorded_step(state):
    """Run one train_step, recording the gradients each apply_gradients call received and
    the random state at the start, so a reference can redraw the same batch and z."""
    import began_fast.step as step
    record, original = [], step.apply_gradients

    def spy(state_, net, grads):
        grads = [g.clone() for g in grads]
        record.append((net, grads))
        original(state_, net, grads)

    import began_fast.models.wgan as wgan
    module = objective(state.opts.model)
    # wgan_gp updates through wgan's functions: patch wherever the name is bound.
    saved = {m: m.apply_gradients for m in {module, wgan} if hasattr(m, "apply_gradients")}
    rng = torch.get_rng_state()
    for m in saved:
        m.apply_gradients = spy
    try:
        module.train_step(state)
    finally:
        for m, f in saved.items():
            m.apply_gradients = f
    return rng, record


@pytest.mark.parametrize("g_loss", ["nonsaturating", "saturating"])
def test_gan_gradients_equal_the_bce_two_pass_reference(g_loss):
    state = tiny_state("gan", g_loss=g_loss)
    G0 = copy.deepcopy(state.G)
    D0 = copy.deepcopy(state.D)
    rng, record = recorded_step(state)
    (net_d, d_grads), (net_g, g_grads) = record
    assert (net_d, net_g) == ("D", "G")
    torch.set_rng_state(rng)
    real, z = state.data.sample(4), torch.rand(4, 8) * 2 - 1        # the step's draws, in its order
    bce = F.binary_cross_entropy_with_logits
    fake = G0(z).detach()
    logits_real, logits_fake = D0(real), D0(fake)
    loss_d = bce(logits_real, torch.ones(4)) + bce(logits_fake, torch.zeros(4))
    for mine, theirs in zip(d_grads, torch.autograd.grad(loss_d, list(D0.parameters()))):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-7)
    D1 = state.D                                      # G's update goes through the updated D
    logits = D1(G0(z))
    loss_g = bce(logits, torch.ones(4)) if g_loss == "nonsaturating" else -bce(logits, torch.zeros(4))
    for mine, theirs in zip(g_grads, torch.autograd.grad(loss_g, list(G0.parameters()))):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-7)


def test_wgan_critic_gradients_and_the_clip():
    state = tiny_state("wgan", n_critic=1)
    with torch.no_grad():
        for p in state.D.parameters():
            p.mul_(10)                               # far outside [-0.01, 0.01]
    D0, G0 = copy.deepcopy(state.D), copy.deepcopy(state.G)
    rng, record = recorded_step(state)
    torch.set_rng_state(rng)
    real, z = state.data.sample(4), torch.randn(4, 8)
    loss_c = D0(G0(z).detach()).mean() - D0(real).mean()
    for mine, theirs in zip(record[0][1], torch.autograd.grad(loss_c, list(D0.parameters()))):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-7)
    largest = [p.detach().abs().max().item() for p in state.D.parameters()]
    assert max(largest) == pytest.approx(0.01) and all(x <= 0.01 for x in largest)   # clipped, not shrunk


def test_wgan_gp_penalty_equals_a_hand_computation():
    """For a linear critic D(x) = w.x + b the gradient at every x is w, so the penalty is
    (||w|| - 1)^2 whatever the interpolates."""
    state = tiny_state("wgan-gp")
    w = torch.randn(3 * 32 * 32) * 0.05
    state.D = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 1), torch.nn.Flatten(0))
    with torch.no_grad():
        state.D[1].weight.copy_(w[None])
    real, fake = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)
    penalty = gradient_penalty(state, real, fake)
    assert penalty.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)
    (grad,) = torch.autograd.grad(penalty, state.D[1].weight)          # it keeps its graph
    torch.testing.assert_close(grad[0], 2 * (w.norm() - 1) * w / w.norm(), rtol=1e-4, atol=1e-7)


def test_wgan_gp_runs_n_critic_critic_updates_per_generator_update():
    state = tiny_state("wgan-gp", n_critic=3)
    _, record = recorded_step(state)
    assert [net for net, _ in record] == ["D", "D", "D", "G"]


# ---------------------------------------------------------------------------
# Backends, resume, the command line.

@pytest.mark.parametrize("model", ["gan", "wgan", "wgan-gp"])
def test_compiled_step_equals_eager(model):
    """Three steps each way from the same weights and random draws (Inductor's fallback_random:
    torch's RNG inside the compiled step). WGAN-GP's penalty stays eager inside the
    compiled step (double backward)."""
    torch._dynamo.reset()
    eager = tiny_state(model, seed=3)
    runner = StepRunner("eager", eager)
    for _ in range(3):
        runner()
    compiled = tiny_state(model, seed=3)
    with torch._inductor.config.patch(fallback_random=True):
        runner = StepRunner("compile", compiled)
        for _ in range(3):
            runner()
    start = [p.detach() for p in params(tiny_state(model, seed=3))]
    moved = max((a - b).abs().max() for a, b in zip(params(eager), start))
    for a, b in zip(params(eager), params(compiled)):
        assert (a - b).abs().max() <= 0.02 * moved
    torch.testing.assert_close(compiled.stats, eager.stats, rtol=1e-3, atol=1e-5)
    if eager.g_ema is not None:           # GAN averages G by default: the update compiles into the step
        for a, b in zip(eager.g_ema.parameters(), compiled.g_ema.parameters()):
            assert (a - b).abs().max() <= 0.02 * moved


@pytest.mark.parametrize("model", BASELINES)
def test_each_model_trains_from_the_command_line_and_resumes_bit_exact(tmp_path, model):
    common = [*TINY, "--model", model, "--log-every", "2", "--ckpt-every", "100", "--sample-every", "3"]
    assert main([*common, "--steps", "6", "--out", str(tmp_path / "whole")]) == 0
    assert main([*common, "--steps", "3", "--out", str(tmp_path / "parts")]) == 0
    assert main(["--resume", "auto", "--steps", "6", "--out", str(tmp_path / "parts")]) == 0
    whole, parts = only_run_dir(tmp_path / "whole"), only_run_dir(tmp_path / "parts")
    a, b = (checkpoint.load(checkpoint.in_run(run)[-1]) for run in (whole, parts))
    for key in ("G", "D"):             # weights and batch norm's running statistics
        assert all(torch.equal(t, b[key][name]) for name, t in a[key].items()), key
    for key in ("opt_g", "opt_d"):
        for i, state in a[key]["state"].items():
            assert all(torch.equal(v, b[key]["state"][i][k]) for k, v in state.items() if torch.is_tensor(v))
    assert torch.equal(a["stats"], b["stats"])
    timing = {"images_per_s", "time"}
    strip = lambda rows: [{k: v for k, v in r.items() if k not in timing} for r in rows]
    assert strip(read_stats(whole)) == strip(read_stats(parts))
    fields = set(read_stats(whole)[0])
    expected = {"gan": {"d_real", "d_fake"}, "dcgan": {"d_real", "d_fake"}, "wgan": {"wasserstein"},
                "wgan-gp": {"wasserstein", "penalty"}}[model]
    assert expected | {"loss_d", "loss_g", "lr"} <= fields and "k" not in fields


@pytest.mark.parametrize("args, fragment", [
    (["--model", "began", "--arch", "dcgan"], "BEGAN's objective needs an auto-encoder D"),
    (["--model", "dcgan", "--arch", "began"], "need a scalar critic"),
    (["--model", "wgan-gp", "--arch", "dcgan"], "batch norm couples the samples"),
    (["--model", "dcgan", "--gamma", "0.5"], "--gamma applies to --model began only"),
    (["--model", "wgan", "--g-loss", "saturating"], "--g-loss applies to --model gan or dcgan only"),
    (["--model", "gan", "--kernels", "triton"], "the fused kernels are BEGAN's"),
    (["--model", "wgan", "--n-critic", "0"], "--n-critic 0"),
])
def test_combinations_that_cannot_work_are_refused(tmp_path, args, fragment):
    result = run_cli("began_fast.train", *TINY, "--out", tmp_path, *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr


def test_each_model_has_its_papers_optimiser():
    kinds = {model: type(tiny_state(model).opt_d).__name__ for model in BASELINES}
    assert kinds == {"gan": "Adam", "dcgan": "Adam", "wgan": "RMSprop", "wgan-gp": "Adam"}
    assert tiny_state("wgan-gp").opt_d.param_groups[0]["betas"] == (0.0, 0.9)
    assert tiny_state("dcgan").opt_d.param_groups[0]["betas"] == (0.5, 0.999)
