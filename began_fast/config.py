"""All options of a training run: one dataclass, its command line, and its validation.

Options left unset on the command line get device-dependent defaults: on CUDA the
paper's 64 px, n = 128, batch 16; on the CPU a small configuration that visibly
learns in a few minutes.
"""
import argparse
import dataclasses
from dataclasses import dataclass

from began_fast.data import CROPS
from began_fast.model import IMAGE_SIZES
from began_fast.step import BACKENDS, PRECISIONS


class OptionError(ValueError):
    """An impossible option value, reported as a one-line message."""


@dataclass
class Options:
    data: str | None = None          # image folder; None = built-in shapes
    out: str = "runs"
    size: int = 64
    filters: int = 128               # the paper's n
    latent: int = 64                 # the paper's h, also the size of z
    channels: int = 3
    skip: bool = False
    tanh: bool = False
    crop: str = "center"
    builtin_count: int = 20000
    batch: int = 16
    steps: int = 200000
    lr: float = 1e-4
    lr_patience: int = 5000
    lr_floor: float = 1e-5
    gamma: float = 0.5
    lambda_k: float = 0.001
    seed: int = 0
    device: str = "auto"
    backend: str = "eager"
    kernels: str = "torch"
    precision: str = "fp32"
    channels_last: bool = False
    log_every: int = 100
    sample_every: int = 2000
    ckpt_every: int = 5000
    keep_ckpts: int = 3
    resume: str | None = None
    cache_dir: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Defaults that depend on the device, applied to options the user did not set.
CUDA_DEFAULTS = dict(size=64, filters=128, latent=64, batch=16, steps=200000, log_every=100,
                     sample_every=2000, ckpt_every=5000)
# On the CPU, gamma 1 and lambda_k 0.01 (not the paper's 0.5 and 0.001): with those, this
# small G stops depending on z within a few hundred steps and its samples stay one image
# for thousands of steps; see README, "Where this differs from the paper".
CPU_DEFAULTS = dict(size=32, filters=16, latent=32, batch=32, steps=2500, log_every=50,
                    sample_every=500, ckpt_every=500, builtin_count=8000, lr=2e-4,
                    gamma=1.0, lambda_k=0.01)

# Options a resumed run may change; every other one comes from the checkpoint.
RUN_CONTROL = ("out", "steps", "log_every", "sample_every", "ckpt_every", "keep_ckpts",
               "device", "backend", "kernels", "cache_dir", "resume")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m began_fast.train", allow_abbrev=False,
        description="Train a BEGAN (Boundary Equilibrium GAN, arXiv 1703.10717). Defaults marked "
                    "cuda/cpu depend on the device.")
    add = p.add_argument
    add("--data", metavar="DIR", help="folder of images, searched recursively "
        "(jpg, png, webp, bmp); default: built-in generated shapes")
    add("--out", metavar="DIR", help="parent folder of the numbered run folders (default: runs)")
    add("--size", type=int, help=f"image side in pixels, one of {IMAGE_SIZES} (default: cuda 64, cpu 32)")
    add("--filters", type=int, help="the paper's n, conv filters per level (default: cuda 128, cpu 16)")
    add("--latent", type=int, help="the paper's h, size of z and of D's embedding (default: cuda 64, cpu 32)")
    add("--channels", type=int, choices=(1, 3), help="3 for RGB, 1 for grey (default: 3)")
    add("--skip", action="store_const", const=True, help="the paper's skip connections in the decoders")
    add("--tanh", action="store_const", const=True, help="squash the decoders' output with tanh")
    add("--crop", choices=CROPS, help="square crop before resizing: centre, or CelebA's 128 px face "
        "box at (top 50, left 25) (default: center)")
    add("--builtin-count", type=int, metavar="N", help="images in the built-in data set (default: cuda 20000, cpu 8000)")
    add("--batch", type=int, help="images per step and process, real and fake each; under torchrun the global batch is batch x processes, and lr is not rescaled (default: 16 on cuda, 32 on cpu)")
    add("--steps", type=int, help="total steps of the run; a resumed run stops at the same step "
        "(default: cuda 200000, cpu 2500)")
    add("--lr", type=float, help="Adam learning rate, G and D (default: cuda 1e-4, cpu 2e-4)")
    add("--lr-patience", type=int, metavar="STEPS", help="halve lr when M_global has not improved "
        "for this many steps (default: 5000)")
    add("--lr-floor", type=float, help="lr is never halved below this (default: 1e-5)")
    add("--gamma", type=float, help="diversity ratio E[L(G(z))]/E[L(x)], in [0, 1] (default: cuda 0.5, cpu 1.0)")
    add("--lambda-k", type=float, help="k_t's proportional gain (default: cuda 0.001, cpu 0.01)")
    add("--seed", type=int, help="seed for weights, z and batches (default: 0)")
    add("--device", choices=("auto", "cpu", "cuda"), help="training device (default: auto, cuda when present)")
    add("--backend", choices=BACKENDS, help="how the step runs: eager (reference), compile "
        "(torch.compile), cudagraph (eager step captured and replayed), compile-cudagraph (default: eager)")
    add("--kernels", choices=("torch", "triton"), help="torch ops, or the fused Triton kernels (default: torch)")
    add("--precision", choices=PRECISIONS, help="fp32, tf32 matmuls/convs, or bf16 autocast with "
        "fp32 master weights (default: fp32)")
    add("--channels-last", action="store_const", const=True, help="NHWC memory layout for convolutions")
    add("--log-every", type=int, metavar="STEPS", help="steps between progress/stats lines (default: cuda 100, cpu 50)")
    add("--sample-every", type=int, metavar="STEPS", help="steps between sample grids (default: cuda 2000, cpu 500)")
    add("--ckpt-every", type=int, metavar="STEPS", help="steps between checkpoints (default: cuda 5000, cpu 500)")
    add("--keep-ckpts", type=int, metavar="N", help="checkpoints kept per run, newest first (default: 3)")
    add("--resume", metavar="PATH|auto", help="continue from a checkpoint file, or 'auto' for the newest one in --out")
    add("--cache-dir", metavar="DIR", help="where decoded image folders are cached (default: ~/.cache/began_fast)")
    return p


