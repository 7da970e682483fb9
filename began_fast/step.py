"""What every model's training step shares: its state, and the pieces a step is made of.

A model's step is one function, `train_step(state)` in its objective's file (models/):
it draws a real batch and z on the device, runs its networks under the run's precision,
takes gradients with torch.autograd.grad, applies them with `apply_gradients`, and ends
with `finish_step`, which adds the step's statistics to a device-side buffer. Nothing in
it reads a device value on the host, so every backend (backends.py) can run it: eagerly,
compiled, or captured in a CUDA graph.
"""
import contextlib
from dataclasses import dataclass, field

import torch

from began_fast import averaging
from began_fast.config import Options
from began_fast.data import DeviceImages
from began_fast.distributed import all_reduce_mean
from began_fast.models import sample_z
from began_fast.models.hooks import Model


@dataclass
class StepState:
    """Everything a step reads or writes; tensors live on the training device."""
    G: torch.nn.Module
    D: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    lr_g: torch.Tensor         # G's learning rate, 0-dim float32, read by opt_g
    lr_d: torch.Tensor         # D's, read by opt_d
    data: DeviceImages         # or streaming.HostImages: the same interface
    stats: torch.Tensor        # running sums in the model's STATS_FIELDS layout ("count" first)
    step: torch.Tensor         # steps taken, 0-dim int64
    first_bad_step: torch.Tensor   # first step whose loss was not finite, or -1
    opts: Options              # the run's options: batch, precision, the model's hyperparameters
    prior: str = "uniform"     # the model's z prior (models.sample_z)
    world: int = 1             # processes training together (torchrun); batch is per process
    buffers: dict = field(default_factory=dict)   # the model's own state tensors (BEGAN: k)
    g_ema: torch.nn.Module | None = None   # G's moving average (averaging.py); None when off

    @property
    def memory_format(self):
        return torch.channels_last if self.opts.channels_last else torch.contiguous_format

    @property
    def device(self) -> torch.device:
        return self.step.device


def new_state(G, D, data, opts: Options, world: int = 1) -> StepState:
    """Fresh optimisers, statistics and model state for G and D on data's device (G and D
    come in the layout models.build_networks gave them)."""
    model = Model(opts.model)
    spec, device = model.spec, data.device
    # Device-tensor learning rates let decay change them without recompiling or re-capturing.
    lr_g, lr_d = (torch.tensor(float(lr), device=device) for lr in (opts.lr, opts.lr_d))
    return StepState(
        G=G, D=D, opt_g=new_optimizer(spec.optimizer, G.parameters(), lr_g, opts.backend),
        opt_d=new_optimizer(spec.optimizer, D.parameters(), lr_d, opts.backend), lr_g=lr_g, lr_d=lr_d,
        data=data, stats=torch.zeros(len(model.stats_fields), device=device),
        step=torch.zeros((), dtype=torch.int64, device=device),
        first_bad_step=torch.full((), -1, dtype=torch.int64, device=device),
        opts=opts, prior=spec.prior, world=world, buffers=model.new_buffers(device),
        g_ema=averaging.new_average(G, opts.g_ema_half_life))


def new_optimizer(spec: tuple, params, lr: torch.Tensor, backend: str) -> torch.optim.Optimizer:
    """spec: ("adam", betas) or ("rmsprop", None), the model's spec.optimizer."""
    kind, betas = spec
    flags = optimizer_flags(kind, lr.device, backend)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, **flags)
    return torch.optim.RMSprop(params, lr=lr, **flags)


def optimizer_flags(kind: str, device: torch.device, backend: str) -> dict:
    """The optimiser's implementation for the run at hand (a tensor lr needs fused or
    capturable on CUDA).

    CPU: the plain per-parameter loop (capturable and fused need an accelerator here).
    CUDA, eager: Adam fused, one kernel for all parameters, the fastest outside a graph
    (RMSprop has no fused form: foreach and capturable, as below).
    CUDA, compile or a CUDA graph: foreach and capturable, which keep the step counts on
    the device so the update can be captured, and which Inductor fuses when it compiles
    (capturable costs speed only when run eagerly)."""
    if device.type != "cuda":
        flags = dict(foreach=False, capturable=False)
    elif backend == "eager" and kind == "adam":
        flags = dict(foreach=False, capturable=False, fused=True)
    else:
        flags = dict(foreach=True, capturable=True)
    return dict(flags, fused=False) if kind == "adam" and "fused" not in flags else flags


