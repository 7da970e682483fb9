"""Multi-process training: 2 processes on the CPU with gloo, as torchrun would run them.

The step-level tests spawn two processes that join one process group and call the
step's pieces directly; the end-to-end tests launch the real CLI under torchrun.
"""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
import torch.multiprocessing as mp

from began_fast import checkpoint, distributed, kernels, run_folder
from began_fast.config import Options, tensorboard_installed
from began_fast.data import DataError, DeviceImages, builtin_shapes
from began_fast.models import build_networks
from began_fast.models.began import single_pass_gradients, train_step
from began_fast.step import new_state
from began_fast.train import main
from tests.helpers import TINY, only_run_dir, read_stats

WORLD = 2
BATCH = 4          # per process, as --batch
LATENT = 8
TIMING = {"images_per_s", "time"}


# ---------------------------------------------------------------------------
# Helpers: spawned ranks, torchrun, a tiny state.

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(fn, *args, timeout=120):
    """Run fn(rank, *args) in WORLD processes joined like torchrun's; a failing assert in
    any of them fails the test with that process's traceback, and ranks that hang (in a
    collective the others never join) fail it after `timeout` seconds."""
    context = mp.spawn(_rank_main, args=(fn, free_port(), args), nprocs=WORLD, join=False)
    deadline = time.monotonic() + timeout
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"{fn.__name__}: the ranks did not finish in {timeout} s (a hang in a collective?)")


def _rank_main(rank, fn, port, args):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    kernels.use("torch")          # a spawned process starts at the package default, "triton"
    try:
        fn(rank, *args)
    finally:
        distributed.shutdown()
    distributed.exit_process(0)   # as train.py's workers do: no interpreter teardown (see there)


