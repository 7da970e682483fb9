"""A generator on its own: the export format (generator.safetensors beside generator.json),
written from a checkpoint and read back, and `load_generator`, which also reads a
checkpoint or a run folder. Nothing here unpickles: an export is tensors (safetensors) and
JSON, and a checkpoint is read with torch's weights-only unpickler (checkpoint.py).

generator.json says what builds the networks the weights fit (docs/export.md):
    {"format": FORMAT, "model", "arch", "size", "channels", "latent", "filters", "skip",
     "tanh", "vanishing_residual", "prior", "averaged", "step", "images",
     "text": DF-GAN's text encoder: its sizes, vocabulary and captions' identity}
DF-GAN's text-encoder weights sit in the same safetensors file, under "text_encoder.".
"""
import json
import os

import torch

from began_fast import checkpoint, kernels
from began_fast.config import OptionError, Options, validate
from began_fast.files import atomic_write
from began_fast.models import build_networks, generator_from_checkpoint, sample_z
from began_fast.specs import SPECS

FORMAT = "began_fast.generator.v1"
WEIGHTS, DESCRIPTION = "generator.safetensors", "generator.json"
TEXT = "text_encoder."      # the prefix of DF-GAN's text-encoder weights in the safetensors file
# The options the networks are built from, with their JSON types; every other option is
# the training's business (channels_last: an export is laid out plainly).
NETWORK_OPTIONS = {"model": str, "arch": str, "size": int, "channels": int, "latent": int, "filters": int,
                   "skip": bool, "tanh": bool, "vanishing_residual": int}
TEXT_SIZES = ("vocabulary", "embedding", "sentence", "layers")


class GeneratorFileError(ValueError):
    """A generator that cannot be loaded or exported, as a one-line message."""


# ----------------------------------------------------------------------------------------------
# Writing an export.

def export(payload: dict, out: str, raw: bool = False) -> dict:
    """Write a checkpoint payload's generator (its average, unless `raw` or there is none)
    to out/generator.safetensors and out/generator.json, each atomically; the JSON's dict."""
    from safetensors.torch import save
    description = describe(payload, raw)
    weights = {name: t.contiguous() for name, t in payload["G_ema" if description["averaged"] else "G"].items()}
    if "text" in payload:
        text = payload["text"]
        weights.update({TEXT + name: t.contiguous() for name, t in text["text_encoder"].items()})
        description["text"] = {"sizes": {k: text["sizes"][k] for k in TEXT_SIZES},
                               "vocabulary": text["vocabulary"], "captions": text["captions"]}
    os.makedirs(out, exist_ok=True)
    with atomic_write(os.path.join(out, WEIGHTS)) as f:
        f.write(save(weights, metadata={"format": FORMAT}))
    with atomic_write(os.path.join(out, DESCRIPTION), "w") as f:
        json.dump(description, f, indent=2, ensure_ascii=False)
    return description


def describe(payload: dict, raw: bool = False) -> dict:
    """generator.json's content for a checkpoint payload's generator (but DF-GAN's "text")."""
    opts = Options.from_dict(payload["options"])
    return {"format": FORMAT, **{k: getattr(opts, k) for k in NETWORK_OPTIONS}, "prior": SPECS[opts.model].prior,
            "averaged": not raw and "G_ema" in payload, "step": payload["step"], "images": payload.get("images")}


# ----------------------------------------------------------------------------------------------
# Reading one back.

