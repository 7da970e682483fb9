"""Words -> indices: the tokenizer, and the word-level vocabulary built from the training
captions, saved as JSON beside a run or inside the text encoder's file.

Index 0 is padding (AttnGAN's vocabularies call it "<end>"; it is the same slot). There is
no unknown-word token: the text encoder reads each caption's true length, so nothing
marks an end, and a word the training captions never had has no trained embedding to
give. Such words are left out of the caption, with a warning listing them (AttnGAN
drops them too), or refused with strict=True.
"""
import json
import re
import warnings
from collections import Counter

import torch

from began_fast.files import atomic_write

PAD = "<pad>"
MAX_WORDS = 18           # words kept per caption, as in AttnGAN and DF-GAN
FORMAT = "began_fast.vocabulary.v1"
_WORD = re.compile(r"\w+")      # letters, digits, underscore: punctuation splits words and is dropped


class VocabularyError(ValueError):
    """A vocabulary file that cannot be used, or a caption it cannot encode; one line."""


def tokenize(caption: str) -> list:
    """Lower-case words; punctuation splits words apart and is dropped ("Red ring, small"
    -> ['red', 'ring', 'small'])."""
    return _WORD.findall(caption.lower())


class Vocabulary:
    """A word <-> index table: index 0 is PAD, words from 1."""

    def __init__(self, words, max_words: int = MAX_WORDS):
        words = list(words)
        if not words or words[0] != PAD or len(set(words)) != len(words) or max_words < 1:
            raise VocabularyError(f"a vocabulary needs {PAD!r} first, distinct words after it, and "
                                  "max_words of at least 1")
        self.words, self.max_words = words, max_words
        self.index = {word: i for i, word in enumerate(words)}

    def __len__(self):
        return len(self.words)

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and (self.words, self.max_words) == (other.words, other.max_words)

    @classmethod
    def build(cls, captions, max_words: int = MAX_WORDS) -> "Vocabulary":
        """The words of `captions` (an iterable of strings), most frequent first (ties in
        alphabetical order), so that the same captions always give the same indices."""
        counts = Counter(word for caption in captions for word in tokenize(caption))
        return cls([PAD, *sorted(counts, key=lambda w: (-counts[w], w))], max_words)

    def encode(self, captions, strict: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(int64 indices [N, max_words], PAD after the words; int64 lengths [N]). Words
        past max_words are cut. Unknown words are left out with one warning listing them,
        or, with strict, raise VocabularyError; a caption with no known word at all raises."""
        rows, unknown, cut = [], Counter(), 0
        for caption in captions:
            words = tokenize(caption)
            unknown.update(w for w in words if w not in self.index)
            known = [self.index[w] for w in words if w in self.index]
            if not known:
                raise VocabularyError(f"caption {caption!r} has no word the text encoder knows; "
                                      f"use words from its training captions")
            cut += len(known) > self.max_words
            rows.append(known[:self.max_words])
        if cut:
            warnings.warn(f"cut {cut} of {len(rows)} caption(s) to their first {self.max_words} known words")
        if unknown:
            listed = ", ".join(f"{w!r}" for w, _ in unknown.most_common(20))
            more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
            if strict:
                raise VocabularyError(f"unknown word(s) {listed}{more}: the text encoder never saw them; "
                                      "rephrase with words from its training captions")
            warnings.warn(f"left out {sum(unknown.values())} unknown word(s) the text encoder never saw: "
                          f"{listed}{more}")
        tokens = torch.zeros(len(rows), self.max_words, dtype=torch.long)
        for row, known in zip(tokens, rows):
            row[:len(known)] = torch.tensor(known)
        return tokens, torch.tensor([len(known) for known in rows], dtype=torch.long)

    def decode(self, tokens: torch.Tensor, length: int) -> str:
        """One encoded caption back to its words, joined by spaces."""
        return " ".join(self.words[i] for i in tokens[:length].tolist())

    def to_dict(self) -> dict:
        """Plain values: fits in a weights-only checkpoint and in JSON."""
        return {"format": FORMAT, "words": self.words, "max_words": self.max_words}

    @classmethod
    def from_dict(cls, saved, source: str = "vocabulary") -> "Vocabulary":
        if not (isinstance(saved, dict) and saved.get("format") == FORMAT and isinstance(saved.get("words"), list)
                and all(isinstance(w, str) for w in saved["words"]) and isinstance(saved.get("max_words"), int)):
            raise VocabularyError(f"{source}: not a began_fast vocabulary; give a vocabulary.json this "
                                  "project wrote, or a word-to-index JSON (docs/text-to-image.md)")
        return cls(saved["words"], saved["max_words"])

    def save(self, path: str) -> None:
        with atomic_write(path, "w") as f:
            json.dump(self.to_dict(), f, ensure_ascii=False, indent=0)

    @classmethod
    def load(cls, path: str) -> "Vocabulary":
        return cls.from_dict(read_json(path), path)


def read_json(path: str):
    """A JSON file's value; VocabularyError (one line) when it is missing or not JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise VocabularyError(f"{path}: cannot read it ({e.strerror or e})") from None
    except ValueError as e:      # not JSON, or not UTF-8
        raise VocabularyError(f"{path}: not a JSON file ({e})") from None
