"""`python -m began_fast.doc_tables`: write the docs that are generated from the code, so
that they cannot drift from it (tests/test_docs.py fails when one is stale).

    docs/train-help.txt    python -m began_fast.train --help, at a fixed width
    docs/models.md         its table of every model's statistics, from the specs, between
                           the STATS_BEGIN and STATS_END marks
"""
import argparse
import functools
import os
import sys

from began_fast.config import build_parser
from began_fast.files import atomic_write
from began_fast.specs import SPECS

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
WIDTH = 100        # fixed, so that the file does not depend on the terminal it was made in


def train_help() -> str:
    """The training command's --help, wrapped at WIDTH columns."""
    parser = build_parser()
    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=WIDTH)
    return parser.format_help()


STATS_BEGIN = "<!-- the statistics: written by python -m began_fast.doc_tables -->"
STATS_END = "<!-- end of the statistics -->"


def stats_table() -> str:
    """Each model's stats.jsonl fields, with the titles and units its plot panels show."""
    rows = ["| `--model` | field | what | unit |", "| --- | --- | --- | --- |"]
    for spec in SPECS.values():
        rows += [f"| `{spec.name}` | `{s.key}` | {s.title} | {s.unit} |".replace("|  |", "| |") for s in spec.stats]
    return "\n".join(rows)


def models_page() -> str:
    """docs/models.md with its statistics table rewritten from the specs."""
    with open(os.path.join(DOCS, "models.md"), encoding="utf-8") as f:
        text = f.read()
    head, rest = text.split(STATS_BEGIN)
    return f"{head}{STATS_BEGIN}\n{stats_table()}\n{STATS_END}{rest.split(STATS_END)[1]}"


# file name under docs/ -> the function that makes its text
GENERATED = {"train-help.txt": train_help, "models.md": models_page}


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
