"""Multi-process training under torchrun: process-group set-up and the rank helpers.

    torchrun --nproc_per_node=N -m began_fast.train ...     # N processes, one machine

Every process runs the same trainer on its own device (cuda:LOCAL_RANK with NCCL,
or the CPU with gloo), on its own shard of the data and its own random stream.
The step averages D's and G's gradients, and L(x) and L(G(z)), over the ranks, so
every rank applies the same update and the k_t controller sees the global batch
(batch x world): weights, optimiser states and k_t stay identical on every rank.
Without torchrun (or with WORLD_SIZE=1) nothing here creates a process group and
the run is the plain single-process one.

No process waits forever: every collective gives up after --collective-timeout seconds,
and a process whose collective failed (a peer that vanished: killed, or its machine gone)
asks the rendezvous store which ranks still answer, so that its error names the one that
vanished (`who_vanished`). Under `torchrun --max-restarts N` the agent then restarts the
whole group; each restart keeps its keys in the store under a prefix of its own (the agent's
store outlives the workers, and a key left by the group before could otherwise be read by
the group after: an old address, a connection refused or a hang).

Why an explicit all-reduce and not DistributedDataParallel: the single-forward
step (step.single_pass_gradients) takes D's and G's gradients together with
torch.autograd.grad, and DDP's reducer hooks into .backward() only: through
autograd.grad a DDP-wrapped module hands back each rank's local, un-averaged
gradients. So the step averages the gradient list itself, between the backward
and the optimiser steps, in a few flat buckets (all_reduce_mean). The cost against
DDP: no overlap of communication with the backward pass.
"""
import contextlib
import os
import re
import sys
import time
from datetime import timedelta
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist

if dist.is_available():    # builds without distributed still train in one process
    import torch.distributed._functional_collectives as funcol

# Gradients are all-reduced in flat buckets of about this size (DDP's default): few
# enough collectives to keep per-call latency low, small enough that the concatenated
# copies stay a fraction of the gradients' memory.
BUCKET_BYTES = 25 * 1024 * 1024
# After a failed collective, how long a process waits for the others to say they are alive
# (at most; less with a short --collective-timeout): peers that failed too answer at once.
# Under torchrun a second: its agent stops and restarts the group as soon as one process
# has died, and a survivor that lingers only delays the restart.
ROLL_CALL_S = 10.0
ROLL_CALL_UNDER_TORCHRUN_S = 1.0
_session = {}      # this process's group: its store, rank, world and roll-call wait (who_vanished)


class DistributedError(ValueError):
    """A launch that cannot work (e.g. more processes than GPUs), as a one-line message."""


@dataclass(frozen=True)
class Context:
    """Where this process sits: rank among world, its node-local rank and its device."""
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None      # "nccl", "gloo", or None for a single process

    @property
    def main(self) -> bool:
        """Rank 0: the only process that prints, and writes stats, grids and checkpoints."""
        return self.rank == 0

    @property
    def local_main(self) -> bool:
        return self.local_rank == 0


def env_world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def env_rank() -> int:
    """This process's rank from torchrun's environment (0 when not launched by torchrun)."""
    return int(os.environ.get("RANK", "0")) if env_world() > 1 else 0


def setup(device: torch.device, timeout_s: float = 600.0) -> Context:
    """Join torchrun's process group when WORLD_SIZE > 1; otherwise a single-process Context.

    On CUDA each process takes the GPU cuda:LOCAL_RANK and NCCL; on the CPU, gloo.
    The rendezvous (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE) comes from torchrun.
    Joining and every collective give up after `timeout_s` seconds.
    """
    world = env_world()
    if world <= 1:
        return Context(device=device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise DistributedError(
                f"LOCAL_RANK {local_rank} but only {count} GPU(s) are visible on this machine; "
                f"give torchrun --nproc_per_node={count} or fewer")
        torch.cuda.set_device(local_rank)
        device, backend = torch.device("cuda", local_rank), "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():   # env:// rendezvous: MASTER_ADDR, MASTER_PORT from torchrun
        timeout = timedelta(seconds=timeout_s)
        try:
            store = _restart_store(rank, world, timeout)
            dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world, timeout=timeout,
                                    device_id=device if backend == "nccl" else None)
        except dist.DistError as e:
            raise DistributedError(f"the {world} processes did not all join within --collective-timeout "
                                   f"{timeout_s:g} s ({_reason(e)})") from None
        roll_call = ROLL_CALL_UNDER_TORCHRUN_S if "TORCHELASTIC_RUN_ID" in os.environ else ROLL_CALL_S
        _session.update(store=store, rank=rank, world=world, roll_call_s=min(roll_call, timeout_s / 2))
    return Context(rank=rank, world=world, local_rank=local_rank, device=device, backend=backend)


