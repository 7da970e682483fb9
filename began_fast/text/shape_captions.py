"""Captions for the built-in shapes, written from their labels, and read back.

Each image gets several phrasings of the same four facts: its shape, its colour, its size
(data.size_bins: thirds of the radius range) and its position (data.position_cells: the
centre's cell in a 3 x 3 grid), e.g. "a small red ring near the top left" and "red ring,
small, upper left corner". The bins are the shapes classifier's, so a sample's
attributes read by the classifier can be checked against its caption's. Every
phrasing names each fact with words of its own kind, so parse() reads them back.
"""
import numpy as np

from began_fast.data import SHAPES, position_cells, size_bins
from began_fast.text.vocabulary import tokenize

CAPTIONS_PER_IMAGE = 5
VERSION = 1          # bump when the phrasings change: cached text encoders are keyed by it

# data.PALETTE's six RGB values, by name: (230, 60, 50) red, (60, 180, 75) green,
# (50, 110, 230) blue, (250, 200, 40) yellow, (200, 80, 200) magenta, (240, 240, 240) white.
COLOURS = ("red", "green", "blue", "yellow", "magenta", "white")
SIZE_WORDS = (("small", "little", "tiny"), ("medium", "medium-sized", "mid-sized"), ("large", "big"))
SIZE_NOUNS = ("small", "medium", "large")       # for "of medium size"
# Position: rows top, middle, bottom; columns left, middle, right.
ROW_WORDS = (("top", "upper"), (), ("bottom", "lower"))
COLUMN_WORDS = (("left",), (), ("right",))
CENTRE_WORDS = ("centre", "center", "middle")
CELLS = 9            # data.position_cells' 3 x 3 grid

TEMPLATES = (
    "a {size} {colour} {shape} {where}",
    "{colour} {shape}, {size}, {place}",
    "there is a {size} {colour} {shape} {where}",
    "{where}, a {size} {colour} {shape}",
    "a {colour} {shape} of {size_noun} size {where}",
    "the {shape} is {colour} and {size}, {where}",
    "{size} {shape} in {colour}, {where}",
    "a {size} {colour} {shape} on a dark background {where}",
)
assert CAPTIONS_PER_IMAGE <= len(TEMPLATES)


def captions_for(labels: dict, seed: int, per_image: int = CAPTIONS_PER_IMAGE) -> list:
    """`per_image` captions for each image of the built-in shapes' `labels`, each from a
    different template with its words drawn at random: a list of N lists of strings,
    the same for the same labels and seed."""
    if not 1 <= per_image <= len(TEMPLATES):
        raise ValueError(f"per_image {per_image}: must be from 1 to {len(TEMPLATES)}")
    rng = np.random.default_rng(seed)
    captions, facts = [], attributes(labels)
    for shape, colour, size, cell in zip(facts["shape"], facts["colour"], facts["size"], facts["position"]):
        row, column = divmod(int(cell), 3)
        own = []
        for template in rng.choice(len(TEMPLATES), per_image, replace=False):
            place = _place(row, column, rng)
            own.append(TEMPLATES[template].format(
                shape=SHAPES[shape], colour=COLOURS[colour], size=_pick(SIZE_WORDS[size], rng),
                size_noun=SIZE_NOUNS[size], place=place, where=f"{_preposition(row, column, rng)} the {place}"))
        captions.append(own)
    return captions


def _pick(choices, rng):
    return choices[rng.integers(len(choices))]


def _place(row: int, column: int, rng) -> str:
    """A noun phrase for a cell: 'upper left corner', 'top middle', 'right side', 'centre'."""
    if row != 1 and column != 1:
        return f"{_pick(ROW_WORDS[row], rng)} {COLUMN_WORDS[column][0]}" + _pick(("", " corner"), rng)
    if row != 1:
        top, upper = ROW_WORDS[row]
        return _pick((top, f"{top} middle", f"{upper} middle"), rng)
    if column != 1:
        left = COLUMN_WORDS[column][0]
        return _pick((left, f"{left} side", f"middle {left}"), rng)
    return _pick(CENTRE_WORDS, rng)


def _preposition(row: int, column: int, rng) -> str:
    """'in the top left', 'at the bottom', 'on the left', 'in the centre', and 'near' any."""
    if row == 1 and column != 1:
        return _pick(("near", "on", "at"), rng)
    if row != 1 and column == 1:
        return _pick(("near", "at"), rng)
    return _pick(("near", "in", "at") if row != 1 else ("near", "in"), rng)


def attributes(labels: dict) -> dict:
    """What a caption says about each image: shape, colour, size bin, position cell
    (int arrays [N]), in parse()'s terms."""
    return {"shape": np.asarray(labels["shape"]), "colour": np.asarray(labels["colour"]),
            "size": size_bins(labels["radius"]), "position": position_cells(labels["cx"], labels["cy"])}


def classes(labels: dict) -> np.ndarray:
    """int [N]: one number per (shape, colour, size, position) that captions tell apart;
    two images of one class fit each other's captions equally well."""
    facts = attributes(labels)
    return ((facts["shape"] * len(COLOURS) + facts["colour"]) * len(SIZE_NOUNS) + facts["size"]) * CELLS \
        + facts["position"]


def parse(caption: str) -> dict:
    """A caption's shape, colour, size bin and position cell, read from its words; ValueError
    when it names none or more than one of a kind. Rows come from top/upper and
    bottom/lower, columns from left and right; an axis with neither is the middle one."""
    words = set(tokenize(caption))
    found = {"shape": {i for i, name in enumerate(SHAPES) if name in words},
             "colour": {i for i, name in enumerate(COLOURS) if name in words},
             "size": {i for i, names in enumerate(SIZE_WORDS) for name in names if set(name.split("-")) <= words}}
    for kind, hits in found.items():
        if len(hits) != 1:
            raise ValueError(f"{caption!r} names {len(hits)} {kind}s; a caption names one")
    rows = {i for i, names in enumerate(ROW_WORDS) for name in names if name in words}
    columns = {i for i, names in enumerate(COLUMN_WORDS) for name in names if name in words}
    if len(rows) > 1 or len(columns) > 1 or not (rows or columns or words & set(CENTRE_WORDS)):
        raise ValueError(f"{caption!r} names no one position")
    position = rows.pop() * 3 if rows else 3
    position += columns.pop() if columns else 1
    return {kind: hits.pop() for kind, hits in found.items()} | {"position": position}
