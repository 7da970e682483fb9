"""The one entry point DF-GAN's training calls: a data set's images with their captions, the
captions as word indices, and the frozen sentence encoder, pre-trained on first use and
cached per data set and captions.

    text = prepare_text(data, cache_dir, device)        # data: data.load_training_data(opts)
    table = text.encoder.table(text.captions)            # [N, K, 256] sentence vectors on the device
    captions = text.captions.to(device)                  # in a step, with image indices i [B]:
    e = table[i, captions.pick(i)]                       # one caption per image, device ops only
    text.encoder.encode(["a large blue disc in the centre"])    # for sampling: [1, 256]
"""
import hashlib
import json
import os
import warnings
from dataclasses import dataclass

import numpy as np

from began_fast.data import DataError, ImageSet
from began_fast.text import shape_captions, store
from began_fast.text.caption_set import CaptionSet
from began_fast.text.encoders import ImageEncoder, TextEncoder
from began_fast.text.folder_captions import read_captions
from began_fast.text.pretrain import Settings, pretrain
from began_fast.text.sentence_encoder import SentenceEncoder
from began_fast.text.vocabulary import Vocabulary, VocabularyError

# What prepare_text raises for bad captions or encoder files: each a one-line message.
TEXT_ERRORS = (DataError, VocabularyError, store.EncoderFileError)


@dataclass
class Captioned:
    """A data set's images that have captions, with them."""
    images: ImageSet             # all of the built-in data; an image folder's captioned images
    captions: list               # per image, its captions
    identity: str                # names the data and the captions: the encoder cache's key
    classes: np.ndarray | None   # built-in data: the captions' (shape, colour, size, position) class


@dataclass
class TextData:
    images: ImageSet
    captions: CaptionSet         # on the CPU; .to(device) for a step
    encoder: SentenceEncoder     # frozen, on the device
    image_encoder: ImageEncoder | None    # for matching scores of samples; None for an imported encoder
    path: str                    # the encoder file
    report: dict                 # its pre-training report (held-out accuracy, ...); {} when imported

    def payload(self) -> dict:
        """The encoders and vocabulary as store.payload: what a checkpoint embeds."""
        return store.payload(self.encoder.model, self.image_encoder, self.encoder.vocabulary,
                             self.captions.identity, self.report)


def captioned(data: ImageSet) -> Captioned:
    """The built-in shapes with captions written from their labels (seeded by the data's
    identity), or an image folder's images with their .txt captions (those without left
    out, with a warning)."""
    if data.builtin:
        seed = int(hashlib.sha256(f"captions:{data.identity}".encode()).hexdigest()[:12], 16)
        captions = shape_captions.captions_for(data.labels, seed)
        identity = f"{data.identity}:captions{shape_captions.CAPTIONS_PER_IMAGE}-v{shape_captions.VERSION}"
        return Captioned(data, captions, identity, shape_captions.classes(data.labels))
    if data.paths is None:
        raise ValueError("an image set with neither labels nor source paths has no captions")
    captions, kept = read_captions(data.paths)
    identity = f"{data.identity}:captions-{_digest([kept, captions])}"
    if len(kept) < len(data.images):
        data = data.subset(kept, f"{data.identity}:captioned-{_digest(kept)}")   # a labelled folder keeps its classes
    return Captioned(data, captions, identity, None)


def pretrain_and_save(data: Captioned, path: str, settings: Settings, device, progress=None,
                      log=None) -> tuple[TextEncoder, ImageEncoder, Vocabulary, dict]:
    """Build the vocabulary from the captions, pre-train both encoders, save them at `path`."""
    vocabulary = Vocabulary.build(c for own in data.captions for c in own)
    captions = CaptionSet.build(data.captions, vocabulary, data.identity)
    text, image, report = pretrain(data.images.images, captions, len(vocabulary), data.classes, settings,
                                   device, progress, log)
    store.save(path, text, image, vocabulary, data.identity, report)
    return text, image, vocabulary, report


def prepare_text(data: ImageSet, cache_dir: str | None = None, device="cpu", settings: Settings | None = None,
                 progress=None, log=None, encoder_file: str | None = None,
                 vocabulary_file: str | None = None, saved: dict | None = None) -> TextData:
    """Captions, their word indices and the frozen sentence encoder for `data`.

    The encoder: `encoder_file` when given (a file pretrain_text wrote, or with
    `vocabulary_file` an AttnGAN/DF-GAN text encoder: store.from_attngan); else the one
    cached for these captions under cache_dir/text, pre-trained there first when there is
    none (settings: pretrain.Settings; progress, log: as pretrain takes them). `saved`: a
    checkpoint's embedded encoders (TextData.payload), which a resumed run keeps."""
    data = captioned(data)
    image, report = None, {}
    if saved is not None:
        path = "the checkpoint's text encoder"
        text, image, vocabulary, rest = store.from_payload(saved, path)
        report = rest["report"]
    elif encoder_file and vocabulary_file:
        path = encoder_file
        text, vocabulary = store.from_attngan(encoder_file, vocabulary_file)
    elif encoder_file:
        path = encoder_file
        text, image, vocabulary, saved = store.load(encoder_file)
        report = saved["report"]
    else:
        path = store.cache_path(data.identity, cache_dir)
        cached = _cached(path, data.identity)
        if cached is None:
            text, image, vocabulary, report = pretrain_and_save(data, path, settings or Settings(), device,
                                                                progress, log)
        else:
            text, image, vocabulary, saved = cached
            report = saved["report"]
    captions = CaptionSet.build(data.captions, vocabulary, data.identity)
    if image is not None:
        image = image.to(device).requires_grad_(False)
    return TextData(data.images, captions, SentenceEncoder(text, vocabulary, device), image, path, report)


def _cached(path: str, identity: str):
    """store.load's result for the cache file, or None when there is none or it cannot be
    used (then, with a warning, the encoders are pre-trained again)."""
    if not os.path.exists(path):
        return None
    try:
        cached = store.load(path)
    except store.EncoderFileError as e:
        warnings.warn(f"the cached text encoder is unusable ({e}); pre-training again")
        return None
    if cached[3]["captions"] != identity:
        warnings.warn(f"the cached text encoder {path} was trained on other captions; pre-training again")
        return None
    return cached


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:16]