def _restart_store(rank: int, world: int, timeout: timedelta):
    """env://'s store (torchrun's agent's, or one rank 0 hosts), its keys under a prefix of
    this torchrun restart's. On one machine the restart count is the same in every process
    (one agent counts); across machines each agent counts its own restarts, so there the
    store is left as torchrun gives it (set TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 for
    restarts across machines: a new store each round)."""
    store, _, _ = next(dist.rendezvous("env://", rank=rank, world_size=world, timeout=timeout))
    if int(os.environ.get("GROUP_WORLD_SIZE", "1")) != 1:
        return store
    return dist.PrefixStore(f"began_fast/restart-{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


def who_vanished() -> str | None:
    """After a collective failed: which peers vanished, as text ("rank 1 of 2", "ranks 1, 3 of
    4"), from a roll call in the rendezvous store; None outside a process group, or when every
    peer answered (then the failure was not a lost peer)."""
    if not _session:
        return None
    store, rank, world, wait = (_session[k] for k in ("store", "rank", "world", "roll_call_s"))
    try:
        store.set_timeout(timedelta(seconds=wait))
        store.set(f"alive/{rank}", "1")
        deadline = time.monotonic() + wait
        while True:
            missing = [r for r in range(world) if r != rank and not store.check([f"alive/{r}"])]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    except (dist.DistError, RuntimeError):     # the store is gone with the process that held it
        if "TORCHELASTIC_RUN_ID" in os.environ:
            return "torchrun's agent (it held the rendezvous store)"
        return f"rank 0 of {world} (it held the rendezvous store)"
    if not missing:
        return None
    return f"rank{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} of {world}"


def _reason(e: Exception) -> str:
    """The gist of a torch.distributed error: its first sentence, without the source location."""
    text = re.sub(r"^\[[^\]]*\] *", "", str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
    return text.split(". ")[0].rstrip(".")


def vanished_error(e: Exception) -> str | None:
    """The one-line error for a collective that failed because a peer vanished; None when it
    did not fail for that (every peer still answers, or there is no process group)."""
    who = who_vanished()
    if who is None:
        return None
    return (f"error: {who} stopped answering ({_reason(e)}); this process "
            f"(rank {_session['rank']}) stops too. Restart the job; --resume auto continues from the last "
            "checkpoint")


def shutdown() -> None:
    _session.clear()
    if dist.is_initialized():
        dist.destroy_process_group()


def exit_process(code: int) -> None:
    """End a torchrun worker now, skipping the interpreter's teardown: there, about one run in
    twenty on a loaded 2-core machine, a C++ thread of gloo's outlived the process group and
    aborted the process (SIGABRT, "terminate called without an active exception") after
    everything was written. Call it after shutdown(), when the run's files are closed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def wait_for_all(ctx: Context) -> None:
    """Block until every rank gets here. Called at the end of a run, so that no rank tears
    its process group down while rank 0 is still writing (gloo can abort a process whose
    peer disconnects mid-teardown)."""
    if ctx.world > 1:
        dist.barrier()


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The seed of rank `rank`'s z and batch stream: distinct per rank, and distinct from
    `seed` itself, which initialises the (common) weights."""
    return int(np.random.SeedSequence([seed, rank, step, 0x6265_6761]).generate_state(1, np.uint64)[0]
               % (2 ** 63))


# ---------------------------------------------------------------------------
# Inside the step: traceable by torch.compile, no host synchronisation.

def all_reduce_mean(tensors, world: int, bucket_bytes: int = BUCKET_BYTES) -> list:
    """The mean over ranks of each tensor, via a few bucketed all-reduces; new tensors.

    Consecutive tensors of one dtype and device are flattened into one buffer of up to
    `bucket_bytes` (a larger tensor gets a bucket of its own), summed across ranks and
    divided by the world size. SUM then divide, not ReduceOp.AVG: gloo has no AVG, and
    one code path gives the same arithmetic on NCCL and gloo. The collectives are
    torch.distributed._functional_collectives, which return new tensors and are traced
    by torch.compile without a graph break (the in-place dist.all_reduce is not). In
    eager mode the result waits on first use, so every bucket is sent before the
    first one is waited for.
    """
    group = dist.group.WORLD
    buckets, current, size = [], [], 0
    for t in tensors:
        nbytes = t.numel() * t.element_size()
        if current and (size + nbytes > bucket_bytes or t.dtype != current[0].dtype
                        or t.device != current[0].device):
            buckets.append(current)
            current, size = [], 0
        current.append(t)
        size += nbytes
    if current:
        buckets.append(current)
    reduced = [funcol.all_reduce(torch.cat([t.reshape(-1) for t in bucket]), "sum", group)
               for bucket in buckets]
    out = []
    for bucket, flat in zip(buckets, reduced):
        mean = flat / world          # the first use: waits for this bucket's collective
        parts = mean.split([t.numel() for t in bucket])
        out += [part.view(t.shape) for part, t in zip(parts, bucket)]
    return out


# ---------------------------------------------------------------------------
# Outside the step: set-up, log intervals and checkpoints (these may synchronise).

def any_rank(ctx: Context, flag: bool) -> bool:
    """True on every rank when `flag` is true on any rank (one tiny all-reduce)."""
    if ctx.world == 1:
        return flag
    t = torch.tensor([int(flag)], dtype=torch.int32, device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast_object(ctx: Context, obj):
    """Rank 0's `obj` on every rank (pickled)."""
    if ctx.world == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_object(ctx: Context, obj) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every rank (pickled)."""
    if ctx.world == 1:
        return [obj]
    out = [None] * ctx.world
    dist.all_gather_object(out, obj)
    return out


@torch.no_grad()
def broadcast_module_(ctx: Context, *modules) -> None:
    """Copy rank 0's parameters and buffers into every rank's modules, in place."""
    if ctx.world == 1:
        return
    for module in modules:
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=0)


@contextlib.contextmanager
def local_main_first(ctx: Context, timeout: timedelta = timedelta(hours=12)):
    """Run the block on each machine's local rank 0 first, then on the others: the first
    decodes an image folder into the cache, the others then read the cache. The wait
    goes through a gloo group of its own with a long timeout, since decoding a large
    folder can outlast the default group's collective timeout (10 min with NCCL)."""
    if ctx.world == 1:
        yield
        return
    group = dist.new_group(backend="gloo", timeout=timeout)
    if not ctx.local_main:
        dist.barrier(group=group)
    yield
    if ctx.local_main:
        dist.barrier(group=group)
