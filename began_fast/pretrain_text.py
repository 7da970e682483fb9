"""`python -m began_fast.pretrain_text`: pre-train DF-GAN's text encoder (DAMSM) on a data set's
captions, and cache it for the DF-GAN runs on the same data.

    python -m began_fast.pretrain_text                          # built-in shapes, defaults for the device
    python -m began_fast.pretrain_text --data ~/birds --size 64 --epochs 100
    python -m began_fast.pretrain_text --out damsm.pt           # a copy of the file, too

The data options are the training command's, with its defaults, so that the encoder is
cached under the same data set a training run with the same options uses. Captions: the
built-in shapes' are written from their labels; an image folder's come from a .txt beside
each image (docs/text-to-image.md, "Captions and the text encoder"). Prints each epoch's
loss and the held-out matching accuracy; an existing cached encoder for the same captions
is replaced.
"""
import math
import sys
import warnings

from tqdm import tqdm

from began_fast.config import MAX_SEED, OneLineParser, OptionError, Options, build_parser, one_line, validate
from began_fast.data import load_training_data
from began_fast.devices import pick_device
from began_fast.files import WriteError
from began_fast.text import store
from began_fast.text.prepare import TEXT_ERRORS, captioned, pretrain_and_save
from began_fast.text.pretrain import Settings

# The training command's options that choose the data (and the device), taken over whole.
TRAINING_OPTIONS = ("data", "size", "channels", "crop", "builtin_count", "data_seed", "cache_dir", "device")
USER_ERRORS = (OptionError, *TEXT_ERRORS)


def build_text_parser() -> OneLineParser:
    defaults = Settings()
    p = OneLineParser(prog="python -m began_fast.pretrain_text", allow_abbrev=False,
                      description="Pre-train the DAMSM text and image encoders (AttnGAN's sentence-level "
                                  "matching loss) on a data set's captions; cache them for DF-GAN runs on it.")
    for action in build_parser()._actions:      # argparse has no public way to share single options
        if action.dest in TRAINING_OPTIONS:
            p._add_action(action)
    p.add_argument("--epochs", type=int, default=defaults.epochs, help=f"passes over the training images "
                   f"(default: {defaults.epochs})")
    p.add_argument("--batch", type=int, default=defaults.batch, help="image-caption pairs per step; each pair's "
                   f"negatives are the batch's other captions (default: {defaults.batch})")
    p.add_argument("--lr", type=float, default=defaults.lr, help=f"Adam learning rate at the peak of a one-cycle schedule (default: {defaults.lr:g})")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed for the weights, the held-out split and "
                   f"the batches (default: {defaults.seed})")
    p.add_argument("--out", metavar="FILE", help="also write the encoder file here (it is always cached under "
                   "--cache-dir/text)")
    return p


def settings_from(args) -> Settings:
    checks = [(args.epochs >= 1, f"--epochs {args.epochs}: must be at least 1"),
              (args.batch >= 2, f"--batch {args.batch}: must be at least 2 (the other pairs are the negatives)"),
              (0 < args.lr < math.inf, f"--lr {args.lr}: must be positive and finite (AttnGAN uses 0.002)"),
              (0 <= args.seed < MAX_SEED, f"--seed {args.seed}: must be from 0 to {MAX_SEED - 1}")]
    for ok, message in checks:
        if not ok:
            raise OptionError(message)
    return Settings(epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed)


def main(argv=None) -> int:
    warnings.formatwarning = lambda message, *args, **kwargs: f"warning: {message}\n"
    args = build_text_parser().parse_args(argv)
    try:
        settings = settings_from(args)
        device = pick_device(args.device or "auto")
        given = {k: v for k, v in vars(args).items() if k in TRAINING_OPTIONS and v is not None}
        opts = Options.for_device(device.type, **given)
        validate(opts, device.type)
        bar = lambda desc, unit: lambda it, total: tqdm(it, total=total, desc=desc, unit=unit, leave=False,
                                                        disable=None)     # None: on a terminal only
        data = captioned(load_training_data(opts, bar("decoding images", "img")))
        path = store.cache_path(data.identity, opts.cache_dir)
        count = sum(len(own) for own in data.captions)
        print(f"pre-training on {len(data.images.images)} images with {count} captions ({data.identity}), "
              f"{settings.epochs} epochs on {device.type}")
        text, image, vocabulary, report = pretrain_and_save(data, path, settings, device, bar("epoch", "batch"), print)
        if args.out:
            store.save(args.out, text, image, vocabulary, data.identity, report)
    except USER_ERRORS as e:
        print(one_line(f"error: {e}"), file=sys.stderr)
        return 2
    except WriteError as e:
        print(one_line(f"error: {e}; free some space or give another --out / --cache-dir"), file=sys.stderr)
        return 1
    print(summary(report))
    print(f"saved to {path}" + (f" and {args.out}" if args.out else ""))
    return 0


def summary(report: dict) -> str:
    """The held-out matching accuracy, with chance and time, in one line."""
    line = (f"held-out matching: {100 * report['accuracy']:.1f} % of {report['held_out_images']} images rank their "
            f"own caption first among {report['candidates']} (chance {100 / report['candidates']:.1f} %)")
    if "accuracy_other_classes" in report:
        line += (f"; among captions of other classes {100 * report['accuracy_other_classes']:.1f} % "
                 f"(chance {100 / report['candidates_other_classes']:.1f} %)")
    return line + f"; took {report['seconds']:.0f} s"


if __name__ == "__main__":
    sys.exit(main())
