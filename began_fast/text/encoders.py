"""The two DAMSM encoders (AttnGAN, Xu et al. 2018; the text encoder is the one DF-GAN
uses, frozen): a bidirectional LSTM over word embeddings, and a small CNN for images.

The image encoder is not AttnGAN's Inception-v3 (nothing can be downloaded here): a few
strided convolutions suited to 32-64 px images, giving a global vector from the flattened
4 x 4 map, so that where a shape sits, which captions name, is not pooled away.
"""
import math

import torch
from torch import nn

SENTENCE = 256     # sentence and image vector size, as in DF-GAN
EMBEDDING = 300    # word embedding size, as in AttnGAN's text encoder
MAX_WIDTH = 256    # the image encoder's widest layer: keeps 128-256 px encoders small


class TextEncoder(nn.Module):
    """Word indices [B, L] (0 = padding after the words) and lengths [B] -> (per-word
    features [B, L, sentence], zero at padding; sentence vectors [B, sentence]).

    LSTM layers (one by default) sentence // 2 wide per direction; the sentence vector is
    the last layer's two final states side by side, each taken at the caption's own end,
    so padding never changes it. Parameter names follow AttnGAN's RNN_ENCODER but for the
    renamed embedding (store.from_attngan maps them)."""

    def __init__(self, vocabulary: int, embedding: int = EMBEDDING, sentence: int = SENTENCE,
                 dropout: float = 0.5, layers: int = 1):
        super().__init__()
        if sentence % 2:
            raise ValueError(f"sentence size {sentence}: must be even (half per direction)")
        self.embedding = nn.Embedding(vocabulary, embedding, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.rnn = nn.LSTM(embedding, sentence // 2, layers, batch_first=True, bidirectional=True)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)    # as AttnGAN: small, so the LSTM starts unsaturated
        with torch.no_grad():
            self.embedding.weight[0].zero_()

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        words = self.dropout(self.embedding(tokens))
        # Packing runs each caption over its own length; it needs the lengths on the CPU,
        # so this reads a device value: encode outside any compiled or captured step.
        packed = nn.utils.rnn.pack_padded_sequence(words, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, (final, _) = self.rnn(packed)
        features, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=tokens.shape[1])
        return features, final[-2:].transpose(0, 1).flatten(1)


class ImageEncoder(nn.Module):
    """uint8-range images in [-1, 1], [B, C, S, S] (S from 32 up) -> (region features
    [B, features, 8, 8] for word-level attention, image vectors [B, features])."""

    def __init__(self, channels: int, size: int, width: int = 32, features: int = SENTENCE):
        super().__init__()
        if size < 32 or size & (size - 1):
            raise ValueError(f"image size {size}: must be a power of two from 32 up")
        self.channels, self.size, self.width = channels, size, width
        layers, wide = [nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.2)], width
        for _ in range(int(math.log2(size // 8))):            # halve down to 8 x 8
            layers += _halve(wide, min(wide * 2, MAX_WIDTH))
            wide = min(wide * 2, MAX_WIDTH)
        self.to_regions = nn.Sequential(*layers)
        self.regions = nn.Conv2d(wide, features, 1)
        self.down = nn.Sequential(*_halve(wide, wide))
        self.vector = nn.Linear(wide * 4 * 4, features)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.to_regions(images)
        return self.regions(hidden), self.vector(self.down(hidden).flatten(1))


def _halve(inputs: int, outputs: int) -> list:
    """A strided convolution that halves the side, batch-normalised, LeakyReLU."""
    return [nn.Conv2d(inputs, outputs, 4, 2, 1), nn.BatchNorm2d(outputs), nn.LeakyReLU(0.2)]
