"""Where a run's training images live: this process's shard whole on the training device
(data.DeviceImages) when it fits there beside the run, else on the host, each step's batches
gathered and copied over (streaming.HostImages).

--data-on-device auto: on the device when the shard and the run's lower bound
(models.memory_needed) take at most RESIDENT_SHARE of the device's memory; the rest is left
for what that bound leaves out (activations, workspaces). yes: on the device, an error when
that does not hold. no: streamed.
"""
import torch

from began_fast.config import RESIDENT_SHARE, OptionError
from began_fast.data import DeviceImages, ImageSet, shard_size
from began_fast.devices import memory_bytes
from began_fast.models import memory_needed
from began_fast.streaming import HostImages


def place_data(dataset: ImageSet, opts, device: torch.device, rank: int = 0, world: int = 1, sentences=None,
               draws: int = 1, note=lambda line: None):
    """The run's real batches (DeviceImages or HostImages) of `dataset`'s images. draws: real
    batches a step takes (the model's real_batches hook); note(line): news for the console."""
    images = dataset.images
    shard = shard_size(len(images), world) * images[0].nbytes
    need, have = memory_needed(opts), memory_bytes(device)
    fits = have is None or shard + need <= RESIDENT_SHARE * have
    where = "the mapped image cache" if dataset.file else "host memory"
    if opts.data_on_device == "yes" and not fits:
        raise OptionError(f"--data-on-device yes: this process's {shard / 2 ** 30:.3g} GiB of images and the run's "
                          f"{need / 2 ** 30:.3g} GiB take more than {RESIDENT_SHARE:.0%} of the {have / 2 ** 30:.3g} "
                          f"GiB of {device.type}; use --data-on-device auto, which streams batches from {where}")
    if opts.data_on_device == "yes" or (opts.data_on_device == "auto" and fits):
        return DeviceImages(images, device, rank, world, sentences, opts.flip, dataset.file)
    if opts.data_on_device == "auto":
        note(f"data: this process's {shard / 2 ** 30:.3g} GiB of images do not fit beside the run in "
             f"{RESIDENT_SHARE:.0%} of {device.type}'s {have / 2 ** 30:.3g} GiB; each step's batches are gathered "
             f"from {where} (--data-on-device)")
    return HostImages(images, device, opts.batch, rank, world, sentences, opts.flip, draws)
