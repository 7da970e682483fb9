"""All options of a training run: the names of their choices, one dataclass, the defaults
that depend on the device, the command line, and validation.

Imports nothing heavy (no torch), so other modules take their constants from here
and `--help` answers at once.
"""
import argparse
import dataclasses
import importlib.util
import math
from dataclasses import dataclass

from began_fast.specs import ARCHITECTURES, SPECS, PerDevice

IMAGE_SIZES = (32, 64, 128, 256)
CROPS = ("center", "celeba")
DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("eager", "compile", "cudagraph", "compile-cudagraph")
KERNELS = ("torch", "triton")      # the same words as began_fast.kernels.KERNELS
PRECISIONS = ("fp32", "tf32", "bf16")
DATA_PLACES = ("auto", "yes", "no")   # --data-on-device (placement.py)
RESIDENT_SHARE = 0.75   # of the device's memory that the images and the run's lower bound may fill (placement.py)
MAX_WIDTH = 2 ** 20      # --filters and --latent: far past any memory, and keeps layer sizes in int64
MAX_SEED = 2 ** 63 - 1   # a signed 64-bit int suits every seed consumer (the grids use seed + 1)
MAX_DECODE_WORKERS = 1024   # --decode-workers: more processes than any machine's cores, fewer than a fork bomb


class OptionError(ValueError):
    """An impossible option value, reported as a one-line message."""


def one_line(text: str) -> str:
    """`text` with line breaks and other unprintable characters escaped (\\n, \\x1b), so that
    a path or value echoed in an error message cannot split it over lines."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument gives the house's one-line error (no usage block)."""

    def error(self, message):
        self.exit(2, one_line(f"error: {message}; see {self.prog} --help") + "\n")


# Defaults that depend on the training device, for options the user did not set (and the
# model does not set: its spec's defaults come first). On the CPU, a small configuration that
# trains in a few minutes (docs/results.md, "The default CPU run").
DEVICE_DEFAULTS = dict(
    size=PerDevice(64, 32),
    builtin_count=PerDevice(20000, 8000),
    steps=PerDevice(200000, 4000),
    log_every=PerDevice(100, 50),
    sample_every=PerDevice(2000, 500),
    ckpt_every=PerDevice(5000, 500),
    metrics_every=PerDevice(10000, 500),
    # CUDA_SPEED: not yet measured on a GPU; chosen as expected fastest for the paper's
    # batch 16, where kernel launches cost about as much as the math: the compiled step
    # replayed as a CUDA graph (no launch cost, fused element-wise work), TF32 tensor
    # cores with fp32 storage and accumulation (fp32 numerics but for 10-bit matmul
    # inputs, PyTorch's own default for convolutions), channels_last (the layout the
    # tensor-core convolutions and the Triton conv are built for). The kernels stay
    # torch (cuDNN) until the Triton ones are measured faster.
    backend=PerDevice("compile-cudagraph", "eager"),
    precision=PerDevice("tf32", "fp32"),
    channels_last=PerDevice(True, False),
    # Generator averaging's half-life in images: the norm for long runs on CUDA (unmeasured
    # here); off on the CPU, where BEGAN's runs did worse with it, short and three times as
    # long (docs/training.md, "Generator averaging"); DCGAN's spec turns it on there.
    g_ema_half_life=PerDevice(10000, 0),
)

G_LOSSES = ("nonsaturating", "saturating")
INITS = ("glorot", "torch")


# The models' tables, read from their specs (began_fast/specs/) at each use, so that a model
# registered after this module was imported is in them too. Adding a model:
# docs/architecture.md, "Adding a model".
def model_defaults() -> dict:
    """--model -> its papers' settings, PerDevice where the devices differ."""
    return {name: spec.defaults for name, spec in SPECS.items()}


def _readers(option: str) -> tuple:
    """The models that read `option`: first the one whose objective file is named after it
    (which defines it), then the variants that train the same objective (gan, then dcgan)."""
    readers = [s for s in SPECS.values() if option in s.options]
    readers.sort(key=lambda s: s.objective.rsplit(".", 1)[-1] != s.name.replace("-", "_"))
    return tuple(s.name for s in readers)


