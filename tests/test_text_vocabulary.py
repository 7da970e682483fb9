"""The tokenizer and the vocabulary: encoding round trip, JSON save/load, unknown words."""
import json
import warnings

import pytest
import torch

from began_fast.text.vocabulary import PAD, Vocabulary, VocabularyError, tokenize

CAPTIONS = ["A small red ring, near the top-left.", "red ring; small... upper left corner!", "The bird's wing is BLUE"]


def test_tokenize_lowers_and_splits_off_punctuation():
    assert tokenize("Red ring, small; upper-left corner!") == ["red", "ring", "small", "upper", "left", "corner"]
    assert tokenize("Ein GRÜNER Kreis.") == ["ein", "grüner", "kreis"]
    assert tokenize(" ,.;! ") == []


def test_build_puts_padding_first_and_frequent_words_next():
    vocabulary = Vocabulary.build(CAPTIONS)
    assert vocabulary.words[0] == PAD
    assert vocabulary.words[1:6] == ["left", "red", "ring", "small", "the"]   # each twice; ties alphabetical
    assert sorted(vocabulary.words[1:]) == sorted(set(w for c in CAPTIONS for w in tokenize(c)))
    assert Vocabulary.build(reversed(CAPTIONS)) == vocabulary            # the order of captions does not matter


def test_encode_decode_round_trip():
    vocabulary = Vocabulary.build(CAPTIONS, max_words=8)
    tokens, lengths = vocabulary.encode(CAPTIONS)
    assert tokens.shape == (3, 8) and tokens.dtype == torch.long and lengths.tolist() == [8, 6, 6]
    for row, length, caption in zip(tokens, lengths, CAPTIONS):
        assert vocabulary.decode(row, length) == " ".join(tokenize(caption))
        assert torch.all(row[length:] == 0) and torch.all(row[:length] > 0)


def test_long_captions_are_cut_with_a_counted_warning():
    vocabulary = Vocabulary.build(CAPTIONS, max_words=4)
    with pytest.warns(UserWarning, match="cut 3 of 3 caption"):
        tokens, lengths = vocabulary.encode(CAPTIONS)
    assert lengths.tolist() == [4, 4, 4] and vocabulary.decode(tokens[0], 4) == "a small red ring"


def test_save_and_load_round_trip(tmp_path):
    vocabulary = Vocabulary.build(CAPTIONS, max_words=12)
    path = tmp_path / "vocabulary.json"
    vocabulary.save(str(path))
    assert Vocabulary.load(str(path)) == vocabulary
    assert json.loads(path.read_text(encoding="utf-8"))["words"][0] == PAD
    assert [p.name for p in tmp_path.iterdir()] == ["vocabulary.json"]      # no temporary file left


@pytest.mark.parametrize("content, fragment", [
    (b"{not json", "not a JSON file"),
    (b"\xff\xfe\x00", "not a JSON file"),
    (json.dumps({"words": ["a"]}).encode(), "not a began_fast vocabulary"),
    (json.dumps({"format": "began_fast.vocabulary.v1", "words": ["a", "b"], "max_words": 5}).encode(), "'<pad>' first"),
])
def test_a_bad_vocabulary_file_is_a_one_line_error(tmp_path, content, fragment):
    path = tmp_path / "vocabulary.json"
    path.write_bytes(content)
    with pytest.raises(VocabularyError, match=fragment) as error:
        Vocabulary.load(str(path))
    assert "\n" not in str(error.value)


def test_a_missing_vocabulary_file_is_a_one_line_error(tmp_path):
    with pytest.raises(VocabularyError, match="cannot read it"):
        Vocabulary.load(str(tmp_path / "none.json"))


def test_unknown_words_are_left_out_with_a_warning_that_lists_them():
    vocabulary = Vocabulary.build(CAPTIONS)
    with pytest.warns(UserWarning, match=r"left out 3 unknown word\(s\).*'purple'.*'hexagon'") as caught:
        tokens, lengths = vocabulary.encode(["a purple hexagon, small", "red ring near the purple top"])
    assert len(caught) == 1
    assert vocabulary.decode(tokens[0], lengths[0]) == "a small"
    assert vocabulary.decode(tokens[1], lengths[1]) == "red ring near the top"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vocabulary.encode(["red ring"])                                  # known words: no warning


def test_strict_refuses_unknown_words():
    vocabulary = Vocabulary.build(CAPTIONS)
    with pytest.raises(VocabularyError, match="unknown word.*'hexagon'"):
        vocabulary.encode(["a red hexagon"], strict=True)


def test_a_caption_with_no_known_word_is_an_error():
    with pytest.raises(VocabularyError, match="has no word the text encoder knows"):
        Vocabulary.build(CAPTIONS).encode(["purple hexagon"])