def torchrun(*args, timeout=240):
    """`torchrun --standalone --nproc-per-node=2 -m began_fast.train args`, as a user runs it."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore::DeprecationWarning")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={WORLD}",
           "-m", "began_fast.train", *map(str, args)]
    # A session of its own, so that a hang can be ended with torchrun's workers included.
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            pytest.fail(f"torchrun {' '.join(map(str, args))}: no result in {timeout} s")
    assert process.returncode == 0, stdout[-3000:] + stderr[-3000:]
    return subprocess.CompletedProcess(cmd, process.returncode, stdout, stderr)


def tiny_state(rank, world, seed=0, **options):
    """The trainer's set-up in miniature: common weights from `seed`, then each rank its own
    stream and its own shard of the data; `options`: other Options fields."""
    opts = Options.for_device("cpu", size=32, filters=4, latent=LATENT, batch=BATCH, lr=2e-4, gamma=0.5,
                              lambda_k=0.001, **options)
    torch.manual_seed(seed)
    G, D = build_networks(opts, torch.device("cpu"))
    torch.manual_seed(distributed.rank_seed(seed, rank))
    data = DeviceImages(builtin_shapes(64, 32, 3, seed).images, torch.device("cpu"), rank, world)
    return new_state(G, D, data, opts, world=world)


def params(state):
    return [*state.D.parameters(), *state.G.parameters()]


# ---------------------------------------------------------------------------
# The step under two processes.

def _check_train_step(rank):
    ctx = distributed.setup(torch.device("cpu"))
    assert (ctx.rank, ctx.world, ctx.backend) == (rank, WORLD, "gloo")
    state = tiny_state(rank, WORLD, g_ema_half_life=100)       # generator averaging on

    # Each rank has its own random stream and its own, disjoint, equal shard of the data.
    (rng0, shard0), (rng1, shard1) = distributed.all_gather_object(ctx, (torch.get_rng_state(), state.data.images))
    assert not torch.equal(rng0, rng1)
    assert shard0.shape[0] == shard1.shape[0] == 32
    assert not (shard0[:, None] == shard1[None]).flatten(2).all(-1).any()

    # One step applies the mean of the ranks' local gradients, and k_t moves by the mean
    # losses. lr = 0 leaves the weights as they were, so the local gradients can be
    # taken again afterwards from the same draws.
    state.buffers["k"].fill_(0.25)                  # the fake half's -k_t weighting in play
    state.lr_g.fill_(0.0)
    state.lr_d.fill_(0.0)
    rng, k0 = torch.get_rng_state(), state.buffers["k"].clone()
    train_step(state)
    applied, k1 = [p.grad.clone() for p in params(state)], state.buffers["k"].clone()
    torch.set_rng_state(rng)
    state.buffers["k"].copy_(k0)
    real = state.data.sample(BATCH)      # the step's draws, in the step's order
    z = torch.rand(BATCH, LATENT) * 2 - 1
    loss_real, loss_fake, d_grads, g_grads, *_ = single_pass_gradients(state, real, z)
    local = [loss_real.detach(), loss_fake.detach(), *[g.detach() for g in (*d_grads, *g_grads)]]
    both = distributed.all_gather_object(ctx, local)
    mean = [(a + b) / 2 for a, b in zip(*both)]
    assert not torch.equal(both[0][2], both[1][2])       # the ranks' local gradients differ
    for got, want in zip(applied, mean[2:]):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)
    expected_k = torch.clamp(k0 + 0.001 * (0.5 * mean[0] - mean[1]), 0, 1)
    torch.testing.assert_close(k1, expected_k, rtol=0, atol=1e-7)
    state.buffers["k"].copy_(k1)

    # A few real steps: weights, G's average, Adam's moments and k_t stay bit-identical on both ranks.
    state.lr_g.fill_(2e-4)
    state.lr_d.fill_(2e-4)
    before = [p.detach().clone() for p in params(state)]
    for _ in range(3):
        train_step(state)
    assert any(not torch.equal(a, p) for a, p in zip(before, params(state)))
    mine = {"G": state.G.state_dict(), "D": state.D.state_dict(), "G_ema": state.g_ema.state_dict(),
            "k": state.buffers["k"],
            "opt_d": state.opt_d.state_dict()["state"], "opt_g": state.opt_g.state_dict()["state"],
            "stats": state.stats}
    a, b = distributed.all_gather_object(ctx, mine)
    for net in ("G", "D", "G_ema"):
        for name in a[net]:
            assert torch.equal(a[net][name], b[net][name]), name
    for opt in ("opt_d", "opt_g"):
        for i in a[opt]:
            for key in ("exp_avg", "exp_avg_sq"):
                assert torch.equal(a[opt][i][key], b[opt][i][key]), (opt, i, key)
    assert torch.equal(a["k"], b["k"]) and a["k"] > 0
    assert torch.equal(a["stats"], b["stats"])


def test_the_step_applies_the_ranks_mean_gradient_and_keeps_ranks_identical():
    spawn(_check_train_step)


def _check_two_ranks_match_one_rank_at_double_batch(rank):
    distributed.setup(torch.device("cpu"))
    # One common batch of 2B real images and 2B z; rank r takes rows r*B:(r+1)*B.
    gen = torch.Generator().manual_seed(123)
    images = torch.from_numpy(builtin_shapes(64, 32, 3, 0).images)
    real = images[torch.randint(64, (2 * BATCH,), generator=gen)].float() / 127.5 - 1
    z = torch.rand(2 * BATCH, LATENT, generator=gen) * 2 - 1
    rows = slice(rank * BATCH, (rank + 1) * BATCH)
    # Per-rank means over equal halves average to the global mean, D's -k_t weighting
    # included; only the summation order differs. In float64 that leaves rounding
    # (measured 1e-15); in float32 the difference measured up to 3e-5 of a tensor's
    # largest entry (the fake half's weighting cancels part of D's gradients).
    for dtype, tolerance in ((torch.float64, 1e-12), (torch.float32, 1e-4)):
        state = tiny_state(rank, WORLD)
        state.G.to(dtype)
        state.D.to(dtype)
        state.buffers["k"] = torch.full((), 0.25, dtype=dtype)      # the fake half's -k_t weighting in play
        x, zz = real.to(dtype), z.to(dtype)
        loss_real, loss_fake, d_grads, g_grads, *_ = single_pass_gradients(state, x[rows], zz[rows])
        averaged = distributed.all_reduce_mean([loss_real.detach(), loss_fake.detach(), *d_grads, *g_grads], WORLD)
        # One process at batch 2B on the same data and z.
        loss_real, loss_fake, d_grads, g_grads, *_ = single_pass_gradients(state, x, zz)
        whole = [loss_real.detach(), loss_fake.detach(), *d_grads, *g_grads]
        for got, want in zip(averaged, whole):
            torch.testing.assert_close(got, want, rtol=0, atol=tolerance * float(want.abs().max()))


def test_two_ranks_at_batch_b_match_one_rank_at_batch_2b():
    spawn(_check_two_ranks_match_one_rank_at_double_batch)


def _check_compiled_step(rank):
    ctx = distributed.setup(torch.device("cpu"))
    # The bucketed all-reduce traces whole (fullgraph=True: no graph break), in 100-byte
    # buckets: several buckets, a tensor larger than a bucket, a change of dtype.
    gen = torch.Generator().manual_seed(rank)
    tensors = [torch.randn(3, 5, generator=gen), torch.randn(200, generator=gen), torch.randn((), generator=gen),
               torch.randn(7, generator=gen, dtype=torch.float64), torch.randn(2, 2, generator=gen)]
    compiled = torch.compile(distributed.all_reduce_mean, fullgraph=True, backend="aot_eager")
    everyone = distributed.all_gather_object(ctx, tensors)
    for got, mine, a, b in zip(compiled(tensors, WORLD, bucket_bytes=100), tensors, *everyone):
        assert got.shape == mine.shape and got.dtype == mine.dtype
        torch.testing.assert_close(got, (a + b) / 2, rtol=0, atol=0)
    # The whole compiled step under two processes follows the eager one. aot_eager keeps
    # eager's random stream; inductor (--backend compile) draws differently, so it is
    # compared by hand, not here (its compile alone takes minutes on a small CPU).
    eager, rng = tiny_state(rank, WORLD), torch.get_rng_state()
    traced = tiny_state(rank, WORLD)
    step = torch.compile(train_step, backend="aot_eager")
    torch.set_rng_state(rng)
    for _ in range(2):
        step(traced)
    torch.set_rng_state(rng)
    for _ in range(2):
        train_step(eager)
    for p, q in zip(params(eager), params(traced)):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)
    torch.testing.assert_close(eager.buffers["k"], traced.buffers["k"], rtol=0, atol=1e-7)
    a, b = distributed.all_gather_object(ctx, [t.detach() for t in [traced.buffers["k"], *params(traced)]])
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_the_compiled_step_keeps_the_all_reduce_in_its_graph_and_matches_eager():
    spawn(_check_compiled_step)


# ---------------------------------------------------------------------------
# The real CLI under torchrun.

COMMON = [*TINY, "--log-every", "4", "--ckpt-every", "100", "--sample-every", "100", "--g-ema-half-life", "20"]


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory):
    """12 steps in one go under torchrun with 2 processes: (run folder, CompletedProcess)."""
    out = tmp_path_factory.mktemp("whole")
    tensorboard = ["--tensorboard"] if tensorboard_installed() else []     # TINY leaves it off
    result = torchrun(*COMMON, *tensorboard, "--steps", "12", "--out", out)
    return only_run_dir(out), result


def test_only_rank_0_writes_and_the_stats_count_the_global_batch(whole_run):
    run, result = whole_run
    assert result.stderr.count("run folder:") == 1 and result.stderr.count("done: 12 steps") == 1
    stats = read_stats(run)
    assert [s["step"] for s in stats] == [4, 8, 12]
    assert [s["images"] for s in stats] == [s["step"] * BATCH * WORLD for s in stats]
    names = sorted(os.listdir(run))
    events = [name for name in names if name.startswith(run_folder.EVENT_FILE)]    # TensorBoard's: rank 0's only
    assert len(events) == tensorboard_installed()
    assert [name for name in names if name not in events] == [
        "ckpt-00000012.pt", "log.txt", "options.json", "plot.png", "recon-00000012.png", "samples-00000012.png",
        "stats.jsonl"]
    with open(os.path.join(run, "log.txt")) as f:
        assert f.read().count("run folder:") == 1
    payload = checkpoint.load(os.path.join(run, "ckpt-00000012.pt"))
    assert payload["world"] == WORLD and payload["images"] == 12 * BATCH * WORLD
    rng = payload["rng_ranks"]
    assert len(rng) == WORLD and not torch.equal(rng[0]["cpu"], rng[1]["cpu"])


def test_resume_under_torchrun_is_bit_exact(whole_run, tmp_path):
    whole, _ = whole_run
    torchrun(*COMMON, "--steps", "5", "--out", tmp_path)          # stops inside a log interval
    torchrun("--resume", "auto", "--steps", "12", "--out", tmp_path)
    parts = only_run_dir(tmp_path)
    a = checkpoint.load(checkpoint.in_run(whole)[-1])
    b = checkpoint.load(checkpoint.in_run(parts)[-1])
    assert a["step"] == b["step"] == 12
    for net in ("G", "D", "G_ema"):       # G's average (generator averaging is on) too
        for name, tensor in a[net].items():
            assert torch.equal(tensor, b[net][name]), name
    for opt in ("opt_d", "opt_g"):
        for i, st in a[opt]["state"].items():
            assert all(torch.equal(st[key], b[opt]["state"][i][key]) for key in ("exp_avg", "exp_avg_sq"))
    assert torch.equal(a["buffers"]["k"], b["buffers"]["k"]) and a["decay"] == b["decay"]
    assert all(torch.equal(x["cpu"], y["cpu"]) for x, y in zip(a["rng_ranks"], b["rng_ranks"]))
    strip = lambda rows: [{k: v for k, v in r.items() if k not in TIMING} for r in rows]
    assert strip(read_stats(whole)) == strip(read_stats(parts))


def test_resume_on_another_world_size_warns_and_goes_on(whole_run, tmp_path, capsys):
    run, _ = whole_run
    copy = tmp_path / "00000-shapes-32px"
    copy.mkdir()
    (copy / "ckpt-00000012.pt").write_bytes(open(os.path.join(run, "ckpt-00000012.pt"), "rb").read())
    with pytest.warns(UserWarning, match="written by 2 process"):
        assert main(["--resume", str(copy / "ckpt-00000012.pt"), "--steps", "16"]) == 0   # one process
    payload = checkpoint.load(str(copy / "ckpt-00000016.pt"))
    assert payload["world"] == 1 and len(payload["rng_ranks"]) == 1
    assert payload["images"] == 12 * BATCH * WORLD + 4 * BATCH       # the global count goes on
    assert read_stats(copy)[-1]["images"] == payload["images"]


def _signal_one_rank(rank, out):
    import began_fast.train as train

    class SignalledRunner(train.StepRunner):
        def __call__(self):
            super().__call__()
            if rank == 1 and self.calls == 5:      # SIGTERM reaches rank 1 alone, between log lines
                with open(out + ".signalled", "w") as f:
                    f.write(str(time.time()))
                os.kill(os.getpid(), signal.SIGTERM)

    train.StepRunner = SignalledRunner
    assert train.main([*TINY, "--log-every", "4", "--ckpt-every", "1000000", "--sample-every", "1000000",
                       "--steps", "1000000", "--out", out]) == 0


def test_a_signal_to_one_rank_stops_every_rank_at_the_same_step_within_the_bound(tmp_path):
    out = tmp_path / "runs"
    spawn(_signal_one_rank, str(out))
    run = only_run_dir(out)
    saved = checkpoint.in_run(run)
    assert len(saved) == 1      # written once, at a step every rank agreed on (or they would hang)
    step = checkpoint.step_of(saved[0])
    took = os.path.getmtime(saved[0]) - float(open(f"{out}.signalled").read())
    assert step >= 5 and took < 15, (step, took)     # about 1 s of training; a loaded CI machine
    assert [s["step"] for s in read_stats(run)] == list(range(4, step + 1, 4))


# ---------------------------------------------------------------------------
# Pieces that need no process group.

def test_the_data_is_split_into_disjoint_equal_shards():
    images = builtin_shapes(10, 32, 3, 0).images
    shards = [DeviceImages(images, torch.device("cpu"), rank, 3).images for rank in range(3)]
    assert [s.shape[0] for s in shards] == [3, 3, 3]
    for rank, shard in enumerate(shards):
        assert torch.equal(shard, torch.from_numpy(images[rank:9:3]))
    with pytest.raises(DataError, match="cannot be shared among 16 processes"):
        DeviceImages(images, torch.device("cpu"), 0, 16)


def test_rank_seeds_differ_by_rank_and_from_the_weight_seed():
    seeds = {distributed.rank_seed(0, rank) for rank in range(8)}
    assert len(seeds) == 8 and 0 not in seeds
    assert distributed.rank_seed(0, 1) == distributed.rank_seed(0, 1) != distributed.rank_seed(0, 1, step=100)


def test_without_torchrun_there_is_no_process_group(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = distributed.setup(torch.device("cpu"))
    assert (ctx.rank, ctx.world, ctx.main, ctx.backend) == (0, 1, True, None)
    assert not torch.distributed.is_initialized()
    assert distributed.any_rank(ctx, True) and distributed.all_gather_object(ctx, 3) == [3]