def model_options() -> dict:
    """Options that only some models read -> those models; giving one to another is refused."""
    return {option: _readers(option) for spec in SPECS.values() for option in spec.options}


_TABLES = dict(MODEL_DEFAULTS=model_defaults, MODEL_OPTIONS=model_options, MODELS=lambda: tuple(SPECS),
               ARCHS=lambda: tuple(ARCHITECTURES),
               MODEL_ARCHS=lambda: {name: (s.archs, s.why_archs) for name, s in SPECS.items()})


def __getattr__(name):
    """config.MODELS, MODEL_DEFAULTS, ...: the tables above, as they are now."""
    if name in _TABLES:
        return _TABLES[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _paper(name):
    """Options' own default for `name`: BEGAN's on CUDA (the default model and device)."""
    value = SPECS["began"].defaults.get(name, DEVICE_DEFAULTS.get(name))
    return value.cuda if isinstance(value, PerDevice) else value


@dataclass
class Options:
    data: str | None = None          # image folder; None = built-in shapes
    out: str = "runs"
    model: str = "began"
    arch: str = _paper("arch")
    size: int = _paper("size")
    filters: int = _paper("filters")  # BEGAN's n; DCGAN's channels at the widest-resolution layer
    latent: int = _paper("latent")    # the size of z (and BEGAN's h, D's embedding)
    channels: int = 3
    skip: bool = False
    vanishing_residual: int = 0      # steps over which the residual carry fades from 1 to 0; 0: off
    tanh: bool = False
    init: str = "glorot"             # BEGAN's weights: glorot, or torch (torch's conv default, N(0, 0.02) Linear)
    crop: str = "center"
    flip: bool = True                # random horizontal flips of the real batches
    builtin_count: int = _paper("builtin_count")
    batch: int = _paper("batch")
    steps: int = _paper("steps")
    time_limit: float | None = None  # seconds of training; None: no limit
    lr: float = _paper("lr")
    lr_d: float | None = None        # D's learning rate; None: the same as lr
    lr_patience: int = 5000
    lr_floor: float = 1e-5
    g_ema_half_life: float = _paper("g_ema_half_life")   # images; 0: no generator averaging
    g_ema_rampup: float = 0.05       # the half-life is at most this share of the images seen so far; 0: none
    gamma: float = _paper("gamma")
    latent_constraint: float = 0.0   # BEGAN-CS's weight on ||z - Enc_D(G(z))||^2; 0: off (the paper)
    pull_away: float = 0.0           # EBGAN's pull-away term's weight in G's loss; 0: off (the paper)
    lambda_k: float = _paper("lambda_k")
    g_loss: str = "nonsaturating"
    n_critic: int = 5
    clip: float = 0.01
    gp_weight: float = 10.0
    seed: int = 0
    data_seed: int = 0               # the built-in shapes' seed, apart from seed
    device: str = "auto"
    backend: str = _paper("backend")
    kernels: str = "torch"
    precision: str = _paper("precision")
    channels_last: bool = _paper("channels_last")
    log_every: int = _paper("log_every")
    sample_every: int = _paper("sample_every")
    ckpt_every: int = _paper("ckpt_every")
    metrics: str | None = None       # names or groups; None: "classes" where the data has classes, else none
    metrics_every: int = _paper("metrics_every")
    metrics_samples: int = 1000
    inception_weights: str | None = None
    text_encoder: str | None = None  # DF-GAN: a text-encoder file (pretrain_text's, or AttnGAN's with vocabulary)
    vocabulary: str | None = None    # DF-GAN: the word-to-index JSON of an AttnGAN text encoder
    keep_ckpts: int = 3
    resume: str | None = None
    collective_timeout: float = 600.0   # seconds a process waits for the others (torchrun) before it gives up
    cache_dir: str | None = None
    tensorboard: bool | None = None  # event files in the run folder; None: when the tensorboard package is installed
    data_on_device: str = "auto"     # the images whole on the training device, or streamed from the host
    decode_workers: int | None = None   # processes decoding an image folder; None: the usable cores

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def for_device(device_type: str, **given) -> "Options":
        """Options with the defaults of `given`'s model (BEGAN unless given) on `device_type`,
        then `given` on top."""
        return apply_device_defaults(Options(**given), set(given), device_type)

    @classmethod
    def from_dict(cls, saved: dict) -> "Options":
        """Options saved by any version: before data_seed existed, --seed also seeded the
        built-in shapes, so an old run's data_seed is its seed; before models other than
        BEGAN, D's lr was lr and the networks BEGAN's."""
        # Before --flip, every model but DF-GAN flipped its real batches; before averaging, no
        # run averaged G.
        spec = SPECS.get(saved.get("model", "began"))
        flip = spec is None or spec.defaults.get("flip", True)
        opts = cls(**{"data_seed": saved.get("seed", 0), "flip": flip, "g_ema_half_life": 0, **saved})
        return dataclasses.replace(opts, lr_d=opts.lr if opts.lr_d is None else opts.lr_d)


# Options a resumed run may change; every other one comes from the checkpoint.
RUN_CONTROL = ("out", "steps", "log_every", "sample_every", "ckpt_every", "keep_ckpts",
               "device", "backend", "kernels", "cache_dir", "resume", "metrics", "metrics_every",
               "metrics_samples", "inception_weights", "time_limit", "collective_timeout", "g_ema_half_life",
               "g_ema_rampup", "tensorboard", "data_on_device", "decode_workers")
# Of those, the ones a resume takes from the device it runs on when not given: a run may
# resume on another device, where the checkpoint's choice may be impossible (a CUDA graph
# on the CPU). They change speed, not what is computed.
FOLLOW_THE_DEVICE = ("backend",)

_OPTION_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Options)}


