"""`python -m began_fast.sample`: image grids from a checkpoint, a run folder (its newest
checkpoint) or an exported generator (python -m began_fast.export).

    python -m began_fast.sample runs/00000-shapes-32px/ckpt-00002000.pt
    python -m began_fast.sample CKPT --count 100 --pairs 8 --frames 10 --out grids/
    python -m began_fast.sample runs/00000-shapes-32px/export

The generator is the run's moving average of G when it keeps one (--raw: G itself).

Writes samples.png (a grid of `count` samples) and interpolation.png (one row per
random pair of z, walked along the great circle between them: spherical
interpolation keeps the norm of z typical of the prior at every frame).

A DF-GAN checkpoint draws from captions, with the text encoder it embeds:

    python -m began_fast.sample CKPT --caption "a large blue disc in the centre" --caption "..."
    python -m began_fast.sample CKPT --captions captions.txt       # one caption a line

writes caption-01.png, ... (`count` samples of each caption) and captions.png (a row of
each, the caption beside it).
"""
import math
import os
import sys
import warnings

import torch

from began_fast import kernels
from began_fast.config import DEVICES, OneLineParser, OptionError, one_line
from began_fast.devices import pick_device
from began_fast.generator_file import GeneratorFileError, load_generator
from began_fast.images import save_grid
from began_fast.models import sample_z
from began_fast.models.dfgan import generator_input
from began_fast.text.vocabulary import VocabularyError

OVERVIEW_COLUMNS = 8


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b ([P, h]) at fractions t ([F]) -> [P, F, h]."""
    cos = (a * b).sum(-1, keepdim=True) / (a.norm(dim=-1, keepdim=True) * b.norm(dim=-1, keepdim=True))
    omega = torch.acos(cos.clamp(-1 + 1e-7, 1 - 1e-7))[:, None]          # [P, 1, 1]
    t = t[None, :, None]
    sin = torch.sin(omega)
    return (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / sin


def parse_args(argv):
    p = OneLineParser(prog="python -m began_fast.sample", allow_abbrev=False,
                      description="Sample grids and interpolations from a checkpoint or an exported generator.")
    p.add_argument("checkpoint", metavar="CHECKPOINT_OR_RUN_OR_EXPORT", help="a ckpt-*.pt file written by "
                   "began_fast.train, a run folder (its newest checkpoint), or an export folder (began_fast.export)")
    p.add_argument("--out", help="folder for the PNG files (default: the checkpoint's folder, or the folder given)")
    p.add_argument("--count", type=int, default=64, help="images in samples.png (default: 64)")
    p.add_argument("--pairs", type=int, default=8, help="rows of interpolation.png (default: 8)")
    p.add_argument("--frames", type=int, default=10, help="images per interpolation row (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="seed for z (default: 0)")
    p.add_argument("--caption", action="append", default=[], help="dfgan: a caption to draw; repeat for more")
    p.add_argument("--captions", metavar="FILE", help="dfgan: a UTF-8 text file, one caption a line")
    p.add_argument("--strict", action="store_true", help="dfgan: a word the text encoder does not know is "
                   "an error (default: a warning, and the word is left out)")
    p.add_argument("--raw", action="store_true", help="sample G itself, not its moving average (default: the "
                   "average when the run keeps one, --g-ema-half-life)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="default: auto (cuda when present)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    warnings.formatwarning = lambda message, *args, **kwargs: f"warning: {message}\n"
    args = parse_args(argv)
    for name in ("count", "pairs", "frames"):
        if getattr(args, name) < (2 if name == "frames" else 1):
            print(f"error: --{name} {getattr(args, name)} is too small; give a positive count "
                  "(--frames at least 2)", file=sys.stderr)
            return 2
    try:
        device = pick_device(args.device)
        loaded = load_generator(args.checkpoint, device, raw=args.raw)
    except (OptionError, GeneratorFileError) as e:
        print(one_line(f"error: {e}"), file=sys.stderr)
        return 2
    kernels.use("torch")            # same weights either way; torch runs everywhere
    G, prior, latent = loaded.generator, loaded.prior, loaded.latent

    target = os.path.abspath(args.checkpoint)
    out = args.out or (target if os.path.isdir(target) else os.path.dirname(target))
    gen = torch.Generator().manual_seed(args.seed)
    if loaded.text is not None or args.caption or args.captions:
        try:
            return from_captions(args, loaded, gen, out)
        except (OptionError, VocabularyError) as e:
            print(one_line(f"error: {e}"), file=sys.stderr)
            return 2
    z = sample_z(args.count, latent, generator=gen, prior=prior)
    ends = sample_z(2 * args.pairs, latent, generator=gen, prior=prior).view(2, args.pairs, latent)
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
    print(f"wrote samples.png and interpolation.png to {out} (step {loaded.step})")
    return 0


def read_captions(args) -> list:
    """The captions of --caption and --captions FILE; OptionError when there are none."""
    captions = list(args.caption)
    if args.captions:
        try:
            with open(args.captions, encoding="utf-8") as f:
                captions += [line.strip() for line in f if line.strip()]
        except (OSError, UnicodeDecodeError) as e:
            raise OptionError(f"--captions {args.captions}: cannot read it as UTF-8 text ({getattr(e, 'strerror', None) or e})")
    if not captions:
        raise OptionError("a DF-GAN checkpoint draws from captions: give --caption TEXT or --captions FILE")
    return captions


def from_captions(args, loaded, gen, out) -> int:
    """A DF-GAN's grids, one per caption, and one overview with a row each."""
    if loaded.text is None:
        raise OptionError("--caption and --captions need a DF-GAN checkpoint (--model dfgan); this one has no "
                          "text encoder")
    captions = read_captions(args)
    sentences = loaded.text.encode(captions, strict=args.strict)
    G, prior, latent, device = loaded.generator, loaded.prior, loaded.latent, loaded.device
    columns = math.ceil(math.sqrt(args.count))
    rows = []
    try:
        os.makedirs(out, exist_ok=True)
        with torch.no_grad():
            for number, e in enumerate(sentences, 1):
                z = sample_z(args.count, latent, generator=gen, prior=prior).to(device)
                images = G(generator_input(z, e.expand(args.count, -1)))
                save_grid(images, os.path.join(out, f"caption-{number:02d}.png"), columns)
                rows.append(images[:OVERVIEW_COLUMNS])
            save_grid(torch.cat(rows), os.path.join(out, "captions.png"), min(OVERVIEW_COLUMNS, args.count), captions)
    except OSError as e:
        print(one_line(f"error: --out {out}: cannot write the grids there ({e.strerror or e}); give a "
                       "folder you can write to"), file=sys.stderr)
        return 1
    print(f"wrote caption-01.png to caption-{len(captions):02d}.png and captions.png to {out} (step {loaded.step})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
