"""The DAMSM encoders and loss, the caption set, the sentence encoder and the encoder file."""
import json
import math
import pickle

import numpy as np
import pytest
import torch

from began_fast.text import store
from began_fast.text.caption_set import CaptionSet
from began_fast.text.damsm import sentence_loss
from began_fast.text.encoders import ImageEncoder, TextEncoder
from began_fast.text.matching import matching_accuracy
from began_fast.text.sentence_encoder import SentenceEncoder
from began_fast.text.vocabulary import Vocabulary, VocabularyError

CAPTIONS = [["a red ring near the top", "red ring, top"], ["a small blue disc"], ["blue disc in the centre",
            "a disc", "the blue one"]]


def small_text_encoder(vocabulary, seed=0):
    torch.manual_seed(seed)
    return TextEncoder(len(vocabulary), embedding=16, sentence=24).eval()


@pytest.fixture
def vocabulary():
    return Vocabulary.build([c for own in CAPTIONS for c in own], max_words=10)


def test_text_encoder_shapes(vocabulary):
    model = small_text_encoder(vocabulary)
    tokens, lengths = vocabulary.encode(["a red ring", "a small blue disc in the centre"])
    words, sentences = model(tokens, lengths)
    assert words.shape == (2, 10, 24) and sentences.shape == (2, 24)
    assert torch.all(words[0, 3:] == 0) and torch.all(words[0, :3].abs().sum(1) > 0)


def test_padding_does_not_change_a_sentence_vector(vocabulary):
    model = small_text_encoder(vocabulary)
    caption = "a red ring near the top"
    alone = model(*vocabulary.encode([caption]))[1]
    longer = Vocabulary(vocabulary.words, max_words=40)                 # much more padding
    padded = model(*longer.encode([caption]))[1]
    in_batch = model(*vocabulary.encode(["blue disc in the centre a disc the blue one", caption]))[1][1]
    assert torch.allclose(alone[0], padded[0], atol=1e-6) and torch.allclose(alone[0], in_batch, atol=1e-6)
    assert not torch.allclose(alone[0], model(*vocabulary.encode(["a red ring near"]))[1][0], atol=1e-3)


def test_image_encoder_shapes():
    for size in (32, 64):
        regions, vectors = ImageEncoder(3, size, width=8, features=24)(torch.randn(2, 3, size, size))
        assert regions.shape == (2, 24, 8, 8) and vectors.shape == (2, 24)
    with pytest.raises(ValueError):
        ImageEncoder(3, 48)


def hand_sentence_loss(images, sentences, classes=None, gamma=10.0):
    """AttnGAN's s_loss0 + s_loss1 written out for lists of vectors."""
    cos = lambda a, b: sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
    n = len(images)
    score = [[gamma * cos(images[i], sentences[j]) for j in range(n)] for i in range(n)]
    counts = lambda i, j: classes is None or i == j or classes[i] != classes[j]
    rows = sum(-score[i][i] + math.log(sum(math.exp(score[i][j]) for j in range(n) if counts(i, j))) for i in range(n))
    cols = sum(-score[j][j] + math.log(sum(math.exp(score[i][j]) for i in range(n) if counts(i, j))) for j in range(n))
    return (rows + cols) / n


def test_sentence_loss_against_a_hand_computation():
    images = [[1.0, 0.0, 0.5], [0.2, 1.0, -0.3], [0.0, -0.4, 1.0]]
    sentences = [[0.9, 0.1, 0.4], [0.5, 0.5, 0.0], [-0.2, 0.0, 0.8]]
    loss = sentence_loss(torch.tensor(images), torch.tensor(sentences))
    assert loss.item() == pytest.approx(hand_sentence_loss(images, sentences), rel=1e-5)
    masked = sentence_loss(torch.tensor(images), torch.tensor(sentences), torch.tensor([4, 7, 4]))
    assert masked.item() == pytest.approx(hand_sentence_loss(images, sentences, [4, 7, 4]), rel=1e-5)
    assert masked.item() < loss.item()           # a same-class pair no longer counts against the match


def test_matching_accuracy_counts_images_whose_own_caption_wins():
    images = torch.eye(4)
    sentences = torch.eye(4)[[0, 1, 3, 2]]           # images 2 and 3 have each other's captions
    accuracy, used = matching_accuracy(images, sentences, candidates=100)
    assert (accuracy, used) == (0.5, 4)
    accuracy, used = matching_accuracy(images, sentences, classes=np.array([0, 1, 2, 2]))
    assert (accuracy, used) == (1.0, 3)            # 2 and 3 are one class: never each other's candidates


