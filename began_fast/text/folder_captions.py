"""Captions for a user's image folder: beside each image a text file of the same name
(`birds/0001.jpg` -> `birds/0001.txt`) with one caption per line, in UTF-8, the way CUB's
and COCO's captions are laid out once extracted.

Images without captions (no .txt, or one with no words in it) are left out of the text
work with one counted warning: a folder where a few files lost their captions still
trains on the rest. A caption file that is not UTF-8 is an error: an encoding problem
usually affects every file, and decoding it as something else would put garbled words
into the vocabulary, so the fix (re-saving the files as UTF-8) comes first.
"""
import os
import warnings

from began_fast.data import DataError
from began_fast.text.vocabulary import tokenize


def caption_file(image_path: str) -> str:
    return os.path.splitext(image_path)[0] + ".txt"


def read_captions(paths: list) -> tuple[list, list]:
    """(captions: for each image that has some, its captions in file order; kept: the
    indices into `paths` of those images). Blank lines, and lines with no word in them,
    are skipped."""
    captions, kept, missing, empty = [], [], [], []
    for index, path in enumerate(paths):
        lines = _read_lines(caption_file(path))
        if lines is None:
            missing.append(path)
            continue
        own = [line.strip() for line in lines if tokenize(line)]
        if not own:
            empty.append(caption_file(path))
            continue
        captions.append(own)
        kept.append(index)
    if not captions:
        raise DataError(f"none of the {len(paths)} images has captions: put one caption per line in a UTF-8 "
                        f"text file beside each image, named like it (e.g. {caption_file(paths[0])})")
    left_out = [(missing, "have no caption file"), (empty, "have an empty caption file")]
    problems = [f"{len(names)} {why} (e.g. {names[0]})" for names, why in left_out if names]
    if problems:
        warnings.warn(f"left out {len(missing) + len(empty)} of {len(paths)} images from text training: "
                      + "; ".join(problems))
    return captions, kept


def _read_lines(path: str) -> list | None:
    """The lines of a UTF-8 text file (a byte-order mark allowed), or None when there is
    no such file; DataError (one line) when it is not UTF-8 or cannot be read."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                        "save the caption files as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read this caption file ({e.strerror or e})") from None
