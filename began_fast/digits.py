"""`python -m began_fast.digits DIR`: a real image folder from a data set that ships inside a
package, so that nothing is downloaded: scikit-learn's handwritten digits (1,797 grey 8 x 8
images, 17 grey levels), upscaled (bicubic) to --size and written as PNG files in one
subfolder per digit, DIR/0 ... DIR/9: a labelled folder, which trains and is measured
with the class metrics like the built-in shapes.

    python -m began_fast.digits ~/digits && python -m began_fast.train --data ~/digits --channels 1 --size 32

scikit-learn is the optional extra `began-fast[digits]`.
"""
import os
import sys

import numpy as np

from began_fast.config import OneLineParser, one_line
from began_fast.files import atomic_write

INSTALL = 'pip install "began-fast[digits]" (or pip install scikit-learn)'
LEVELS = 16                  # the digits' grey levels run 0 ... 16
SIZES = (8, 1024)            # --size bounds: the digits' own side, and far beyond any use


class DigitsError(ValueError):
    """A problem the user can fix, reported as a one-line message."""


def parse_args(argv):
    p = OneLineParser(prog="python -m began_fast.digits", allow_abbrev=False,
                      description="Write scikit-learn's 1,797 handwritten digits as PNG files in DIR/0 ... DIR/9.")
    p.add_argument("folder", metavar="DIR", help="a new or empty folder (or one this command wrote before)")
    p.add_argument("--size", type=int, default=32, metavar="PX", help="side of the written images, bicubic "
                   "upscaling from 8 px (default: 32)")
    args = p.parse_args(argv)
    if not SIZES[0] <= args.size <= SIZES[1]:
        p.error(f"--size {args.size}: give {SIZES[0]} to {SIZES[1]} px")
    return args


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images [1797, 8, 8], 0 ... 255; digits [1797]) from scikit-learn's own copy."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise DigitsError(f"the digits come with scikit-learn, which is not installed; install it: {INSTALL}") from None
    bunch = sklearn_digits()
    images = np.round(bunch.images * (255 / LEVELS)).astype(np.uint8)
    return images, bunch.target.astype(int)


def check_folder(folder: str) -> None:
    """Refuse a folder that holds anything but digit subfolders: the images written would
    mix with other files, and the folder would no longer be one of classes."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise DigitsError(f"{folder}: not a folder; give a new or empty folder")
    if os.path.isdir(folder):
        other = sorted(set(os.listdir(folder)) - {str(d) for d in range(10)})
        if other:
            raise DigitsError(f"{folder} holds other files ({other[0]}, ...); give a new or empty folder")


def write_digits(folder: str, size: int) -> dict:
    """Write every digit as FOLDER/DIGIT/NNNN.png (NNNN: its index in scikit-learn's set);
    {digit: images written}."""
    from PIL import Image

    check_folder(folder)
    images, digits = load_digits()
    for digit in range(10):
        os.makedirs(os.path.join(folder, str(digit)), exist_ok=True)
    for index, (image, digit) in enumerate(zip(images, digits)):
        big = Image.fromarray(image).resize((size, size), Image.BICUBIC)
        with atomic_write(os.path.join(folder, str(digit), f"{index:04d}.png")) as f:
            big.save(f, format="PNG")
    return {d: int((digits == d).sum()) for d in range(10)}


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        counts = write_digits(args.folder, args.size)
    except (DigitsError, OSError) as e:
        print(one_line(f"error: {e}"), file=sys.stderr)
        return 2
    print(f"wrote {sum(counts.values()):,} digits, {args.size} px grey, to {args.folder}/0 ... /9 "
          f"({', '.join(f'{d}: {n}' for d, n in counts.items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
