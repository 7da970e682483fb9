"""One BEGAN training step, and the backends that run it (eager, compiled, CUDA-graphed).

The step is one function, `train_step(state)`: every backend runs that same
function. It draws z and a real batch on the device, runs G, runs D once on the
concatenated [real; fake] batch, takes every gradient in one backward pass,
applies both Adam updates and the k_t update, and adds the step's losses to a
device-side stats buffer. Nothing in it reads a device value on the host, so it
can be compiled whole and captured in a CUDA graph.
"""
import contextlib
from dataclasses import dataclass

import torch

from began_fast.config import BACKENDS, Options
from began_fast.data import DeviceImages
from began_fast.distributed import all_reduce_mean
from began_fast.kernels import equilibrium_update, l1_per_sample, l1_per_sample_reference, new_stats
from began_fast.model import sample_z


@dataclass
class StepState:
    """Everything the step reads or writes; tensors live on the training device."""
    G: torch.nn.Module
    D: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    data: DeviceImages
    k: torch.Tensor            # k_t, 0-dim float32
    lr: torch.Tensor           # both optimisers' learning rate, 0-dim float32
    stats: torch.Tensor        # running sums, layout kernels.STATS_FIELDS
    step: torch.Tensor         # steps taken, 0-dim int64
    first_bad_step: torch.Tensor   # first step whose loss was not finite, or -1
    batch: int
    gamma: float
    lambda_k: float
    precision: str = "fp32"
    channels_last: bool = False
    world: int = 1             # processes training together (torchrun); batch is per process

    @property
    def memory_format(self):
        return torch.channels_last if self.channels_last else torch.contiguous_format


def new_state(G, D, data, opts: Options, world: int = 1) -> StepState:
    """Fresh optimisers and controller state (k_0 = 0) for G and D on data's device, with
    the batch, lr, gamma, lambda_k, precision and batch layout of the run's options (G and D
    come in the layout model.build_networks gave them)."""
    device = data.images.device
    lr_t = torch.tensor(float(opts.lr), device=device)
    # A device-tensor lr lets decay change lr without recompiling or re-capturing.
    adam = dict(lr=lr_t, betas=(0.5, 0.999), **adam_flags(device, opts.backend))
    return StepState(
        G=G, D=D, opt_g=torch.optim.Adam(G.parameters(), **adam),
        opt_d=torch.optim.Adam(D.parameters(), **adam), data=data,
        k=torch.zeros((), device=device), lr=lr_t, stats=new_stats(device),
        step=torch.zeros((), dtype=torch.int64, device=device),
        first_bad_step=torch.full((), -1, dtype=torch.int64, device=device),
        batch=opts.batch, gamma=opts.gamma, lambda_k=opts.lambda_k, precision=opts.precision,
        channels_last=opts.channels_last, world=world)


def adam_flags(device: torch.device, backend: str) -> dict:
    """Adam's implementation for the run at hand (a tensor lr needs fused or capturable on CUDA).

    CPU: the plain per-parameter loop (capturable and fused need an accelerator here).
    CUDA, eager: fused, one kernel for all parameters, the fastest outside a graph.
    CUDA, compile or a CUDA graph: foreach and capturable, which keep the step counts on
    the device so the update can be captured, and which Inductor fuses when it compiles
    (capturable costs speed only when run eagerly)."""
    if device.type != "cuda":
        return dict(foreach=False, capturable=False, fused=False)
    if backend == "eager":
        return dict(foreach=False, capturable=False, fused=True)
    return dict(foreach=True, capturable=True, fused=False)


def load_optimizer_state(opt: torch.optim.Optimizer, saved: dict, lr: torch.Tensor) -> None:
    """Adam's saved state and hyperparameters, with this run's implementation flags (a run may
    resume on another device or backend) and the lr tensor both optimisers share."""
    flags = {k: opt.param_groups[0][k] for k in ("foreach", "capturable", "fused")}   # adam_flags'
    groups = [{**group, **flags} for group in saved["param_groups"]]
    opt.load_state_dict({**saved, "param_groups": groups})
    for group in opt.param_groups:
        group["lr"] = lr


def autocast(state: StepState):
    if state.precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(state.k.device.type, dtype=torch.bfloat16)


@torch.no_grad()
def in_training_shapes(state: StepState, net, inputs: torch.Tensor, batch: int) -> torch.Tensor:
    """net(inputs) in float32, computed in chunks of `batch` rows (the last one padded) with
    the step's precision and layout: outside the step (sample grids, evaluation) the
    networks then meet only the shapes and dtypes the step already autotuned cuDNN and
    the Triton kernels for, and never benchmark anew while other ranks wait."""
    outputs = []
    for chunk in inputs.split(batch):
        pad = batch - chunk.shape[0]
        if pad:
            chunk = torch.cat([chunk, chunk[-1:].expand(pad, *chunk.shape[1:])])
        if chunk.dim() == 4:
            chunk = chunk.contiguous(memory_format=state.memory_format)
        with autocast(state):
            outputs.append(net(chunk)[:batch - pad].float())
    return torch.cat(outputs)


