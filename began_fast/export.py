"""`python -m began_fast.export`: a run's generator as a file anyone can load, without this
package's checkpoints or pickles.

    python -m began_fast.export runs/00000-shapes-32px              # its newest checkpoint
    python -m began_fast.export runs/00000-shapes-32px/ckpt-00004000.pt --out my-generator
    python -m began_fast.export RUN --raw                            # G itself, not its average

Writes OUT/generator.safetensors (the weights: the averaged G when the run keeps one) and
OUT/generator.json (what builds the networks they fit); began_fast.load_generator(OUT)
reads them back (docs/export.md).
"""
import os
import sys

from began_fast import checkpoint
from began_fast.config import OneLineParser, one_line
from began_fast.evaluate import resolve_checkpoint
from began_fast.generator_file import DESCRIPTION, WEIGHTS, export


def parse_args(argv):
    p = OneLineParser(prog="python -m began_fast.export", allow_abbrev=False,
                      description=f"Write a checkpoint's generator as {WEIGHTS} and {DESCRIPTION}.")
    p.add_argument("target", metavar="CHECKPOINT_OR_RUN",
                   help="a ckpt-*.pt file, or a run folder (its newest checkpoint)")
    p.add_argument("--out", metavar="DIR",
                   help="folder for the two files (default: export/ in the checkpoint's folder)")
    p.add_argument("--raw", action="store_true", help="G itself, not its moving average (default: the average "
                   "when the run keeps one, --g-ema-half-life)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        path = resolve_checkpoint(args.target)
        payload = checkpoint.load(path)
    except checkpoint.CheckpointError as e:
        print(one_line(f"error: {e}"), file=sys.stderr)
        return 2
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(path)), "export")
    try:
        description = export(payload, out, raw=args.raw)
    except OSError as e:       # a folder that cannot be made, a full disk (files.WriteError)
        print(one_line(f"error: --out {out}: cannot write the generator there ({e.strerror or e}); give a folder "
                       "you can write to"), file=sys.stderr)
        return 1
    which = "averaged G (G_ema)" if description["averaged"] else "G"
    print(one_line(f"wrote {WEIGHTS} and {DESCRIPTION} to {out}: the {which} of {path}, step {payload['step']}; "
                   f"load it with began_fast.load_generator({out!r})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
