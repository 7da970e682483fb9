"""A model as the engine runs it: its spec, its objective's step, and the optional hooks of
its objective file, each filled with a default that does nothing special, so that the
engine calls them all and never asks whether a model has one.

Hooks an objective file may define (began.py defines all of them):
    new_buffers(device) -> dict         its own state tensors, saved in checkpoints (BEGAN: k_t)
    log_fields(means, state) -> dict    the stats line's fields from the interval's means
    progress(fields) -> str             its part of the progress bar
    extra_grids(state, real) -> dict    grids beside the samples (BEGAN: reconstructions)
    conditioning(dataset, opts, device, saved, bar, log)
                                        what G is conditioned on (DF-GAN: captions; see Unconditioned)
    real_batches(opts) -> int           real batches its step draws (WGAN: n_critic), for data
                                        streamed from the host (streaming.py)
"""
import importlib

from began_fast.specs import SPECS


def new_buffers(device) -> dict:
    return {}


def log_fields(means: dict, state) -> dict:
    return means


def progress(fields: dict) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in fields.items())


def extra_grids(state, real) -> dict:
    return {}


def real_batches(opts) -> int:
    return 1


class Unconditioned:
    """What an unconditioned model adds to a run: nothing. A conditioned model's hook returns
    an object with the same parts (text.conditioning.TextConditioning for DF-GAN)."""
    sentences = None     # what DeviceImages draws with each image
    payload = None       # what checkpoints embed

    def __init__(self, dataset):
        self.images = dataset          # the data the run trains on

    def grid(self, z, generator, columns: int) -> tuple:
        """(G's inputs for the sample grids, a caption per row or None)."""
        return z, None

    def evaluation(self, z, generator) -> tuple:
        """(G's inputs for the evaluations, the attributes their conditions name or None)."""
        return z, None


def conditioning(dataset, opts, device, saved=None, bar=None, log=None) -> Unconditioned:
    """saved: what a resumed checkpoint embedded; bar(desc, unit) and log(line): progress
    and news for the console during a long set-up."""
    return Unconditioned(dataset)


DEFAULTS = dict(new_buffers=new_buffers, log_fields=log_fields, progress=progress, extra_grids=extra_grids,
                conditioning=conditioning, real_batches=real_batches)


class Model:
    """`spec`, `train_step`, `stats_fields` (the stats buffer's layout, "count" first) and
    every hook of DEFAULTS, the objective file's own where it has one."""

    def __init__(self, name: str):
        self.spec = SPECS[name]
        module = importlib.import_module(self.spec.objective)
        self.train_step, self.stats_fields = module.train_step, module.STATS_FIELDS
        for hook, default in DEFAULTS.items():
            setattr(self, hook, vars(module).get(hook, default))