def load_optimizer_state(opt: torch.optim.Optimizer, saved: dict, lr: torch.Tensor) -> None:
    """The saved state and hyperparameters, with this run's implementation flags (a run may
    resume on another device or backend) and this run's lr tensor."""
    flags = {k: opt.param_groups[0][k] for k in ("foreach", "capturable", "fused")
             if k in opt.param_groups[0]}                             # optimizer_flags'
    groups = [{**group, **flags} for group in saved["param_groups"]]
    opt.load_state_dict({**saved, "param_groups": groups})
    for group in opt.param_groups:
        group["lr"] = lr


def autocast(state: StepState):
    if state.opts.precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(state.device.type, dtype=torch.bfloat16)


@torch.no_grad()
def in_training_shapes(state: StepState, net, inputs: torch.Tensor, batch: int) -> torch.Tensor:
    """net(inputs) in float32, in eval mode (batch norm's running statistics, none updated),
    computed in chunks of `batch` rows (the last one padded) with the step's precision and
    layout: outside the step (sample grids, evaluation) the networks then meet only the
    shapes and dtypes the step already autotuned cuDNN and the Triton kernels for, and
    never benchmark anew while other ranks wait."""
    was_training = net.training
    net.eval()
    outputs = []
    for chunk in inputs.split(batch):
        pad = batch - chunk.shape[0]
        if pad:
            chunk = torch.cat([chunk, chunk[-1:].expand(pad, *chunk.shape[1:])])
        if chunk.dim() == 4:
            chunk = chunk.contiguous(memory_format=state.memory_format)
        with autocast(state):
            outputs.append(net(chunk)[:batch - pad].float())
    net.train(was_training)
    return torch.cat(outputs)


# ----------------------------------------------------------------------------------------------
# The pieces of a step; each runs on the device without host reads.

def draw_real(state: StepState) -> torch.Tensor:
    """A real batch, drawn on the device, in the step's layout."""
    return state.data.sample(state.opts.batch, state.memory_format)


def draw_z(state: StepState) -> torch.Tensor:
    """A batch of z from the model's prior."""
    return sample_z(state.opts.batch, state.opts.latent, state.device, prior=state.prior)


def apply_gradients(state: StepState, net: str, grads) -> None:
    """One optimiser step of G or D ("G", "D") with `grads`, in its parameters' order. Under
    torchrun the gradients are first averaged over the processes (a bucketed all-reduce;
    DDP's hooks do not see torch.autograd.grad), so every rank applies the same update."""
    module, opt = (state.G, state.opt_g) if net == "G" else (state.D, state.opt_d)
    if state.world > 1:
        grads = all_reduce_mean(list(grads), state.world)
    for p, g in zip(module.parameters(), grads):
        p.grad = g
    opt.step()


def finish_step(state: StepState, values, watch: torch.Tensor) -> None:
    """Add [1, *values] (the model's STATS_FIELDS after "count") to the stats buffer, count
    the step, and mark it when `watch` is not finite. Under torchrun the values are first
    averaged over the processes, so the stats are the global batch's on every rank."""
    values = [v.detach().float() for v in values]
    if state.world > 1:
        values = all_reduce_mean(values, state.world)
    state.stats.add_(torch.stack([torch.ones_like(values[0]), *values]))
    count_step(state, watch)


def count_step(state: StepState, watch: torch.Tensor) -> None:
    """Count the step, remember it as the first bad one when `watch` is not finite, and
    average G's new weights into G_ema when averaging is on (every model's step ends here,
    after G's update)."""
    state.step.add_(1)
    bad = ~torch.isfinite(watch.detach()) & (state.first_bad_step < 0)
    state.first_bad_step.copy_(torch.where(bad, state.step, state.first_bad_step))
    if state.g_ema is not None:
        opts = state.opts
        beta = averaging.decay(state.step, opts.batch * state.world, opts.g_ema_half_life, opts.g_ema_rampup)
        averaging.update(state.g_ema, state.G, beta)


def sampling_generator(state: StepState) -> torch.nn.Module:
    """The generator the grids and the metrics draw from: G_ema when the run averages, else G."""
    return state.G if state.g_ema is None else state.g_ema