def _show(value) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else f"{value:g}" \
        if isinstance(value, (int, float)) else str(value)


def _per_device(value) -> str:
    return f"cuda {_show(value.cuda)}, cpu {_show(value.cpu)}" if isinstance(value, PerDevice) else _show(value)


def default_text(name: str) -> str:
    """The default of option `name` in words: per model where the models differ ('began: cuda
    1e-4, cpu 2e-4; dcgan, gan: 0.0002'), per device where the devices do, else Options'."""
    defaults, options = model_defaults(), model_options()
    if any(name in table for table in defaults.values()):
        groups = {}
        for model, table in defaults.items():
            if name in table or name not in options:
                value = table.get(name, DEVICE_DEFAULTS.get(name, _OPTION_DEFAULTS[name]))
                groups.setdefault(_per_device(value), []).append(model)
        if len(groups) == 1:
            return next(iter(groups))
        return "; ".join(f"{', '.join(models)}: {text}" for text, models in groups.items())
    if name in DEVICE_DEFAULTS:
        return _per_device(DEVICE_DEFAULTS[name])
    return _show(_OPTION_DEFAULTS[name])


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m began_fast.train", allow_abbrev=False,
        description="Train a BEGAN (Boundary Equilibrium GAN, arXiv 1703.10717), or one of the GANs it "
                    "is compared with (--model), on the same engine. Defaults marked cuda/cpu depend on "
                    "the device, and those marked with model names on the model. The CUDA ones run the "
                    "paper's model the way expected "
                    "to be fastest at its batch of 16 (not yet measured on a GPU): the compiled step "
                    "replayed as a CUDA graph (launch cost gone), TF32 tensor cores (PyTorch's own "
                    "default for convolutions), channels_last (the layout tensor-core convolutions and "
                    "the Triton conv are built for).")

    def add(flag, help, show_default=True, **kw):
        """One option; its help ends with the models that read it (when not all do) and its
        default, from Options, the models' specs and DEVICE_DEFAULTS."""
        name, readers = flag[2:].replace('-', '_'), model_options()
        if name in readers:
            help += f"; {', '.join(readers[name])} only"
        if show_default:
            help += f" (default: {default_text(name)})"
        p.add_argument(flag, help=help, **kw)

    def switch(flag, help):
        add(flag, help, show_default=False, action="store_const", const=True)

    add("--data", "folder of images, searched recursively (jpg, png, webp, bmp); "
        "default: built-in generated shapes", show_default=False, metavar="DIR")
    add("--out", "parent folder of the numbered run folders", metavar="DIR")
    add("--model", "the objective: " + ", ".join(f"{s.name} ({s.paper})" for s in SPECS.values())
        + "; each with its own paper's defaults", choices=tuple(SPECS))
    add("--arch", "the networks: " + ", ".join(f"{name} ({n.about})" for name, n in ARCHITECTURES.items()),
        choices=tuple(ARCHITECTURES))
    add("--size", f"image side in pixels, one of {IMAGE_SIZES}", type=int)
    add("--filters", "began: the paper's n, conv filters per level; dcgan: channels of the "
        "largest-resolution layer, doubled at each smaller one", type=int)
    add("--latent", "size of z (and BEGAN's h, the size of D's embedding)", type=int)
    add("--channels", "3 for RGB, 1 for grey", type=int, choices=(1, 3))
    switch("--skip", "the paper's skip connections in the decoders")
    add("--vanishing-residual", "the paper's vanishing residuals: each convolution whose output has its "
        "input's shape starts as the identity and blends into the convolution over this many steps "
        "(the paper: 16000; 0: off)", type=int, metavar="STEPS")
    switch("--tanh", "squash the decoders' output with tanh")
    add("--init", "the weights at step 0: glorot (uniform, zero biases), or torch (torch's own "
        "conv initialisation, N(0, 0.02) Linear weights, as common BEGAN code has it)", choices=INITS)
    add("--crop", "square crop before resizing: centre, or CelebA's 128 px face box at "
        "(top 50, left 25)", choices=CROPS)
    add("--flip", "random horizontal flips of the real images (--no-flip: none): on for the built-in "
        "shapes and for photographs, whose mirror images are as likely as they are; turn it off for "
        "digits, text and anything else that is not mirror-symmetric; DF-GAN never flips (captions "
        "say left and right)", action=argparse.BooleanOptionalAction)
    add("--builtin-count", "images in the built-in data set", type=int, metavar="N")
    add("--batch", "images per step and process, real and fake each; under torchrun the "
        "global batch is batch x processes, and lr is not rescaled", type=int)
    add("--steps", "total steps of the run; a resumed run stops at the same step", type=int)
    add("--time-limit", "stop, with the last grids, metrics and a checkpoint, at the first log "
        "interval after this many seconds of training (compilation included, evaluation not)",
        show_default=False, type=float, metavar="SECONDS")
    add("--lr", "learning rate of G, and of D unless --lr-d (Adam; RMSprop for wgan)", type=float)
    add("--lr-d", "D's learning rate (default: --lr)", show_default=False, type=float)
    add("--lr-patience", "halve lr when M_global has not improved for this many steps",
        type=int, metavar="STEPS")
    add("--lr-floor", "lr is never halved below this", type=float)
    add("--g-ema-half-life", "generator averaging: the grids, metrics, sample, evaluate and export use "
        "an exponential moving average of G's weights, whose past counts half as much for every this "
        "many images trained on (0: off, they use G itself); a resume may change it (turned on, the "
        "average starts from G)", type=float, metavar="IMAGES")
    add("--g-ema-rampup", "the averaging's half-life is at most this share of the images seen so far, "
        "so that the early average forgets the initial weights (0: no ramp-up)", type=float, metavar="SHARE")
    add("--gamma", "diversity ratio E[L(G(z))]/E[L(x)], in [0, 1]", type=float)
    add("--lambda-k", "k_t's proportional gain", type=float)
    add("--latent-constraint", "weight of BEGAN-CS's latent constraint: D and G also minimise the "
        "mean squared difference between z and D's encoding of G(z), so that G cannot map many z "
        "to one image (0: off, as in the paper)", type=float, metavar="WEIGHT")
    add("--pull-away", "weight of EBGAN's pull-away term in G's loss: the mean squared cosine "
        "similarity of D's encodings of different fakes in a batch, so that G draws images D tells "
        "apart (0: off, as in the paper)", type=float, metavar="WEIGHT")
    add("--g-loss", "G's loss: nonsaturating, -log D(G(z)) (the GAN paper's advice), or "
        "saturating, log(1 - D(G(z))) (the minimax game itself)", choices=G_LOSSES)
    add("--n-critic", "critic updates per generator update", type=int, metavar="N")
    add("--clip", "critic weights are clipped to [-clip, clip]", type=float)
    add("--gp-weight", "lambda, the weight of the gradient penalty", type=float)
    add("--seed", "seed for weights, z and batches", type=int)
    add("--data-seed", "seed for the built-in shapes, apart from --seed so that runs with "
        "different seeds train on the same data", type=int)
    add("--device", "training device; auto: cuda when present", choices=DEVICES)
    add("--backend", "how the step runs: eager (reference), compile (torch.compile), "
        "cudagraph (eager step captured and replayed), compile-cudagraph (compiled step "
        "captured); the CUDA default is expected fastest, not yet measured on a GPU", choices=BACKENDS)
    add("--kernels", "torch ops, or the fused Triton kernels", choices=KERNELS)
    add("--precision", "fp32, tf32 matmuls/convs (fp32 storage and accumulation), or bf16 "
        "autocast with fp32 master weights", choices=PRECISIONS)
    add("--channels-last", "NHWC memory layout for the convolutions (--no-channels-last: NCHW)",
        action=argparse.BooleanOptionalAction)
    add("--log-every", "steps between progress/stats lines", type=int, metavar="STEPS")
    add("--sample-every", "steps between sample grids", type=int, metavar="STEPS")
    add("--ckpt-every", "steps between checkpoints", type=int, metavar="STEPS")
    add("--keep-ckpts", "checkpoints kept per run, newest first", type=int, metavar="N")
    add("--collective-timeout", "under torchrun: how long a process waits for the others in a "
        "collective before it stops with an error naming the process that vanished; longer than "
        "rank 0's longest pause (a checkpoint write, an evaluation)", type=float, metavar="SECONDS")
    add("--metrics", "sample-quality metrics during training, to metrics.jsonl: names or groups, "
        "comma-separated (python -m began_fast.evaluate --help lists them), or none (default: "
        "classes on the built-in data, with captions for dfgan, and on a folder of class subfolders "
        "DIR/CLASS/*.png; none on another image folder)", show_default=False, metavar="LIST")
    add("--metrics-every", "steps between evaluations", type=int, metavar="STEPS")
    add("--metrics-samples", "samples per evaluation", type=int, metavar="N")
    add("--inception-weights", "a local Inception weights file for fid/kid, where nothing can be "
        "downloaded", show_default=False, metavar="PATH")
    add("--text-encoder", "a text-encoder file: one python -m began_fast.pretrain_text wrote, or "
        "with --vocabulary an AttnGAN/DF-GAN text_encoder*.pth (default: the one pre-trained "
        "on these captions, cached under --cache-dir, pre-trained first if there is none)",
        show_default=False, metavar="PATH")
    add("--vocabulary", "the word-to-index JSON of an AttnGAN text encoder", show_default=False, metavar="PATH")
    add("--resume", "continue from a checkpoint file, or 'auto' for the newest one in --out",
        show_default=False, metavar="PATH|auto")
    add("--tensorboard", "write TensorBoard event files in the run folder (statistics, metrics, grids, "
        "options; tensorboard --logdir runs shows the runs side by side); --no-tensorboard: none "
        "(default: on when the tensorboard package is installed)", show_default=False,
        action=argparse.BooleanOptionalAction)
    add("--cache-dir", "where decoded image folders are cached (default: ~/.cache/began_fast)",
        show_default=False, metavar="DIR")
    add("--decode-workers", "processes that decode an image folder the first time, before its cache "
        "exists (default: the cores this process may use)", show_default=False, type=int, metavar="N")
    add("--data-on-device", "yes: each process's share of the images sits whole on the training device and "
        "batches are drawn there; no: it stays on the host (mapped from the image cache) and each step's "
        "batches are gathered there and copied over ahead of the step; auto: yes when it fits beside the "
        f"run in {RESIDENT_SHARE * 100:.0f} %% of the device's memory (docs/data.md)", choices=DATA_PLACES)
    return p