def parse_args(argv=None) -> tuple[Options, set]:
    """(options with device defaults still unresolved, names the user set explicitly)."""
    namespace = build_parser().parse_args(argv)
    given = {k: v for k, v in vars(namespace).items() if v is not None}
    return dataclasses.replace(Options(), **given), set(given)


def apply_device_defaults(opts: Options, given: set, device_type: str) -> Options:
    defaults = CUDA_DEFAULTS if device_type == "cuda" else CPU_DEFAULTS
    return dataclasses.replace(opts, **{k: v for k, v in defaults.items() if k not in given})


def validate(opts: Options, device_type: str) -> None:
    """Raise OptionError with a one-line fix for the first impossible value."""
    checks = [
        ("cudagraph" not in opts.backend or device_type == "cuda",
         f"--backend {opts.backend} needs a CUDA device; use --backend eager or compile on the CPU"),
        (opts.size in IMAGE_SIZES, f"--size {opts.size}: must be a power of two from 32 up, one of {IMAGE_SIZES}"),
        (opts.batch >= 1, f"--batch {opts.batch}: must be at least 1"),
        (opts.steps >= 1, f"--steps {opts.steps}: must be at least 1"),
        (opts.filters >= 1, f"--filters {opts.filters}: must be at least 1"),
        (opts.latent >= 1, f"--latent {opts.latent}: must be at least 1"),
        (opts.builtin_count >= 1, f"--builtin-count {opts.builtin_count}: must be at least 1"),
        (0.0 <= opts.gamma <= 1.0, f"--gamma {opts.gamma}: must be in [0, 1] (0.3 to 0.7 is usual)"),
        (opts.lambda_k >= 0.0, f"--lambda-k {opts.lambda_k}: must be 0 or more (the paper uses 0.001)"),
        (opts.lr > 0.0, f"--lr {opts.lr}: must be positive (the paper uses 5e-5 to 1e-4)"),
        (0.0 < opts.lr_floor <= opts.lr, f"--lr-floor {opts.lr_floor}: must be positive and at most --lr {opts.lr}"),
        (opts.lr_patience >= 1, f"--lr-patience {opts.lr_patience}: must be at least 1 step"),
        (min(opts.log_every, opts.sample_every, opts.ckpt_every) >= 1,
         "--log-every, --sample-every and --ckpt-every must be at least 1 step"),
        (opts.keep_ckpts >= 1, f"--keep-ckpts {opts.keep_ckpts}: must be at least 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise OptionError(message)
