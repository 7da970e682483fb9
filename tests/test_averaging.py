"""Generator averaging (G_ema): the update against the formula written out by hand, inside the
traced step, from an old checkpoint, and the generator the grids draw from."""
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from began_fast import averaging, checkpoint
from began_fast.config import Options
from began_fast.data import DeviceImages, builtin_shapes
from began_fast.images import save_grid
from began_fast.models import build_networks, generator_from_checkpoint, sample_z
from began_fast.schedule import PlateauDecay
from began_fast.step import new_state
from began_fast.train import GRID, main
from tests.helpers import TINY, final_state, only_run_dir


def tiny_state(model="dcgan", seed=0, world=1, **options):
    torch.manual_seed(seed)
    opts = Options.for_device("cpu", model=model, size=32, filters=4, latent=8, batch=4, **options)
    G, D = build_networks(opts, torch.device("cpu"))
    return new_state(G, D, DeviceImages(builtin_shapes(32, 32, seed=seed).images, torch.device("cpu")), opts, world)


@pytest.mark.parametrize("step, rampup", [(3, 0.05), (5000, 0.05), (3, 0.0)])   # ramp-up binding, not, none
def test_the_average_follows_the_formula_written_out(step, rampup):
    """beta = 0.5 ** (images a step / min(half-life, ramp-up x images seen)); every averaged
    weight becomes beta * average + (1 - beta) * G's; buffers (batch norm's) are G's."""
    state = tiny_state(g_ema_half_life=1000, g_ema_rampup=rampup, world=2)
    G, ema = state.G, state.g_ema
    with torch.no_grad():           # fresh random weights and running statistics, all different
        for t in [*G.parameters(), *ema.parameters(), *G.buffers()]:
            t.copy_(torch.randn_like(t.float()).to(t.dtype) if t.is_floating_point() else t + 7)
    before = {name: t.double().clone() for name, t in ema.state_dict().items()}
    per_step = 4 * 2                # batch x world
    half_life = min(1000, rampup * step * per_step) if rampup else 1000
    beta = 0.5 ** (per_step / half_life)
    assert 0 < beta < 1
    state.step.fill_(step)
    got = averaging.decay(state.step, per_step, 1000, rampup)
    assert abs(float(got) - beta) <= 1e-6 * beta
    averaging.update(ema, G, got)
    buffers = {name for name, _ in G.named_buffers()}
    for name, t in G.state_dict().items():
        if name in buffers:
            assert torch.equal(ema.state_dict()[name], t), name
        else:
            want = beta * before[name] + (1 - beta) * t.double()
            torch.testing.assert_close(ema.state_dict()[name].double(), want, rtol=1e-5, atol=1e-6)


def test_the_update_traces_whole_and_never_recompiles():
    """Inside a compiled or captured step the update must read nothing on the host and bake
    no step-dependent number into the graph: traced whole (fullgraph: a host read would
    break it), it follows the eager update at every step with one graph."""
    torch._dynamo.reset()
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    eager, traced = tiny_state(g_ema_half_life=100), tiny_state(g_ema_half_life=100)

    def update(state):
        state.step.add_(1)
        averaging.update(state.g_ema, state.G, averaging.decay(state.step, 4, 100, 0.05))

    compiled = torch.compile(update, fullgraph=True, backend="aot_eager")
    for _ in range(3):
        for state in (eager, traced):
            with torch.no_grad():
                for p in state.G.parameters():
                    p.add_(1.0)
        update(eager)
        compiled(traced)
        for a, b in zip(eager.g_ema.parameters(), traced.g_ema.parameters()):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs + 1
    assert not torch.equal(next(eager.g_ema.parameters()), next(eager.G.parameters()))


def test_a_checkpoint_without_an_average_starts_it_from_its_g():
    """A checkpoint written without averaging (an old one, or with it off) resumed with it
    on: the average starts from the checkpoint's G, with a warning; sampling it gives G."""
    old = tiny_state(seed=1, g_ema_half_life=0)
    payload = checkpoint.build(old, PlateauDecay(2e-4, 10, 1e-5), step=3, elapsed=0.0, images=24, world=2,
                               data_identity="x")
    assert "G_ema" not in payload
    resumed = tiny_state(seed=2, g_ema_half_life=100)
    with pytest.warns(UserWarning, match="no averaged generator"):
        checkpoint.restore(resumed, PlateauDecay(2e-4, 10, 1e-5), payload)
    for name, t in resumed.g_ema.state_dict().items():
        assert torch.equal(t, payload["G"][name]), name
    payload["options"] = old.opts.to_dict()
    G, _ = generator_from_checkpoint(payload, "cpu")
    assert all(torch.equal(t, payload["G"][name]) for name, t in G.state_dict().items())


def test_options_from_before_averaging_do_not_average():
    saved = Options().to_dict()
    del saved["g_ema_half_life"]
    assert Options.from_dict(saved).g_ema_half_life == 0


def test_the_grids_draw_from_the_average(tmp_path):
    """A run that averages writes its sample grid from G_ema (the checkpoint's, on the grid's
    fixed z), which differs from G's; the checkpoint's generator is the average too,
    unless raw."""
    assert main([*TINY, "--model", "dcgan", "--steps", "4", "--g-ema-half-life", "10", "--out", str(tmp_path)]) == 0
    run = only_run_dir(tmp_path)
    payload = final_state(run)
    opts = Options.from_dict(payload["options"])
    z = sample_z(GRID, opts.latent, generator=torch.Generator().manual_seed(opts.seed + 1), prior="uniform")
    written = np.asarray(Image.open(f"{run}/samples-00000004.png"))
    grids = {}
    for raw in (False, True):
        G, _ = generator_from_checkpoint(payload, "cpu", raw=raw)
        with torch.no_grad():
            save_grid(torch.cat([G(chunk) for chunk in z.split(opts.batch)]), str(tmp_path / f"{raw}.png"), 8)
        grids[raw] = np.asarray(Image.open(tmp_path / f"{raw}.png"))
    assert np.array_equal(written, grids[False]) and not np.array_equal(written, grids[True])


def test_impossible_averaging_options_are_refused(tmp_path, capsys):
    for args in (["--g-ema-half-life", "-1"], ["--g-ema-rampup", "2"]):
        with warnings.catch_warnings():
            assert main([*TINY, *args, "--out", str(tmp_path)]) == 2
        assert capsys.readouterr().err.count("\n") == 1
