"""Captions for the built-in shapes: what they say against the labels, and their seed."""
import numpy as np
import pytest

from began_fast.data import PALETTE, SHAPES, builtin_shapes
from began_fast.text import shape_captions
from began_fast.text.shape_captions import CAPTIONS_PER_IMAGE, COLOURS, attributes, captions_for, parse
from began_fast.text.vocabulary import tokenize


@pytest.fixture(scope="module")
def shapes():
    data = builtin_shapes(400, 32, seed=5)
    return data.labels, captions_for(data.labels, seed=1)


def labels_of(shape, colour, radius, cx, cy):
    return {"shape": np.array([shape]), "colour": np.array([colour]), "radius": np.array([radius]),
            "cx": np.array([cx]), "cy": np.array([cy])}


def test_every_caption_reads_back_to_its_image_labels(shapes):
    labels, captions = shapes
    facts = attributes(labels)
    assert len(captions) == 400
    for i, own in enumerate(captions):
        assert len(own) == CAPTIONS_PER_IMAGE and len(set(own)) == CAPTIONS_PER_IMAGE
        for caption in own:
            assert parse(caption) == {k: int(v[i]) for k, v in facts.items()}, caption


def test_each_caption_names_the_shape_and_colour_in_words(shapes):
    labels, captions = shapes
    for i, own in enumerate(captions):
        for caption in own:
            words = tokenize(caption)
            assert SHAPES[labels["shape"][i]] in words and COLOURS[labels["colour"][i]] in words
            assert sum(w in words for w in SHAPES) == 1 and sum(w in words for w in COLOURS) == 1


def test_all_phrasings_are_used(shapes):
    _, captions = shapes
    openings = {c.split()[0] for own in captions for c in own}
    assert {"a", "there", "near", "the"} <= openings
    assert any(", small," in c or ", little," in c or ", tiny," in c for own in captions for c in own)


@pytest.mark.parametrize("radius, cx, cy, size_words, position_words, absent", [
    (0.13, 0.15, 0.15, {"small", "little", "tiny"}, [{"top", "upper"}, {"left"}], {"right", "bottom", "lower"}),
    (0.29, 0.5, 0.72, {"large", "big"}, [{"bottom", "lower"}], {"left", "right", "top", "upper"}),
    (0.2, 0.8, 0.5, {"medium", "mid"}, [{"right"}], {"left", "top", "upper", "bottom", "lower"}),
    (0.2, 0.5, 0.5, {"medium", "mid"}, [{"centre", "center", "middle"}], {"left", "right", "top", "bottom"}),
])
def test_size_and_position_words_are_what_a_reader_would_say(radius, cx, cy, size_words, position_words, absent):
    for seed in range(10):
        for caption in captions_for(labels_of(3, 0, radius, cx, cy), seed)[0]:
            words = set(tokenize(caption))
            assert words & size_words, caption
            assert all(words & group for group in position_words), caption
            assert not words & absent, caption


def test_colour_names_fit_the_palette():
    pure = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0),
            "magenta": (255, 0, 255), "white": (255, 255, 255)}
    for index, name in enumerate(COLOURS):
        nearest = np.argmin(((PALETTE - np.array(pure[name])) ** 2).sum(1))
        assert nearest == index, name


def test_captions_are_deterministic_from_the_seed(shapes):
    labels, captions = shapes
    assert captions_for(labels, seed=1) == captions
    assert captions_for(labels, seed=2) != captions


def test_classes_tell_apart_what_captions_tell_apart(shapes):
    labels, captions = shapes
    classes = shape_captions.classes(labels)
    parsed = [tuple(parse(own[0]).values()) for own in captions]
    same_class = classes[:, None] == classes[None, :]
    same_facts = np.array([[a == b for b in parsed] for a in parsed])
    assert np.array_equal(same_class, same_facts)


@pytest.mark.parametrize("caption", ["a red ring and a blue disc in the centre", "a small ring near the top",
                                     "a big small red ring at the top", "a red ring, small", "a small red ring top bottom"])
def test_parse_refuses_captions_that_do_not_name_one_of_each(caption):
    with pytest.raises(ValueError):
        parse(caption)
