"""The DAMSM file: both encoders, their sizes, the vocabulary and the pre-training report
in one file of tensors and plain values, written atomically and read with torch's
weights-only unpickler; and where it is cached, per data set and captions.

An AttnGAN/DF-GAN text encoder a user already has (a state dict of AttnGAN's
RNN_ENCODER, with its word-to-index table as JSON) loads too: see from_attngan.
"""
import os

import torch

from began_fast.data import default_cache_dir
from began_fast.files import atomic_write
from began_fast.metrics.cache import file_name
from began_fast.text.encoders import ImageEncoder, TextEncoder
from began_fast.text.vocabulary import PAD, Vocabulary, read_json

FORMAT = "began_fast.damsm.v1"
VERSION = 1         # bump when the encoders or their training change: older cache files are not reused


class EncoderFileError(ValueError):
    """A text-encoder file that cannot be used, as a one-line message."""


def cache_path(identity: str, cache_dir: str | None) -> str:
    """Where the encoders pre-trained on the captions `identity` are cached: beside the
    data cache (--cache-dir, default ~/.cache/began_fast), in text/."""
    return os.path.join(cache_dir or default_cache_dir(), "text", f"damsm-{file_name(identity)}-v{VERSION}.pt")


def payload(text: TextEncoder, image: ImageEncoder | None, vocabulary: Vocabulary, identity: str,
            report: dict) -> dict:
    """The encoders as a dict of tensors and plain values: the file's content, and what a
    DF-GAN checkpoint embeds so that it samples from captions on its own."""
    sizes = {"vocabulary": len(vocabulary), "embedding": text.embedding.embedding_dim,
             "sentence": 2 * text.rnn.hidden_size, "layers": text.rnn.num_layers}
    if image is not None:
        sizes.update(channels=image.channels, size=image.size, width=image.width)
    return {"format": FORMAT, "sizes": sizes, "vocabulary": vocabulary.to_dict(), "captions": identity,
            "report": report, "text_encoder": _cpu(text.state_dict()),
            "image_encoder": None if image is None else _cpu(image.state_dict())}


def save(path: str, text: TextEncoder, image: ImageEncoder | None, vocabulary: Vocabulary, identity: str,
         report: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path, durable=True) as f:
        torch.save(payload(text, image, vocabulary, identity, report), f)


def load(path: str) -> tuple[TextEncoder, ImageEncoder | None, Vocabulary, dict]:
    """(text encoder, image encoder or None, vocabulary, the rest of the file: 'captions',
    'report'), the encoders in eval mode on the CPU; EncoderFileError when the file
    cannot be used."""
    return from_payload(_read(path), path)


def from_payload(payload, path: str) -> tuple[TextEncoder, ImageEncoder | None, Vocabulary, dict]:
    """load's result from a payload() dict read from `path` (a file or a checkpoint)."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise EncoderFileError(f"{path}: not a text-encoder file of this project; give one that "
                               "python -m began_fast.pretrain_text wrote")
    try:
        sizes = payload["sizes"]
        vocabulary = Vocabulary.from_dict(payload["vocabulary"], path)
        text = TextEncoder(sizes["vocabulary"], sizes["embedding"], sizes["sentence"], layers=sizes["layers"])
        text.load_state_dict(payload["text_encoder"])
        image = None
        if payload["image_encoder"] is not None:
            image = ImageEncoder(sizes["channels"], sizes["size"], sizes["width"], sizes["sentence"]).eval()
            image.load_state_dict(payload["image_encoder"])
        rest = {"captions": payload["captions"], "report": payload["report"]}
    # A key missing, a size that builds no network, weights of other shapes (RuntimeError)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise EncoderFileError(f"{path}: damaged text-encoder file ({type(e).__name__}); pre-train again") from None
    return text.eval(), image, vocabulary, rest


def from_attngan(state_path: str, vocabulary_path: str) -> tuple[TextEncoder, Vocabulary]:
    """An AttnGAN or DF-GAN text encoder (torch.save of RNN_ENCODER.state_dict(), e.g. DF-GAN's
    text_encoder200.pth) and its vocabulary as JSON: either {"word": index, ...} (their
    captions.pickle's wordtoix, index 0 the padding "<end>") or a vocabulary.json of this
    project. The sizes (embedding, sentence, layers) are read from the weights."""
    state = _read(state_path)
    try:
        weights = {"embedding.weight": state["encoder.weight"],
                   **{name: value for name, value in state.items() if name.startswith("rnn.")}}
        layers = 1 + max(int(name.rsplit("_l", 1)[1].split("_")[0]) for name in weights if name.startswith("rnn.weight"))
        words, embedding = weights["embedding.weight"].shape
        text = TextEncoder(words, embedding, 2 * weights["rnn.weight_hh_l0"].shape[1], layers=layers)
        text.load_state_dict(weights)
    except (KeyError, ValueError, TypeError, AttributeError, RuntimeError) as e:
        raise EncoderFileError(f"{state_path}: not a state dict of AttnGAN's RNN_ENCODER ({type(e).__name__}: "
                               f"{str(e).splitlines()[0][:200]}); give the text_encoder*.pth file") from None
    vocabulary = _vocabulary_json(vocabulary_path)
    if len(vocabulary) != words:
        raise EncoderFileError(f"{vocabulary_path} has {len(vocabulary)} words but {state_path} embeds {words}; "
                               "give the vocabulary the encoder was trained with")
    return text.eval(), vocabulary


def _vocabulary_json(path: str) -> Vocabulary:
    """A vocabulary.json of this project, or a word -> index JSON object (AttnGAN's wordtoix)."""
    saved = read_json(path)
    if isinstance(saved, dict) and "format" not in saved:
        by_index = sorted((i, w) for w, i in saved.items() if isinstance(i, int))
        if len(by_index) != len(saved) or [i for i, _ in by_index] != list(range(len(saved))):
            raise EncoderFileError(f"{path}: a word-to-index table needs the indices 0 to {len(saved) - 1}, each once")
        return Vocabulary([PAD, *(w for _, w in by_index[1:])])
    return Vocabulary.from_dict(saved, path)


def _read(path: str):
    if not os.path.isfile(path):
        raise EncoderFileError(f"{path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a damaged or foreign file, or one that would run code
        raise EncoderFileError(f"{path}: not a readable weights file ({type(e).__name__}); only tensors and plain "
                               "values are read (weights-only), never code") from None


def _cpu(state: dict) -> dict:
    return {name: value.detach().cpu() for name, value in state.items()}