class LoadedGenerator:
    """A generator ready to sample: `generator` (a torch.nn.Module in eval mode, on `device`),
    `latent` and `prior` (its z), `model`, `size`, `channels`, `averaged` (G_ema, or G
    itself), `step`; and sample(n, seed=0, captions=None) -> images [n, channels, size, size]
    in [-1, 1]. A DF-GAN draws from captions: one caption for all n, or a list of n."""

    def __init__(self, generator, description: dict, device, text=None):
        self.generator, self.description, self.device, self.text = generator, description, torch.device(device), text
        for key in ("model", "size", "channels", "latent", "prior", "averaged", "step"):
            setattr(self, key, description.get(key))

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, captions=None) -> torch.Tensor:
        """n images from z drawn from a generator seeded with `seed` (the same z on any device)."""
        z = sample_z(n, self.latent, generator=torch.Generator().manual_seed(seed), prior=self.prior).to(self.device)
        if self.text is not None:
            from began_fast.models.dfgan import generator_input
            if captions is None:
                raise GeneratorFileError("a DF-GAN draws from captions: give captions='a caption' or a list of n")
            captions = [captions] * n if isinstance(captions, str) else list(captions)
            if len(captions) != n:
                raise GeneratorFileError(f"{len(captions)} captions for {n} images: give one, or one per image")
            z = generator_input(z, self.text.encode(captions))
        elif captions is not None:
            raise GeneratorFileError(f"a {self.model} generator draws from z alone; leave captions out")
        with kernels.use("torch"):      # the same weights either way; torch runs everywhere
            return self.generator(z).float()


def load_generator(path: str, device="cpu", raw: bool = False) -> LoadedGenerator:
    """A generator from an export (its folder, or its .safetensors or .json file), a
    checkpoint file, or a run folder (its newest checkpoint). `raw`: a checkpoint's G itself
    rather than its average. GeneratorFileError, in one line, for anything unusable."""
    path = os.fspath(path)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, DESCRIPTION)):
            return _from_export(os.path.join(path, DESCRIPTION), device)
        found = checkpoint.in_run(path)
        if not found:
            raise GeneratorFileError(f"{path}: neither an export ({DESCRIPTION}) nor a run folder (ckpt-*.pt); "
                                     "give one of those, or a checkpoint file")
        path = found[-1]
    if path.endswith((".json", ".safetensors")):
        return _from_export(os.path.splitext(path)[0] + ".json", device)
    try:
        payload = checkpoint.load(path)
    except checkpoint.CheckpointError as e:
        raise GeneratorFileError(str(e)) from None
    G, _ = generator_from_checkpoint(payload, device, raw)
    text = None
    if "text" in payload:
        from began_fast.text.sentence_encoder import SentenceEncoder
        from began_fast.text.store import EncoderFileError, from_payload
        try:
            encoder, _, vocabulary, _ = from_payload(payload["text"], f"{path}'s text encoder")
        except EncoderFileError as e:
            raise GeneratorFileError(str(e)) from None
        text = SentenceEncoder(encoder, vocabulary, device)
    return LoadedGenerator(G.requires_grad_(False), describe(payload, raw), device, text)


def _from_export(description_path: str, device) -> LoadedGenerator:
    weights_path = os.path.splitext(description_path)[0] + ".safetensors"
    description = _read_description(description_path)
    weights = _read_weights(weights_path)
    opts = Options.for_device("cpu", **{k: description[k] for k in NETWORK_OPTIONS}, channels_last=False)
    G, _ = build_networks(opts, device)
    _load_weights(G, {k: v for k, v in weights.items() if not k.startswith(TEXT)}, weights_path, description_path)
    text = None
    if "text" in description:
        text = _text_encoder(description, {k[len(TEXT):]: v for k, v in weights.items() if k.startswith(TEXT)},
                             weights_path, description_path, device)
    return LoadedGenerator(G.eval().requires_grad_(False), description, device, text)


