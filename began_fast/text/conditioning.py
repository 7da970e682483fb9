"""What a text-conditioned model (DF-GAN) adds to a training run: the captioned images, every
caption's sentence vector for the step to draw by index, fixed captions for the sample
grids, captions for the evaluations with the attributes they name, and the encoders a
checkpoint embeds.
"""
import torch

from began_fast.data import draw_below
from began_fast.models.dfgan import generator_input
from began_fast.text.prepare import prepare_text
from began_fast.text.shape_captions import attributes

GRID_CAPTIONS = 8        # rows of a sample grid: one caption each, with as many z as columns


class TextConditioning:
    def __init__(self, dataset, opts, device, saved: dict | None = None, progress=None, log=None):
        """dataset: the run's ImageSet; saved: a resumed checkpoint's embedded encoders."""
        self.text = prepare_text(dataset, opts.cache_dir, device, progress=progress, log=log,
                                 encoder_file=opts.text_encoder, vocabulary_file=opts.vocabulary, saved=saved)
        self.images = self.text.images        # an image folder: only the images with captions
        self.table = self.text.encoder.table(self.text.captions)      # [N, K, 256] on the device
        self.payload = self.text.payload()

    @property
    def sentences(self) -> tuple:
        """(sentence vectors [N, K, 256], caption counts [N]) on the CPU, for DeviceImages."""
        return self.table.cpu(), self.text.captions.counts

    def _draw(self, count: int, generator: torch.Generator, first_only: bool = False) -> tuple:
        """(image indices, caption numbers) of `count` random captions."""
        index = torch.randint(len(self.images.images), (count,), generator=generator)
        which = torch.zeros_like(index) if first_only else draw_below(self.text.captions.counts[index], generator)
        return index, which

    def grid(self, z: torch.Tensor, generator: torch.Generator, columns: int) -> tuple:
        """(G's inputs for a grid of z [rows x columns, latent], row r with caption r, the
        rows' captions as text)."""
        index, which = self._draw(z.shape[0] // columns, generator, first_only=True)
        e = self.table[index.to(self.table.device), which.to(self.table.device)].repeat_interleave(columns, 0)
        return generator_input(z.to(e.device), e), [self.text.captions.texts[i][0] for i in index.tolist()]

    def evaluation(self, z: torch.Tensor, generator: torch.Generator) -> tuple:
        """(G's inputs for z [n, latent], each with a random training caption, and the
        attributes those captions name (built-in data; None for an image folder))."""
        index, which = self._draw(z.shape[0], generator)
        e = self.table[index.to(self.table.device), which.to(self.table.device)]
        labels = self.images.labels
        wanted = {k: v[index.numpy()] for k, v in attributes(labels).items()} if self.images.builtin else None
        return generator_input(z.to(e.device), e), wanted
