"""Every image's captions as word indices, padded to one shape, so that a training step can
draw one caption per image on the device by index, as data.DeviceImages draws images.
"""
from dataclasses import dataclass, replace

import torch

from began_fast.data import draw_below
from began_fast.text.vocabulary import Vocabulary


@dataclass
class CaptionSet:
    tokens: torch.Tensor     # int64 [N, K, L]: image n's caption k, 0 (padding) after its words
    lengths: torch.Tensor    # int64 [N, K]: words in each caption; 0 where image n has fewer than K
    counts: torch.Tensor     # int64 [N]: captions of each image, at least 1
    texts: list              # N lists of the captions as written
    identity: str            # the data set's identity and the captions' (names cache files)

    @classmethod
    def build(cls, captions: list, vocabulary: Vocabulary, identity: str) -> "CaptionSet":
        """From N lists of caption strings (each list non-empty), encoded with `vocabulary`."""
        counts = torch.tensor([len(own) for own in captions], dtype=torch.long)
        tokens, lengths = vocabulary.encode([c for own in captions for c in own])
        most = int(counts.max())
        # Row r of the flat encoding is caption r - first[n] of image n.
        first = torch.cumsum(counts, 0) - counts
        image = torch.repeat_interleave(torch.arange(len(captions)), counts)
        slot = torch.arange(len(tokens)) - first[image]
        padded = torch.zeros(len(captions), most, vocabulary.max_words, dtype=torch.long)
        padded_lengths = torch.zeros(len(captions), most, dtype=torch.long)
        padded[image, slot], padded_lengths[image, slot] = tokens, lengths
        return cls(padded, padded_lengths, counts, captions, identity)

    def __len__(self):
        return len(self.counts)

    def to(self, device) -> "CaptionSet":
        return replace(self, tokens=self.tokens.to(device), lengths=self.lengths.to(device),
                       counts=self.counts.to(device))

    def subset(self, index) -> "CaptionSet":
        """The captions of images `index` (a list or int tensor), in that order."""
        index = torch.as_tensor(index, dtype=torch.long)
        return replace(self, tokens=self.tokens[index], lengths=self.lengths[index], counts=self.counts[index],
                       texts=[self.texts[i] for i in index.tolist()])

    def pick(self, index: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One caption number per image in `index` (int [B] on this set's device), uniform
        over each image's own captions. Device ops only: no host read."""
        return draw_below(self.counts[index], generator)

    def take(self, index: torch.Tensor, which: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens [B, L], lengths [B]) of caption `which` of image `index`."""
        return self.tokens[index, which], self.lengths[index, which]