def _read_description(path: str) -> dict:
    """generator.json, checked: every network option there with its type, a model the
    package knows with an architecture and sizes it can build."""
    if not os.path.isfile(path):
        raise GeneratorFileError(f"{path}: no such file; give an export folder that python -m began_fast.export wrote")
    try:
        with open(path, encoding="utf-8") as f:
            description = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GeneratorFileError(f"{path}: not readable JSON ({type(e).__name__}); "
                                 "export the generator again") from None
    if not isinstance(description, dict) or description.get("format") != FORMAT:
        raise GeneratorFileError(f"{path}: not a generator description of this package (format {FORMAT}); "
                                 "export the generator again")
    for key, kind in NETWORK_OPTIONS.items():
        value = description.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise GeneratorFileError(f"{path}: {key!r} must be a JSON {kind.__name__}, not {value!r}; export the "
                                     "generator again")
    model = description["model"]
    if model not in SPECS:
        raise GeneratorFileError(f"{path}: unknown model {model!r} (this package knows {', '.join(SPECS)}); "
                                 "export the generator again, or update began_fast")
    if description.get("prior") != SPECS[model].prior:
        raise GeneratorFileError(f"{path}: prior {description.get('prior')!r}, but {model}'s z is "
                                 f"{SPECS[model].prior!r}; export the generator again")
    if SPECS[model].conditioned != ("text" in description):
        raise GeneratorFileError(f"{path}: a {model} generator {'needs' if SPECS[model].conditioned else 'has no'} "
                                 "text encoder ('text'); export the generator again")
    try:
        validate(Options.for_device("cpu", **{k: description[k] for k in NETWORK_OPTIONS}), "cpu")
    except OptionError as e:
        raise GeneratorFileError(f"{path}: {str(e).replace('--', '')}; export the generator again") from None
    return description


def _read_weights(path: str) -> dict:
    from safetensors.torch import load
    if not os.path.isfile(path):
        raise GeneratorFileError(f"{path}: no such file; an export is {WEIGHTS} beside {DESCRIPTION}")
    try:
        with open(path, "rb") as f:
            return load(f.read())
    except Exception as e:    # safetensors' own error type for a damaged or foreign file, and OSError
        raise GeneratorFileError(f"{path}: not a readable safetensors file ({type(e).__name__}); export the "
                                 "generator again") from None


def _load_weights(module: torch.nn.Module, weights: dict, weights_path: str, description_path: str) -> None:
    """Load `weights` into `module`, or GeneratorFileError naming the first name or shape
    that does not fit the networks the description builds."""
    wanted = module.state_dict()
    problems = [f"{name} is missing" for name in wanted if name not in weights]
    problems += [f"{name} is not in these networks" for name in weights if name not in wanted]
    problems += [f"{name} is {list(weights[name].shape)}, the networks' {list(t.shape)}"
                 for name, t in wanted.items() if name in weights and weights[name].shape != t.shape]
    if problems:
        raise GeneratorFileError(f"{weights_path} does not fit the networks {description_path} describes "
                                 f"({problems[0]}{f', and {len(problems) - 1} more' if len(problems) > 1 else ''}); "
                                 "export the generator again")
    module.load_state_dict(weights)


def _text_encoder(description: dict, weights: dict, weights_path: str, description_path: str, device):
    """DF-GAN's frozen text encoder and vocabulary, from the description and the weights."""
    from began_fast.text.encoders import TextEncoder
    from began_fast.text.sentence_encoder import SentenceEncoder
    from began_fast.text.vocabulary import Vocabulary, VocabularyError
    try:
        text = description["text"]
        sizes = {k: text["sizes"][k] for k in TEXT_SIZES}
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in sizes.values()):
            raise ValueError("sizes")
        encoder = TextEncoder(sizes["vocabulary"], sizes["embedding"], sizes["sentence"], layers=sizes["layers"])
        vocabulary = Vocabulary.from_dict(text["vocabulary"], description_path)
    except (KeyError, TypeError, ValueError, VocabularyError) as e:
        raise GeneratorFileError(f"{description_path}: its text encoder's description is damaged ({type(e).__name__}); "
                                 "export the generator again") from None
    _load_weights(encoder, weights, weights_path, description_path)
    return SentenceEncoder(encoder.eval(), vocabulary, device)
