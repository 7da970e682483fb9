"""Real batches gathered on the host, for data that stay off the training device
(placement.py decides): read from the mapped cache file, or from an in-memory array, this
process's rows only (rank, rank + world, ...; data.shard_size).

The step reads a static buffer on the device, `staged`, the same tensor at every step, so
a compiled step and a captured CUDA graph keep working; the batches are copied into it
between steps (stage). The draws are the resident path's (data.DeviceImages.sample):
uniform with replacement by torch.randint, then each image flipped with probability 1/2
by torch.rand when flips are on, in the same order, but from the CPU's generator. On the
CPU each step's batches are gathered just before it, so a model that draws one real batch
a step trains exactly as on resident data (WGAN and WGAN-GP draw n_critic: all of them come
before the step's other draws here, so their stream differs, with the same distribution).
On CUDA the next step's batches are gathered while the device runs this one, into pinned
memory, and copied on a side stream; rewind() takes such a draw back before a checkpoint,
so that a resumed run draws it again.
"""
import numpy as np
import torch

from began_fast.data import shard_sentences, shard_size, to_signed_unit, with_sentences


class HostImages:
    """Batches of this rank's shard of `images` gathered on the host. The interface of
    data.DeviceImages: sample, sample_with_sentences, and around each step stage() before,
    prefetch() after, rewind() before a checkpoint."""

    def __init__(self, images: np.ndarray, device, batch: int, rank: int = 0, world: int = 1, sentences=None,
                 flip: bool = True, draws: int = 1, ahead: bool | None = None):
        """draws: real batches a step takes (the model's real_batches hook). ahead: gather the
        next step's batches after each step (default: on CUDA, where the device runs behind
        the host)."""
        self.source, self.rank, self.world = images, rank, world
        self.count = shard_size(len(images), world)
        self.device = torch.device(device)
        self.batch, self.draws, self.flip = batch, draws, flip
        cuda = self.device.type == "cuda"
        self.ahead = cuda if ahead is None else ahead
        shape = (draws, batch, *images.shape[1:])
        self.staged = torch.empty(shape, dtype=torch.uint8, device=self.device)
        self.staged_index = torch.zeros((draws, batch), dtype=torch.int64, device=self.device)
        self.cursor = torch.zeros(1, dtype=torch.int64, device=self.device)   # the next of the step's draws
        self.sentences, self.sentence_counts = shard_sentences(sentences, rank, world, self.count, self.device)
        # Where batches are gathered: on the CPU straight into the staged buffer; on CUDA into
        # one of two pinned buffers, each reused once its last copy has finished.
        self.host = [(torch.empty(shape, dtype=torch.uint8, pin_memory=True),
                      torch.empty((draws, batch), dtype=torch.int64, pin_memory=True)) for _ in range(2)] \
            if cuda else [(self.staged, self.staged_index)]
        self.copies = [None] * len(self.host)     # each host buffer's last copy (a CUDA event)
        self.slot = 0
        self.copy_stream = torch.cuda.Stream(self.device) if cuda else None
        self.consumed = None     # CUDA: the last step queued (the copy into staged waits for it)
        self.ready = None        # CUDA: the copy of the next step's batches
        self.drawn_ahead = None  # the CPU generator's state before batches drawn ahead, or None

    # -- around each step (backends.StepRunner) ------------------------------------------
    def stage(self) -> None:
        """Before a step: its batches into `staged` (gathered now, or ahead by prefetch)."""
        if self.drawn_ahead is None:
            self._gather()
        self.drawn_ahead = None
        if self.ready is not None:
            torch.cuda.current_stream(self.device).wait_event(self.ready)

    def prefetch(self) -> None:
        """After a step is queued: with `ahead`, gather the next step's batches meanwhile."""
        if not self.ahead:
            return
        if self.copy_stream is not None:
            self.consumed = torch.cuda.Event()
            self.consumed.record(torch.cuda.current_stream(self.device))
        self.drawn_ahead = torch.get_rng_state()
        self._gather()

    def rewind(self) -> None:
        """Take back batches drawn ahead (the generator as before them), so that the random
        state a checkpoint saves is the one a resumed run needs to draw them again."""
        if self.drawn_ahead is not None:
            torch.set_rng_state(self.drawn_ahead)
            self.drawn_ahead = None

    def _gather(self) -> None:
        images, index = self.host[self.slot]
        if self.copies[self.slot] is not None:
            self.copies[self.slot].synchronize()      # its last copy to the device has finished
        for draw in range(self.draws):
            chosen = torch.randint(self.count, (self.batch,))
            out = images[draw]
            np.take(self.source, chosen.numpy() * self.world + self.rank, axis=0, out=out.numpy(), mode="clip")
            if self.flip:
                flip = torch.rand(self.batch, 1, 1, 1) < 0.5
                out.copy_(torch.where(flip, out.flip(3), out))
            index[draw] = chosen
        if self.copy_stream is None:
            return
        with torch.cuda.stream(self.copy_stream):
            if self.consumed is not None:
                self.copy_stream.wait_event(self.consumed)
            self.staged.copy_(images, non_blocking=True)
            self.staged_index.copy_(index, non_blocking=True)
            self.ready = torch.cuda.Event()
            self.ready.record(self.copy_stream)
        self.copies[self.slot] = self.ready
        self.slot = (self.slot + 1) % len(self.host)

    # -- in the step: device ops only ------------------------------------------------------
    def sample(self, batch: int, memory_format=torch.contiguous_format) -> torch.Tensor:
        """The next staged batch, float32 in [-1, 1] (flipped when it was gathered)."""
        x, _ = self._next(batch)
        return to_signed_unit(x).contiguous(memory_format=memory_format)

    def sample_with_sentences(self, batch: int, memory_format=torch.contiguous_format) -> tuple:
        """The next staged batch with one of each image's sentence vectors at random, as
        data.DeviceImages.sample_with_sentences."""
        x, index = self._next(batch)
        return with_sentences(self, x, index, memory_format)

    def _next(self, batch: int) -> tuple:
        if batch != self.batch:
            raise ValueError(f"streamed batches hold {self.batch} images, not {batch}")
        if self.draws == 1:
            return self.staged[0], self.staged_index[0]
        at = self.cursor       # a device counter: no host value, so a graph or compiled step replays it
        x, index = self.staged.index_select(0, at)[0], self.staged_index.index_select(0, at)[0]
        self.cursor.copy_((at + 1) % self.draws)
        return x, index
