"""`python -m began_fast.compare`: train several models on the same data for the same budget
and put their speed and sample quality side by side.

    python -m began_fast.compare --images 200000                  # every model, same images seen
    python -m began_fast.compare --seconds 300 --models began,dcgan   # the same training time
    python -m began_fast.compare --images 200000 -- --size 32         # after --: options for every run
    python -m began_fast.compare --seconds 300 --data ~/digits -- --channels 1   # a folder of class subfolders

Each model trains by `python -m began_fast.train` with its own paper's defaults (the
device's column), the same data and seed, the class metrics evaluated about eight times
along the way, into OUT/runs/<model>. The data: the built-in shapes, or with --data an
image folder of class subfolders (DIR/CLASS/*.png), whose own classifier the metrics use.
The metrics score each run's averaged G where it keeps one (--g-ema-half-life), G with --raw.
An interrupted comparison resumes each unfinished run. Writes OUT/comparison.md (one
table: images/s, every metric's final value beside the real data's ceiling, whether and
when a model collapsed onto a few classes), OUT/comparison.json and OUT/samples-<model>.png
(a copy of the last grid, which train writes enlarged).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

from began_fast import checkpoint
from began_fast.config import MODELS, OneLineParser, OptionError, apply_device_defaults, one_line
from began_fast.config import parse_args as parse_train_args
from began_fast.data import DataError, folder_classes, list_images
from began_fast.files import LogError, atomic_write, read_jsonl
from began_fast.metrics.names import GROUPS, METRICS
from began_fast.specs import SPECS

# The unconditional models; a conditioned one (DF-GAN, which draws from captions) joins when named.
DEFAULT_MODELS = tuple(m for m in MODELS if not SPECS[m].conditioned)

EVALUATIONS = 8          # evaluations per run, so that a collapse shows when it happens
COLLAPSED = 2            # mode coverage at or below this many of the data's classes...
SHAPES = 0.25            # ...while at least this share of the samples are of some class (else
                         # the samples are not shapes or digits yet, which is not a collapse)
SHAPES_CLASSES = 24      # the built-in shapes' (shape, colour) classes: metrics lines written
                         # before they said how many classes there are


def parse_args(argv):
    p = OneLineParser(prog="python -m began_fast.compare", allow_abbrev=False,
                      description="Train several models for the same budget and tabulate speed and sample quality "
                                  "(the class metrics), on the built-in shapes or on an image folder of class "
                                  "subfolders (--data).")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help=f"comma-separated, of {','.join(MODELS)} (default: {','.join(DEFAULT_MODELS)})")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--images", type=int, help="the same number of real images seen by every model")
    budget.add_argument("--seconds", type=float, help="the same seconds of training for every model")
    p.add_argument("--out", default="comparison", help="folder for the runs and the table (default: comparison)")
    p.add_argument("--seed", type=int, default=0, help="seed of every run (default: 0)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: auto")
    p.add_argument("--data", metavar="DIR", help="train on this image folder of class subfolders (DIR/CLASS/*.png, "
                   "e.g. written by python -m began_fast.digits; grey ones want -- --channels 1) instead of the "
                   "built-in shapes; the same as -- --data DIR")
    p.add_argument("--raw", action="store_true", help="judge each model's G itself, not its moving average "
                   "(the same as -- --g-ema-half-life 0: averaging never changes G's training)")
    p.add_argument("train_options", nargs=argparse.REMAINDER,
                   help="after --: options passed to every `python -m began_fast.train` run")
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown or not args.models:
        p.error(f"--models: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(MODELS)}")
    if (args.images or 1) < 1 or (args.seconds or 1) <= 0:
        p.error("--images and --seconds must be positive")
    args.train_options = [a for a in args.train_options if a != "--"]
    if args.raw:
        args.train_options += ["--g-ema-half-life", "0"]
    if args.data is not None:
        if any(a == "--data" or a.startswith("--data=") for a in args.train_options):
            p.error("--data is given twice, before and after --; give it once")
        args.train_options += ["--data", args.data]
    return args


def check_classes(train_options: list) -> None:
    """Refuse, before training anything, an image folder the class metrics cannot measure."""
    opts, _ = parse_train_args(train_options)
    if opts.data is not None and folder_classes(opts.data, list_images(opts.data)) is None:
        raise DataError(f"--data {opts.data}: compare judges the models by the class metrics, which need a folder "
                        "of class subfolders (DIR/CLASS/*.png, at least 2, nothing beside them); this one is not")


def batch_of(model: str, train_options: list, device_type: str) -> int:
    """The batch a model's run will use: --batch among the shared options, else its default."""
    opts, given = parse_train_args(["--model", model, *train_options])
    return apply_device_defaults(opts, given, device_type).batch