def test_caption_set_pads_and_picks_each_images_own_captions(vocabulary):
    captions = CaptionSet.build(CAPTIONS, vocabulary, "test")
    assert captions.tokens.shape == (3, 3, 10) and captions.counts.tolist() == [2, 1, 3]
    assert captions.lengths[1].tolist() == [4, 0, 0]
    index = torch.tensor([0, 1, 2] * 200)
    which = captions.pick(index, torch.Generator().manual_seed(0))
    assert torch.all(which < captions.counts[index]) and torch.all(which >= 0)
    assert {(i, w) for i, w in zip(index.tolist(), which.tolist())} == {(0, 0), (0, 1), (1, 0), (2, 0), (2, 1), (2, 2)}
    tokens, lengths = captions.take(torch.tensor([2]), torch.tensor([1]))
    assert vocabulary.decode(tokens[0], lengths[0]) == "a disc"
    part = captions.subset([2, 0])
    assert part.texts == [CAPTIONS[2], CAPTIONS[0]] and torch.equal(part.tokens[1], captions.tokens[0])


def test_sentence_encoder_table_matches_encode(vocabulary):
    encoder = SentenceEncoder(small_text_encoder(vocabulary), vocabulary)
    captions = CaptionSet.build(CAPTIONS, vocabulary, "test")
    table = encoder.table(captions)
    assert table.shape == (3, 3, 24) and not table.requires_grad
    assert torch.allclose(table[2, 1], encoder.encode(["a disc"])[0], atol=1e-6)
    assert torch.all(table[1, 1:] == 0)
    with pytest.raises(VocabularyError):
        encoder.encode(["a purple disc"], strict=True)


def test_encoder_file_round_trip(tmp_path, vocabulary):
    text = small_text_encoder(vocabulary)
    image = ImageEncoder(3, 32, width=8, features=24).eval()
    path = str(tmp_path / "damsm.pt")
    store.save(path, text, image, vocabulary, "captions-id", {"accuracy": 0.5})
    text2, image2, vocabulary2, rest = store.load(path)
    tokens, lengths = vocabulary.encode(["a red ring"])
    assert torch.equal(text(tokens, lengths)[1], text2(tokens, lengths)[1])
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(image(x)[1], image2(x)[1])
    assert vocabulary2 == vocabulary and rest == {"captions": "captions-id", "report": {"accuracy": 0.5}}


def test_an_attngan_text_encoder_loads_with_a_json_vocabulary(tmp_path, vocabulary):
    """AttnGAN's RNN_ENCODER names its embedding `encoder`; its vocabulary is wordtoix, with
    '<end>' (the padding) at 0."""
    text = small_text_encoder(vocabulary)
    state = {name.replace("embedding.", "encoder."): value for name, value in text.state_dict().items()}
    torch.save(state, tmp_path / "text_encoder200.pth")
    wordtoix = {("<end>" if i == 0 else word): i for i, word in enumerate(vocabulary.words)}
    (tmp_path / "wordtoix.json").write_text(json.dumps(wordtoix))
    loaded, words = store.from_attngan(str(tmp_path / "text_encoder200.pth"), str(tmp_path / "wordtoix.json"))
    assert words.words == vocabulary.words
    tokens, lengths = vocabulary.encode(["a red ring"])
    assert torch.equal(text(tokens, lengths)[1], loaded(tokens, lengths)[1])
    (tmp_path / "short.json").write_text(json.dumps({"<end>": 0, "a": 1}))
    with pytest.raises(store.EncoderFileError, match="has 2 words but .* embeds"):
        store.from_attngan(str(tmp_path / "text_encoder200.pth"), str(tmp_path / "short.json"))


class RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("content, fragment", [
    (None, "no such file"),
    (b"garbage", "not a readable weights file"),
    (pickle.dumps({"format": store.FORMAT, "x": RunsCode()}), "not a readable weights file"),
], ids=["missing", "garbage", "runs-code"])
def test_a_bad_encoder_file_is_a_one_line_error(tmp_path, capsys, content, fragment):
    path = tmp_path / "damsm.pt"
    if content is not None:
        path.write_bytes(content)
    for load in (store.load, lambda p: store.from_attngan(p, str(tmp_path / "v.json"))):
        with pytest.raises(store.EncoderFileError, match=fragment) as error:
            load(str(path))
        assert "\n" not in str(error.value)
    assert "must never run" not in capsys.readouterr().out


def test_a_file_of_other_tensors_is_not_an_encoder(tmp_path):
    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(store.EncoderFileError, match="not a text-encoder file"):
        store.load(str(tmp_path / "other.pt"))
    with pytest.raises(store.EncoderFileError, match="not a state dict of AttnGAN's RNN_ENCODER"):
        store.from_attngan(str(tmp_path / "other.pt"), str(tmp_path / "v.json"))


def test_an_encoder_file_with_parts_missing_is_damaged(tmp_path, vocabulary):
    path = str(tmp_path / "damsm.pt")
    store.save(path, small_text_encoder(vocabulary), None, vocabulary, "id", {})
    payload = torch.load(path, weights_only=True)
    for damage in ({"text_encoder": {}}, {"sizes": {"vocabulary": 3}}, {"vocabulary": {"words": []}}):
        torch.save({**payload, **damage}, path)
        with pytest.raises(store.EncoderFileError, match="damaged text-encoder file"):
            store.load(path)
