"""One spec per model: everything the engine, the command line, the plots and the docs know
about a model, in one torch-free place (so that `--help` answers at once).

    SPECS["began"].defaults     its own defaults, per device where they differ
    register(spec)              a new model: its spec, beside its objective's file

config (defaults, archs, options, validation, --help), models (objective and networks),
plot (titles and units), compare (which models by default), bench and the docs' model
tables read these; tests/test_specs.py checks the docs against them.
"""
import importlib
from dataclasses import dataclass, field
from typing import NamedTuple


class PerDevice(NamedTuple):
    """A default that depends on the training device."""
    cuda: object
    cpu: object


class Stat(NamedTuple):
    """A statistic of the model's stats line, as the plot, the docs and the user see it."""
    key: str           # its name in stats.jsonl
    title: str
    unit: str = ""


class Networks(NamedTuple):
    """An architecture (--arch): the file under began_fast/models/ whose build(opts, **kwargs)
    returns (G, D), and a few words for --help."""
    module: str
    about: str
    kwargs: dict = {}


@dataclass(frozen=True)
class Spec:
    name: str                      # --model
    paper: str                     # who and when, for --help
    objective: str                 # the module whose train_step(state) trains it
    archs: tuple                   # the architectures it can train...
    why_archs: str                 # ...and why only those (the refusal's reason)
    defaults: dict                 # its paper's settings, PerDevice where the devices differ
    stats: tuple                   # Stat of each stats-line field, in plot order (lr comes last, from the engine)
    prior: str                     # z: "uniform" U[-1, 1] or "normal" N(0, 1)
    optimizer: tuple               # ("adam", betas) or ("rmsprop", None)
    options: tuple = ()            # options only some models read, this one among them
    networks: dict = field(default_factory=dict)   # architectures it brings: --arch -> Networks
    conditioned: bool = False      # G's input is [z | sentence vector]; the data carry captions
    plateau_metric: str | None = None   # the stat whose plateaus halve lr; None: a constant lr
    extra_grids: tuple = ()        # grids beside samples-STEP.png, written by its extra_grids hook
    fused_kernels: bool = False    # --kernels triton (BEGAN's conv+ELU, L1, k_t) applies
    refuse: tuple = ()             # (option, value, one-line reason): combinations it cannot train
    nonfinite_hint: str = ""       # added to "Try a lower --lr" when a loss becomes non-finite


# The built-in models, in --model's order; register() appends.
BUILT_IN = ("began", "dcgan", "gan", "wgan", "wgan_gp", "dfgan")
SPECS: dict = {}
ARCHITECTURES: dict = {}


def register(spec: Spec) -> Spec:
    """Make a model known to the engine, the command line and the docs' checks."""
    SPECS[spec.name] = spec
    ARCHITECTURES.update(spec.networks)
    return spec


def spec(model: str) -> Spec:
    return SPECS[model]


for _file in BUILT_IN:
    register(importlib.import_module(f"began_fast.specs.{_file}").SPEC)
