"""`python -m began_fast.doc_tables`: write the docs that are generated from the code, so
that they cannot drift from it (tests/test_docs.py fails when one is stale).

    docs/train-help.txt    python -m began_fast.train --help, at a fixed width
"""
import argparse
import functools
import os
import sys

from began_fast.config import build_parser
from began_fast.files import atomic_write

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
WIDTH = 100        # fixed, so that the file does not depend on the terminal it was made in


def train_help() -> str:
    """The training command's --help, wrapped at WIDTH columns."""
    parser = build_parser()
    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=WIDTH)
    return parser.format_help()


# file name under docs/ -> the function that makes its text
GENERATED = {"train-help.txt": train_help}


def main(argv=None) -> int:
    argparse.ArgumentParser(prog="python -m began_fast.doc_tables", description=__doc__.split("\n")[0]
                            ).parse_args(argv)
    for name, make in GENERATED.items():
        path = os.path.join(DOCS, name)
        with atomic_write(path, "w") as f:
            f.write(make())
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
