"""The frozen text encoder as DF-GAN uses it: captions in, sentence vectors out."""
import torch

from began_fast.text.caption_set import CaptionSet
from began_fast.text.encoders import TextEncoder
from began_fast.text.vocabulary import Vocabulary

BATCH = 1024      # captions per forward pass


class SentenceEncoder:
    """A text encoder in eval mode with no gradients, on `device`, and its vocabulary.

    encode(["a large blue disc in the centre"]) -> float32 [1, size] on the device, for
    sampling; table(caption_set) -> [N, K, size], every training caption encoded once,
    so that a training step takes sentence vectors by index and never runs the LSTM."""

    def __init__(self, model: TextEncoder, vocabulary: Vocabulary, device="cpu"):
        self.model = model.to(device).eval().requires_grad_(False)
        self.vocabulary, self.device = vocabulary, torch.device(device)
        self.size = 2 * model.rnn.hidden_size

    @torch.no_grad()
    def encode(self, captions: list, strict: bool = False) -> torch.Tensor:
        """Sentence vectors [N, size]; unknown words are left out with a warning, or with
        strict raise vocabulary.VocabularyError."""
        return self.encode_tokens(*self.vocabulary.encode(captions, strict))

    @torch.no_grad()
    def encode_tokens(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Word indices [N, L] and lengths [N] (anywhere) -> sentence vectors [N, size]."""
        parts = [self.model(t.to(self.device), n)[1] for t, n in zip(tokens.split(BATCH), lengths.split(BATCH))]
        return torch.cat(parts) if parts else torch.zeros(0, self.size, device=self.device)

    @torch.no_grad()
    def table(self, captions: CaptionSet) -> torch.Tensor:
        """float32 [N, K, size] on the device: caption k of image n, zeros where image n has
        fewer than K captions (CaptionSet.pick never draws those)."""
        present = captions.lengths.flatten() > 0
        vectors = torch.zeros(present.numel(), self.size, device=self.device)
        vectors[present.to(self.device)] = self.encode_tokens(captions.tokens.flatten(0, 1)[present],
                                                              captions.lengths.flatten()[present])
        return vectors.view(*captions.lengths.shape, self.size)