def parse_args(argv=None) -> tuple[Options, set]:
    """(options with device defaults still unresolved, names the user set explicitly)."""
    namespace = build_parser().parse_args(argv)
    given = {k: v for k, v in vars(namespace).items() if v is not None}
    return dataclasses.replace(Options(), **given), set(given)


def apply_device_defaults(opts: Options, given: set, device_type: str) -> Options:
    """Each option not in `given` takes its model's default, else the device's, for this device."""
    column = "cuda" if device_type == "cuda" else "cpu"
    pick = lambda value: getattr(value, column) if isinstance(value, PerDevice) else value
    table = {**DEVICE_DEFAULTS, **model_defaults().get(opts.model, {})}
    opts = dataclasses.replace(opts, **{k: pick(v) for k, v in table.items() if k not in given})
    if "lr_d" not in given and "lr_d" not in table:
        opts = dataclasses.replace(opts, lr_d=opts.lr)
    return opts


def resumed_options(saved: Options, opts: Options, given: set, device_type: str) -> Options:
    """A resumed run's options: the checkpoint's, but for the run-control options the user gave
    (RUN_CONTROL) and those that follow the device (FOLLOW_THE_DEVICE)."""
    merged = dataclasses.replace(saved, **{k: getattr(opts, k) for k in given & set(RUN_CONTROL)})
    fixed = set(_OPTION_DEFAULTS) - (set(FOLLOW_THE_DEVICE) - given)
    return apply_device_defaults(merged, fixed, device_type)


