"""DAMSM pre-training: the text and image encoders trained together with the sentence-level
matching loss on a data set's captions, and their held-out matching accuracy.

A share of the images is held out (the same ones for the same seed); each step draws a
batch of the other images without replacement, one of each image's captions at random.
Training runs on a copy of the random state, so a DF-GAN run that pre-trains first
goes on exactly as one that found the encoders cached.
"""
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from began_fast.data import DataError, to_signed_unit
from began_fast.text.caption_set import CaptionSet
from began_fast.text.damsm import sentence_loss
from began_fast.text.encoders import EMBEDDING, SENTENCE, ImageEncoder, TextEncoder
from began_fast.text.matching import CANDIDATES, matching_accuracy

MIN_IMAGES = 20        # below this the held-out accuracy means nothing
MAX_HELD_OUT = 1000    # held-out images: enough for a stable accuracy


@dataclass
class Settings:
    epochs: int = 8              # the built-in CPU data: a minute or two (docs/results.md, "Text encoder pre-training")
    batch: int = 64
    lr: float = 2e-3             # peak of a one-cycle schedule; AttnGAN's DAMSM rate and Adam betas (0.5, 0.999)
    seed: int = 0
    held_out: float = 0.1        # share of the images held out, at most MAX_HELD_OUT
    embedding: int = EMBEDDING
    sentence: int = SENTENCE
    width: int = 32              # the image encoder's first layer
    dropout: float = 0.5
    clip: float = 0.25           # the text encoder's gradient norm is clipped to this, as AttnGAN

    def to_dict(self) -> dict:
        return asdict(self)



def split(count: int, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, held-out indices), sorted, from the settings' seed."""
    if count < MIN_IMAGES:
        raise DataError(f"{count} captioned image(s): too few to pre-train a text encoder; give at least {MIN_IMAGES}")
    held = int(np.clip(round(count * settings.held_out), 2, MAX_HELD_OUT))
    order = np.random.default_rng(settings.seed).permutation(count)
    return np.sort(order[held:]), np.sort(order[:held])


def pretrain(images: np.ndarray, captions: CaptionSet, vocabulary: int, classes: np.ndarray | None,
             settings: Settings, device, progress=None, log=None) -> tuple[TextEncoder, ImageEncoder, dict]:
    """Train both encoders on uint8 images [N, C, S, S] and their CaptionSet (word indices
    below `vocabulary`); classes: int [N] or None (pairs of one class are not each other's
    negatives). Returns the encoders in eval mode on `device` and a report: held-out
    accuracy, candidates, seconds, each epoch's mean loss.
    progress: optional callable(iterable, total) -> iterable over each epoch's batches;
    log: optional callable(str), told each epoch's mean loss."""
    device = torch.device(device)
    start = time.perf_counter()
    train, held = split(len(images), settings)
    batch = min(settings.batch, len(train))
    pixels = torch.from_numpy(images).to(device)
    labels = None if classes is None else torch.as_tensor(classes, dtype=torch.long, device=device)
    losses = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(settings.seed)
        text = TextEncoder(vocabulary, settings.embedding, settings.sentence, settings.dropout).to(device)
        image = ImageEncoder(images.shape[1], images.shape[-1], settings.width, settings.sentence).to(device)
        opt = torch.optim.Adam([*text.parameters(), *image.parameters()], lr=settings.lr, betas=(0.5, 0.999))
        steps_per_epoch = len(train) // batch
        schedule = torch.optim.lr_scheduler.OneCycleLR(opt, settings.lr, total_steps=settings.epochs * steps_per_epoch)
        for epoch in range(settings.epochs):
            text.train(), image.train()
            order = torch.from_numpy(train)[torch.randperm(len(train))]
            batches = order[:steps_per_epoch * batch].view(-1, batch)    # whole batches: BatchNorm wants > 1
            total = torch.zeros((), device=device)
            for index in progress(batches, len(batches)) if progress else batches:
                tokens, lengths = captions.take(index, captions.pick(index))     # the captions stay on the CPU
                _, sentences = text(tokens.to(device), lengths)
                index = index.to(device)
                _, vectors = image(to_signed_unit(pixels[index]))
                loss = sentence_loss(vectors, sentences, None if labels is None else labels[index])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(text.parameters(), settings.clip)
                opt.step()
                schedule.step()
                total += loss.detach()
            losses.append(total.item() / len(batches))
            if log:
                log(f"epoch {epoch + 1}/{settings.epochs}: DAMSM loss {losses[-1]:.3f} nats "
                    f"({time.perf_counter() - start:.0f} s)")
        text.eval(), image.eval()
        report = held_out_report(text, image, pixels, captions, held, classes, settings.seed)
    return text, image, {**report, "losses": losses, "seconds": time.perf_counter() - start,
                         "train_images": len(train), "settings": settings.to_dict()}


@torch.no_grad()
def held_out_report(text: TextEncoder, image: ImageEncoder, pixels: torch.Tensor, captions: CaptionSet,
                    held: np.ndarray, classes, seed: int) -> dict:
    """Matching accuracy on the held-out images, each with one of its captions drawn from
    `seed`: among CANDIDATES captions of other images, and with classes, of other classes."""
    index = torch.from_numpy(held)
    which = captions.pick(index, torch.Generator().manual_seed(seed))
    vectors, sentences = [], []
    for part, part_which in zip(index.split(500), which.split(500)):
        tokens, lengths = captions.take(part, part_which)
        vectors.append(image(to_signed_unit(pixels[part.to(pixels.device)]))[1])
        sentences.append(text(tokens.to(pixels.device), lengths)[1])
    vectors, sentences = torch.cat(vectors), torch.cat(sentences)
    accuracy, used = matching_accuracy(vectors, sentences, candidates=CANDIDATES, seed=seed)
    report = {"held_out_images": len(held), "candidates": used, "accuracy": accuracy}
    if classes is not None:
        accuracy, used = matching_accuracy(vectors, sentences, classes[held], CANDIDATES, seed)
        report.update(accuracy_other_classes=accuracy, candidates_other_classes=used)
    return report
