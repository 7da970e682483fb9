"""Image grids written as PNG files (samples, reconstructions, interpolations)."""
import numpy as np
import torch

from began_fast.files import atomic_write

GAP = 2              # px between tiles, before scaling
MIN_WIDTH = 512      # a grid is scaled up to at least this wide, so that 32 px samples can be seen


def quantize(images: torch.Tensor) -> torch.Tensor:
    """[N, C, S, S] floats in [-1, 1] -> uint8 [N, C, S, S] on the same device: the inverse
    of data.to_signed_unit, so generated images are stored and scored as real ones are."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, C, S, S] floats in [-1, 1] -> [N, S, S, C] uint8."""
    return quantize(images).cpu().permute(0, 2, 3, 1).numpy()


def grid_scale(columns: int, size: int) -> int:
    """The whole factor by which a grid of `columns` tiles of `size` px is enlarged (nearest
    neighbour): the smallest that makes it at least MIN_WIDTH px wide, 1 when it already is."""
    width = columns * (size + GAP) + GAP
    return max(1, -(-MIN_WIDTH // width))


def grid_image(images: torch.Tensor, columns: int, row_labels: list | None = None):
    """Tile images row by row, `columns` per row, GAP px apart, enlarged by grid_scale; a PIL
    image. row_labels: a line of text written to the right of each row (DF-GAN's captions)."""
    from PIL import Image, ImageDraw

    tiles = to_uint8(images)
    n, s, _, c = tiles.shape
    rows = -(-n // columns)
    canvas = np.zeros((rows * (s + GAP) + GAP, columns * (s + GAP) + GAP, c), dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, col = divmod(i, columns)
        canvas[GAP + r * (s + GAP):GAP + r * (s + GAP) + s, GAP + col * (s + GAP):GAP + col * (s + GAP) + s] = tile
    scale = grid_scale(columns, s)
    canvas = canvas.repeat(scale, axis=0).repeat(scale, axis=1)
    image = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    if row_labels:
        draw = ImageDraw.Draw(image)
        width = int(max(draw.textlength(text) for text in row_labels)) + 8
        labelled = Image.new(image.mode, (image.width + width, image.height))
        labelled.paste(image, (0, 0))
        draw = ImageDraw.Draw(labelled)
        for r, text in enumerate(row_labels):
            middle = (GAP + r * (s + GAP) + s // 2) * scale
            draw.text((image.width + 4, middle), text, fill="white" if c == 3 else 255, anchor="lm")
        image = labelled
    return image


def save_grid(images: torch.Tensor, path: str, columns: int, row_labels: list | None = None):
    """Write grid_image(images, columns, row_labels) as a PNG, atomically; returns the image."""
    image = grid_image(images, columns, row_labels)
    with atomic_write(path) as f:
        image.save(f, format="PNG")
    return image