def metric_names(opts: Options, data=None) -> tuple:
    """The metrics a run evaluates as it trains: --metrics, or by default the class metrics
    where the data's classes are known (offline and fast): the built-in data (DF-GAN's
    caption faithfulness too) and a labelled image folder (data.classes; `data`, the run's
    ImageSet, tells); none on another image folder (FID needs an extra install and
    Inception weights), nor when `data` is not given for a folder. OptionError for an
    unknown name."""
    from began_fast.metrics.names import GROUPS, MetricError, parse_metrics     # light: no torch
    if opts.metrics is None:
        if opts.data is not None:
            return GROUPS["classes"] if data is not None and data.classes else ()
        return GROUPS["classes"] + GROUPS["captions"] if SPECS[opts.model].conditioned else GROUPS["classes"]
    if opts.metrics.strip().lower() == "none":
        return ()
    try:
        return parse_metrics(opts.metrics)
    except MetricError as e:
        raise OptionError(f"--metrics: {e}") from None


def tensorboard_installed() -> bool:
    """Whether the tensorboard package can be imported (found without importing it)."""
    return importlib.util.find_spec("tensorboard") is not None


def wants_tensorboard(opts: Options) -> bool:
    """--tensorboard as given, or by default whether the package is installed."""
    return tensorboard_installed() if opts.tensorboard is None else opts.tensorboard


