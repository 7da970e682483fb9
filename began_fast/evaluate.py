"""`python -m began_fast.evaluate`: how good a checkpoint's samples are.

    python -m began_fast.evaluate runs/00000-shapes-32px                 # its newest checkpoint
    python -m began_fast.evaluate runs/00000-shapes-32px/ckpt-00002500.pt --samples 2000
    python -m began_fast.evaluate runs/00001-celeba-64px --metrics fid,kid --inception-weights W.pth

Prints a table (each metric, its unit, the real data's own score beside it) and appends
the result as one JSON line to evaluations.jsonl in the run folder. The metrics are
described in docs/evaluation.md.
"""
import argparse
import datetime
import json
import os
import sys

import torch

from began_fast import checkpoint, kernels
from began_fast.config import DEVICES, OptionError, Options
from began_fast.data import DataError, load_training_data
from began_fast.devices import pick_device
from began_fast.files import append_line
from began_fast.metrics.evaluate import SAMPLES, Evaluator
from began_fast.metrics.names import GROUPS, METRICS, MetricError, parse_metrics, unit
from began_fast.models import generator_from_checkpoint, sample_z
from began_fast.text.store import EncoderFileError

LOG = "evaluations.jsonl"


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m began_fast.evaluate", allow_abbrev=False,
                                description="Score a checkpoint's samples against its training data.")
    p.add_argument("target", metavar="CHECKPOINT_OR_RUN", help="a ckpt-*.pt file, or a run folder (its newest checkpoint)")
    p.add_argument("--metrics", metavar="LIST",
                   help=f"comma-separated names ({', '.join(METRICS)}) or groups ({', '.join(GROUPS)}); "
                        "default: classes for the built-in data and for a folder of class subfolders "
                        "(DIR/CLASS/*.png), inception (fid,kid) for another image folder")
    p.add_argument("--samples", type=int, default=SAMPLES, metavar="N",
                   help=f"samples to draw; the ceiling uses as many real images (default: {SAMPLES})")
    p.add_argument("--batch", type=int, default=500, metavar="N", help="images per forward pass (default: 500)")
    p.add_argument("--seed", type=int, default=0, help="seed for z (default: 0)")
    p.add_argument("--raw", action="store_true", help="score G itself, not its moving average (default: the "
                   "average when the run keeps one, --g-ema-half-life)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="default: auto (cuda when present)")
    p.add_argument("--cache-dir", metavar="DIR", help="where the classifier and real statistics are cached "
                   "(default: the run's --cache-dir, else ~/.cache/began_fast)")
    p.add_argument("--inception-weights", metavar="PATH", help="torch-fidelity's Inception weights file, "
                   "for FID/KID where they cannot be downloaded")
    return p.parse_args(argv)


def resolve_checkpoint(target: str) -> str:
    """A checkpoint file as given, or a run folder's newest checkpoint."""
    if os.path.isdir(target):
        found = checkpoint.in_run(target)
        if not found:
            raise checkpoint.CheckpointError(f"{target}: no ckpt-*.pt in this folder; give a run folder "
                                             "written by began_fast.train, or a checkpoint file")
        return found[-1]
    return target


def sampler(G, latent: int, seed: int, device, prior: str = "uniform", text=None, samples: int = 0):
    """(generate(n) for the evaluator, the attributes each sample's caption names or None):
    z from its own generator, so it is the same z for every checkpoint evaluated with the
    same seed; a DF-GAN's (text: its TextConditioning) with random training captions."""
    gen = torch.Generator().manual_seed(seed)
    if text is None:
        return lambda n: G(sample_z(n, latent, generator=gen, prior=prior).to(device)), None
    inputs, wanted = text.evaluation(sample_z(samples, latent, generator=gen, prior=prior), gen)
    done = 0

    def generate(n):          # the evaluator asks for the samples in chunks, in order
        nonlocal done
        done += n
        return G(inputs[done - n:done].to(device))
    return generate, wanted


def number(value: float) -> str:
    """Four decimals for shares and the like, one for large distances."""
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4f}"


def table(result: dict) -> str:
    rows = [("metric", "samples", "real (ceiling)", "unit", "better")]
    for name, value in result["values"].items():
        m = METRICS[name]
        rows.append((name, number(value), number(result["ceiling"][name]), unit(name, result.get("classes")), m.better))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
        if args.batch < 1:
            raise OptionError(f"--batch {args.batch}: must be at least 1")
        path = resolve_checkpoint(args.target)
        payload = checkpoint.load(path)
        device = pick_device(args.device)
        opts = Options.from_dict(payload["options"])
        data = load_training_data(opts)
        metrics = parse_metrics(args.metrics) if args.metrics else None
        text = None
        if "text" in payload:        # DF-GAN: its own text encoder, and caption faithfulness by default
            from began_fast.text.conditioning import TextConditioning
            text = TextConditioning(data, opts, device, saved=payload["text"])
            data = text.images
            metrics = metrics or (GROUPS["classes"] + GROUPS["captions"] if data.builtin else None)
        evaluator = Evaluator(data, metrics, args.samples, args.cache_dir or opts.cache_dir, device,
                              args.batch, args.inception_weights)
    except (OptionError, DataError, MetricError, checkpoint.CheckpointError, EncoderFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    kernels.use("torch")            # same weights either way; torch runs everywhere
    G, prior = generator_from_checkpoint(payload, device, args.raw)
    sampled = "G" if args.raw or "G_ema" not in payload else "G_ema"     # G_ema: its moving average
    try:
        result = evaluator(*sampler(G, opts.latent, args.seed, device, prior, text, args.samples))
    except MetricError as e:         # e.g. the Inception weights could not be downloaded
        print(f"error: {e}", file=sys.stderr)
        return 2
    step, images = payload["step"], payload.get("images")
    print(f"{path}: step {step}, {args.samples} samples of {sampled} against {data.identity}")
    print(table(result))
    if result["classifier"] and result["classifier"]["class"] is not None:
        which = "shapes classifier" if data.builtin else f"the folder's classifier ({result['classes']} classes)"
        print(f"{which}: {100 * result['classifier']['class']:.1f} % held-out accuracy")
    print(f"evaluation took {result['seconds']:.1f} s; set-up (classifier, real statistics, ceiling; "
          f"cached after first use) {evaluator.setup_seconds:.1f} s")
    record = {"checkpoint": os.path.basename(path), "step": step, "images": images, "seed": args.seed,
              "generator": sampled,
              "data": data.identity, "date": datetime.datetime.now().isoformat(timespec="seconds"), **result}
    log = os.path.join(os.path.dirname(os.path.abspath(path)), LOG)
    append_line(log, json.dumps(record))
    print(f"appended to {log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
