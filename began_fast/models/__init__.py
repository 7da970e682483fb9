"""The models the engine trains. Each objective has a file of its own (its train_step and
the layout of its statistics), each architecture another (its networks); each model's spec
(began_fast/specs/) says which files, and everything else about it.

    objective("wgan-gp")          -> the module whose train_step trains that model
    build_networks(opts, device)  -> (G, D) of opts.arch, on the device, in the run's layout
"""
import importlib

import torch
from torch import nn

from began_fast.config import Options
from began_fast.specs import ARCHITECTURES, SPECS


def objective(model: str):
    """The module of `model`'s objective (its spec's `objective`)."""
    return importlib.import_module(SPECS[model].objective)


def build_networks(opts, device) -> tuple:
    """(G, D) for a run's options (an Options or anything with the same fields), on `device`,
    with conv weights and activations channels_last when opts.channels_last."""
    networks = ARCHITECTURES[opts.arch]
    G, D = importlib.import_module(f"began_fast.models.{networks.module}").build(opts, **networks.kwargs)
    fmt = torch.channels_last if opts.channels_last else torch.contiguous_format
    return G.to(device, memory_format=fmt), D.to(device, memory_format=fmt)


def sample_z(count: int, latent: int, device=None, generator=None, prior: str = "uniform") -> torch.Tensor:
    """z [count, latent] float32 from a model's prior: "uniform", U[-1, 1] (BEGAN, DCGAN), or
    "normal", N(0, 1) (WGAN, WGAN-GP)."""
    if prior == "normal":
        return torch.randn(count, latent, device=device, generator=generator)
    return torch.rand(count, latent, device=device, generator=generator) * 2 - 1


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def memory_needed(opts) -> int:
    """A lower bound on the bytes a run's options need on the training device: G's and D's
    weights, gradients and both optimiser moments (16 bytes a parameter, counted on
    networks built on the meta device, which allocates nothing), and D's input batch of
    real and fake images at 2 bytes a value (bf16). Not the data set: where it lives is
    decided once it is loaded (placement.py)."""
    with torch.device("meta"):
        parameters = sum(count_parameters(net) for net in build_networks(opts, "meta"))
    return 16 * parameters + 2 * opts.batch * opts.channels * opts.size ** 2 * 2


def generator_from_checkpoint(payload: dict, device, raw: bool = False):
    """A checkpoint's generator, in eval mode, and the z prior it samples from: its averaged
    G (G_ema) when the run kept one, unless `raw`; else G itself. The one place that knows
    how a checkpoint's options become a generator."""
    opts = Options.from_dict(payload["options"])
    G, _ = build_networks(opts, device)
    G.load_state_dict(payload["G"] if raw else payload.get("G_ema", payload["G"]))
    return G.eval(), SPECS[opts.model].prior
