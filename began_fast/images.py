"""Image grids written as PNG files (samples, reconstructions, interpolations)."""
import numpy as np
import torch

from began_fast.files import atomic_write


def quantize(images: torch.Tensor) -> torch.Tensor:
    """[N, C, S, S] floats in [-1, 1] -> uint8 [N, C, S, S] on the same device: the inverse
    of data.to_signed_unit, so generated images are stored and scored as real ones are."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, C, S, S] floats in [-1, 1] -> [N, S, S, C] uint8."""
    return quantize(images).cpu().permute(0, 2, 3, 1).numpy()


def save_grid(images: torch.Tensor, path: str, columns: int, row_labels: list | None = None) -> None:
    """Tile images row by row, `columns` per row, 2 px gaps, and write a PNG atomically;
    row_labels: a line of text written to the right of each row (DF-GAN's captions)."""
    from PIL import Image, ImageDraw

    tiles = to_uint8(images)
    n, s, _, c = tiles.shape
    rows = -(-n // columns)
    gap = 2
    canvas = np.zeros((rows * (s + gap) + gap, columns * (s + gap) + gap, c), dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, col = divmod(i, columns)
        canvas[gap + r * (s + gap):gap + r * (s + gap) + s, gap + col * (s + gap):gap + col * (s + gap) + s] = tile
    image = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    if row_labels:
        draw = ImageDraw.Draw(image)
        width = int(max(draw.textlength(text) for text in row_labels)) + 8
        labelled = Image.new(image.mode, (image.width + width, image.height))
        labelled.paste(image, (0, 0))
        draw = ImageDraw.Draw(labelled)
        for r, text in enumerate(row_labels):
            draw.text((image.width + 4, gap + r * (s + gap) + s // 2), text, fill="white" if c == 3 else 255,
                      anchor="lm")
        image = labelled
    with atomic_write(path) as f:
        image.save(f, format="PNG")