def validate(opts: Options, device_type: str, given: set = frozenset()) -> None:
    """Raise OptionError with a one-line fix for the first impossible value or combination.
    `given`: the options the user set, so that one the model does not read is refused."""
    readers = model_options()
    foreign = sorted(k for k in given if opts.model not in readers.get(k, (opts.model,)))
    if foreign:
        name = foreign[0]
        raise OptionError(f"--{name.replace('_', '-')} applies to --model {' or '.join(readers[name])} "
                          f"only, not {opts.model}; leave it out")
    metric_names(opts)              # raises for an unknown metric
    spec = SPECS[opts.model]
    archs, why = spec.archs, spec.why_archs
    checks = [
        (opts.arch in archs, f"--model {opts.model} with --arch {opts.arch}: {why}; use --arch {' or '.join(archs)}"),
        (opts.vocabulary is None or opts.text_encoder is not None,
         "--vocabulary goes with --text-encoder (an AttnGAN text encoder and its word-to-index JSON)"),
        *((getattr(opts, name) != value, reason) for name, value, reason in spec.refuse),
        (opts.kernels == "torch" or spec.fused_kernels,
         f"--kernels {opts.kernels}: the fused kernels are BEGAN's (conv+ELU, L1, k_t); use --kernels torch "
         f"with --model {opts.model}"),
        (0 <= opts.data_seed < MAX_SEED, f"--data-seed {opts.data_seed}: must be from 0 to {MAX_SEED - 1}"),
        ("cudagraph" not in opts.backend or device_type == "cuda",
         f"--backend {opts.backend} needs a CUDA device; use --backend eager or compile on the CPU"),
        (opts.size in IMAGE_SIZES, f"--size {opts.size}: must be a power of two from 32 up, one of {IMAGE_SIZES}"),
        (opts.batch >= 1, f"--batch {opts.batch}: must be at least 1"),
        (opts.steps >= 1, f"--steps {opts.steps}: must be at least 1"),
        (1 <= opts.filters <= MAX_WIDTH, f"--filters {opts.filters}: must be from 1 to {MAX_WIDTH}"),
        (1 <= opts.latent <= MAX_WIDTH, f"--latent {opts.latent}: must be from 1 to {MAX_WIDTH}"),
        (opts.builtin_count >= 1, f"--builtin-count {opts.builtin_count}: must be at least 1"),
        (0 <= opts.seed < MAX_SEED, f"--seed {opts.seed}: must be from 0 to {MAX_SEED - 1}"),
        (0.0 <= opts.gamma <= 1.0, f"--gamma {opts.gamma}: must be in [0, 1] (0.3 to 0.7 is usual)"),
        (0.0 <= opts.latent_constraint < math.inf,
         f"--latent-constraint {opts.latent_constraint}: must be finite, 0 (off) or more"),
        (0.0 <= opts.pull_away < math.inf, f"--pull-away {opts.pull_away}: must be finite, 0 (off) or more"),
        (0.0 <= opts.lambda_k < math.inf, f"--lambda-k {opts.lambda_k}: must be finite, 0 or more (the paper uses 0.001)"),
        (0.0 < opts.lr < math.inf, f"--lr {opts.lr}: must be positive and finite (the paper uses 5e-5 to 1e-4)"),
        (0.0 < opts.lr_floor <= opts.lr, f"--lr-floor {opts.lr_floor}: must be positive and at most --lr {opts.lr}"),
        (0.0 <= opts.g_ema_half_life < math.inf,
         f"--g-ema-half-life {opts.g_ema_half_life}: must be a finite number of images, or 0 (off)"),
        (0.0 <= opts.g_ema_rampup <= 1.0, f"--g-ema-rampup {opts.g_ema_rampup}: must be in [0, 1] (0: no ramp-up)"),
        (opts.lr_patience >= 1, f"--lr-patience {opts.lr_patience}: must be at least 1 step"),
        (min(opts.log_every, opts.sample_every, opts.ckpt_every, opts.metrics_every) >= 1,
         "--log-every, --sample-every, --ckpt-every and --metrics-every must be at least 1 step"),
        (opts.vanishing_residual >= 0, f"--vanishing-residual {opts.vanishing_residual}: must be 0 (off) or "
                                       "a number of steps (the paper: 16000)"),
        (opts.keep_ckpts >= 1, f"--keep-ckpts {opts.keep_ckpts}: must be at least 1"),
        (opts.decode_workers is None or 1 <= opts.decode_workers <= MAX_DECODE_WORKERS,
         f"--decode-workers {opts.decode_workers}: must be from 1 to {MAX_DECODE_WORKERS}"),
        (0 < opts.collective_timeout < math.inf,
         f"--collective-timeout {opts.collective_timeout}: must be a positive number of seconds"),
        (opts.time_limit is None or 0 < opts.time_limit < math.inf,
         f"--time-limit {opts.time_limit}: must be a positive number of seconds"),
        (opts.metrics_samples >= 10, f"--metrics-samples {opts.metrics_samples}: give at least 10 "
                                     "(1000 or more for stable class shares)"),
        (opts.n_critic >= 1, f"--n-critic {opts.n_critic}: must be at least 1"),
        (0.0 < opts.clip < math.inf, f"--clip {opts.clip}: must be positive and finite (the paper uses 0.01)"),
        (0.0 <= opts.gp_weight < math.inf, f"--gp-weight {opts.gp_weight}: must be finite, 0 or more (the paper uses 10)"),
        (opts.lr_d is None or 0.0 < opts.lr_d < math.inf, f"--lr-d {opts.lr_d}: must be positive and finite"),
        (not opts.tensorboard or tensorboard_installed(), "--tensorboard: the tensorboard package is not "
         "installed; pip install tensorboard (or began-fast[tensorboard]), or leave --tensorboard out"),
    ]
    for ok, message in checks:
        if not ok:
            raise OptionError(message)