def run_model(model: str, args, device_type: str) -> str:
    """Train (or resume) one model's run; its run folder."""
    parent = os.path.join(args.out, "runs", model)
    if args.images:
        steps = math.ceil(args.images / batch_of(model, args.train_options, device_type))
        every = max(1, steps // EVALUATIONS)
        budget = ["--steps", str(steps)]
        cadence = ["--metrics-every", str(every), "--sample-every", str(every)]
    else:          # steps unknown ahead: the device's evaluation cadence
        budget, cadence = ["--steps", str(10 ** 9), "--time-limit", str(args.seconds)], []
    if os.path.isdir(parent) and checkpoint.newest_first(parent):   # an interrupted comparison: go on
        cmd = ["--resume", "auto", "--out", parent, *budget]
    else:
        cmd = ["--model", model, "--out", parent, "--seed", str(args.seed), "--device", args.device,
               "--metrics", "classes", *cadence, *budget, *args.train_options]
    print(f"== {model}: python -m began_fast.train {' '.join(cmd)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "began_fast.train", *cmd])
    if result.returncode != 0:
        raise OptionError(f"{model}'s run failed (exit {result.returncode}; its error is above); fix it, then run "
                          "the same compare command again to go on")
    print(f"== {model}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    (run,) = [os.path.join(parent, d) for d in os.listdir(parent) if os.path.isdir(os.path.join(parent, d))]
    return run


def collapsed(row: dict) -> bool:
    """Samples of some class, but of two of the data's classes or fewer."""
    return row["modes"] <= COLLAPSED / row.get("classes", SHAPES_CLASSES) + 1e-9 and row["recognised"] >= SHAPES


def collapse(rows: list) -> str:
    """When the model's samples were of two classes or fewer: 'no', 'from step S' (and
    never more after), or 'at step S, recovered by T'."""
    low = [r for r in rows if collapsed(r)]
    if not low:
        return "no"
    first = low[0]["step"]
    recovered = [r for r in rows if r["step"] > first and not collapsed(r)]
    if not recovered:
        return f"from step {first:,}"
    return f"at step {first:,}, recovered by {recovered[0]['step']:,}"


def summary(model: str, run: str) -> dict:
    stats = read_jsonl(os.path.join(run, "stats.jsonl"))
    metrics = read_jsonl(os.path.join(run, "metrics.jsonl"))
    if not stats or not metrics:
        raise LogError(f"{run}: no stats or metrics logged; was the budget too small for one log interval?")
    speeds = sorted(r["images_per_s"] for r in stats if r.get("images_per_s"))
    last = metrics[-1]
    return {"model": model, "run": run, "steps": stats[-1]["step"], "images": stats[-1]["images"],
            "seconds": stats[-1]["time"], "images_per_s": speeds[len(speeds) // 2] if speeds else None,
            "metrics": {name: last[name] for name in GROUPS["classes"] if name in last},
            "ceiling": last.get("ceiling", {}), "classes": last.get("classes", SHAPES_CLASSES),
            "collapse": collapse(metrics)}


def table(rows: list) -> str:
    names = [n for n in GROUPS["classes"] if n in rows[0]["metrics"]]
    head = ["model", "images", "steps", "training", "img/s", *names, "collapsed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    fmt = lambda v: f"{v:.1f}" if abs(v) >= 100 else f"{v:.3f}"
    for r in rows:
        lines.append(f"| {r['model']} | {r['images']:,} | {r['steps']:,} | {r['seconds']:.0f} s | "
                     f"{r['images_per_s'] or 0:,.0f} | " + " | ".join(fmt(r["metrics"][n]) for n in names)
                     + f" | {r['collapse']} |")
    ceiling = rows[0]["ceiling"]
    lines.append("| real data (ceiling) | | | | | " + " | ".join(fmt(ceiling[n]) for n in names) + " | |")
    better = ", ".join(f"{n} {METRICS[n].better}" for n in names)
    return "\n".join(lines) + (f"\n\nBetter: {better}. Collapsed: at least {SHAPES:.0%} of the samples are of "
                                f"some class, of {COLLAPSED} of the {rows[0]['classes']} classes or fewer.")


def last_grid(run: str, out: str, model: str) -> str | None:
    """A copy of the run's last sample grid as OUT/samples-<model>.png (train writes grids
    enlarged for reading: images.grid_scale)."""
    grids = sorted(f for f in os.listdir(run) if f.startswith("samples-") and f.endswith(".png"))
    if not grids:
        return None
    with open(os.path.join(run, grids[-1]), "rb") as f:
        data = f.read()
    path = os.path.join(out, f"samples-{model}.png")
    with atomic_write(path) as f:
        f.write(data)
    return path


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import torch
        device_type = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
        check_classes(args.train_options)
        os.makedirs(args.out, exist_ok=True)
        rows = []
        for model in args.models:
            run = run_model(model, args, device_type)
            rows.append(summary(model, run))
            last_grid(run, args.out, model)
        text = table(rows)
        with atomic_write(os.path.join(args.out, "comparison.md"), "w") as f:
            f.write(text + "\n")
        with atomic_write(os.path.join(args.out, "comparison.json"), "w") as f:
            json.dump(rows, f, indent=2)
    except (OptionError, DataError, LogError, OSError) as e:
        print(one_line(f"error: {e}"), file=sys.stderr)
        return 2
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
