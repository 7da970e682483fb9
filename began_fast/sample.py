"""`python -m began_fast.sample`: image grids from a checkpoint.

    python -m began_fast.sample runs/00000-shapes-32px/ckpt-00002000.pt
    python -m began_fast.sample CKPT --count 100 --pairs 8 --frames 10 --out grids/

Writes samples.png (a grid of `count` samples) and interpolation.png (one row per
random pair of z, walked along the great circle between them: spherical
interpolation keeps the norm of z typical of the prior at every frame).
"""
import math
import os
import sys

import torch

from began_fast import checkpoint, kernels
from began_fast.config import DEVICES, OneLineParser, OptionError, Options, one_line
from began_fast.devices import pick_device
from began_fast.images import save_grid
from began_fast.models import generator_from_checkpoint, sample_z


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b ([P, h]) at fractions t ([F]) -> [P, F, h]."""
    cos = (a * b).sum(-1, keepdim=True) / (a.norm(dim=-1, keepdim=True) * b.norm(dim=-1, keepdim=True))
    omega = torch.acos(cos.clamp(-1 + 1e-7, 1 - 1e-7))[:, None]          # [P, 1, 1]
    t = t[None, :, None]
    sin = torch.sin(omega)
    return (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / sin


def parse_args(argv):
    p = OneLineParser(prog="python -m began_fast.sample", allow_abbrev=False,
                      description="Sample grids and interpolations from a BEGAN checkpoint.")
    p.add_argument("checkpoint", help="a ckpt-*.pt file written by began_fast.train")
    p.add_argument("--out", help="folder for the PNG files (default: the checkpoint's folder)")
    p.add_argument("--count", type=int, default=64, help="images in samples.png (default: 64)")
    p.add_argument("--pairs", type=int, default=8, help="rows of interpolation.png (default: 8)")
    p.add_argument("--frames", type=int, default=10, help="images per interpolation row (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="seed for z (default: 0)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="default: auto (cuda when present)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    for name in ("count", "pairs", "frames"):
        if getattr(args, name) < (2 if name == "frames" else 1):
            print(f"error: --{name} {getattr(args, name)} is too small; give a positive count "
                  "(--frames at least 2)", file=sys.stderr)
            return 2
    try:
        payload = checkpoint.load(args.checkpoint)
    except checkpoint.CheckpointError as e:
        print(one_line(f"error: {e}"), file=sys.stderr)
        return 2
    try:
        device = pick_device(args.device)
    except OptionError as e:
        print(one_line(f"error: {e}"), file=sys.stderr)
        return 2
    opts = Options.from_dict(payload["options"])
    kernels.use("torch")            # same weights either way; torch runs everywhere
    G, prior = generator_from_checkpoint(payload, device)

    out = args.out or os.path.dirname(os.path.abspath(args.checkpoint))
    gen = torch.Generator().manual_seed(args.seed)
    z = sample_z(args.count, opts.latent, generator=gen, prior=prior)
    ends = sample_z(2 * args.pairs, opts.latent, generator=gen, prior=prior).view(2, args.pairs, opts.latent)
    walk = slerp(ends[0], ends[1], torch.linspace(0, 1, args.frames)).flatten(0, 1)
    try:
        os.makedirs(out, exist_ok=True)
        with torch.no_grad():
            save_grid(G(z.to(device)), os.path.join(out, "samples.png"), columns=math.ceil(math.sqrt(args.count)))
            save_grid(G(walk.to(device)), os.path.join(out, "interpolation.png"), columns=args.frames)
    except OSError as e:      # a folder that cannot be made, a full disk (files.WriteError)
        print(one_line(f"error: --out {out}: cannot write the grids there ({e.strerror or e}); give a "
                       "folder you can write to"), file=sys.stderr)
        return 1
    print(f"wrote samples.png and interpolation.png to {out} (step {payload['step']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