def single_pass_losses(state: StepState, real, z):
    """L(x) and L(G(z)) from one D forward on [real; fake].

    The -k_t trick, explained here once: D's layers take a per-sample weight-gradient
    scale (layers.py; kernels.conv2d_elu's weight_grad_scale), 1 for the real half and
    -k_t for the fake half. The backward of L(x) + L(G(z)) then gives D's parameters
    the gradient of L_D = L(x) - k_t L(G(z)), while the input gradient that flows on
    into G is unscaled, so G's parameters get the gradient of L_G = L(G(z)). One D
    forward and one backward replace the paper's two passes (two_pass_gradients), with
    the same gradients (tested).
    """
    batch = real.shape[0]
    with autocast(state):
        fake = state.G(z).float()
        both = torch.cat([real, fake]).contiguous(memory_format=state.memory_format)
        scale = torch.cat([torch.ones_like(state.k).expand(batch), -state.k.expand(batch)])
        recon = state.D(both, weight_grad_scale=scale)
    per_sample = l1_per_sample(recon, both)
    return per_sample[:batch].mean(), per_sample[batch:].mean()


def single_pass_gradients(state: StepState, real, z):
    """(loss_real, loss_fake, D's gradients, G's gradients) from one forward and one backward."""
    loss_real, loss_fake = single_pass_losses(state, real, z)
    d_params, g_params = list(state.D.parameters()), list(state.G.parameters())
    grads = torch.autograd.grad(loss_real + loss_fake, d_params + g_params)
    return loss_real, loss_fake, grads[:len(d_params)], grads[len(d_params):]


def two_pass_gradients(G, D, real, z, k):
    """The plain reference: D on real and detached fake for L_D, then D again on fake for L_G."""
    fake = G(z)
    loss_real = l1_per_sample_reference(D(real), real).mean()
    detached = fake.detach()
    loss_fake_d = l1_per_sample_reference(D(detached), detached).mean()
    d_grads = torch.autograd.grad(loss_real - k * loss_fake_d, list(D.parameters()))   # L_D
    loss_fake = l1_per_sample_reference(D(fake), fake).mean()
    g_grads = torch.autograd.grad(loss_fake, list(G.parameters()))                     # L_G
    return loss_real, loss_fake, d_grads, g_grads


def train_step(state: StepState) -> None:
    """One BEGAN step, all on the device; reads nothing back to the host."""
    real = state.data.sample(state.batch, state.memory_format)
    z = sample_z(state.batch, state.G.latent, state.k.device)
    loss_real, loss_fake, d_grads, g_grads = single_pass_gradients(state, real, z)
    if state.world > 1:
        # The global batch: every rank's gradients and both losses averaged over the ranks
        # (bucketed all-reduce; DDP's hooks do not see torch.autograd.grad), so all ranks
        # apply the same update and k_t follows the global L(x) and L(G(z)).
        *grads, loss_real, loss_fake = all_reduce_mean(
            [*d_grads, *g_grads, loss_real.detach(), loss_fake.detach()], state.world)
        d_grads, g_grads = grads[:len(d_grads)], grads[len(d_grads):]
    for params, grads in ((state.D.parameters(), d_grads), (state.G.parameters(), g_grads)):
        for p, g in zip(params, grads):
            p.grad = g
    state.opt_d.step()
    state.opt_g.step()
    m_global = equilibrium_update(state.k, loss_real, loss_fake, state.gamma, state.lambda_k, state.stats)
    state.step.add_(1)
    bad = ~torch.isfinite(m_global) & (state.first_bad_step < 0)
    state.first_bad_step.copy_(torch.where(bad, state.step, state.first_bad_step))


class StepRunner:
    """Runs `train_step(state)` once per call, by the chosen backend.

    Every call is exactly one training step. For the CUDA-graph backends the first
    WARMUP calls run the step normally on a side stream (cuDNN and Adam initialise,
    the compiler compiles), the next call captures the step and replays it, and every
    later call only replays. The first `setup_calls` calls carry the compilation
    or capture; callers time them apart from steady-state speed.
    """
    WARMUP = 3

    def __init__(self, backend: str, state: StepState):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
        if "cudagraph" in backend and state.k.device.type != "cuda":
            raise ValueError(f"--backend {backend} needs a CUDA device; use eager or compile on the CPU")
        self.backend, self.state, self.calls = backend, state, 0
        # Static shapes: the batch never changes within a run, so no dynamic-shape recompile.
        self.fn = torch.compile(train_step, dynamic=False) if backend.startswith("compile") else train_step
        self.graph = None
        self.setup_calls = {"eager": 0, "compile": 1}.get(backend, self.WARMUP + 1)

    def __call__(self) -> None:
        self.calls += 1
        if "cudagraph" not in self.backend:
            self.fn(self.state)
        elif self.graph is not None:
            self.graph.replay()
        elif self.calls <= self.WARMUP:
            self._warmup_step()
        else:
            self._capture()
            self.graph.replay()

    def _warmup_step(self):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.fn(self.state)
        torch.cuda.current_stream().wait_stream(side)

    def _capture(self):
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.fn(self.state)
