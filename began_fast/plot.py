"""`python -m began_fast.plot RUN_DIR`: RUN_DIR/plot.png, a run's curves against images seen.

One panel for each statistic of stats.jsonl (BEGAN: L(x), L(G(z)), L_D, k_t, M_global; the
other models their own; and lr), and one per metric from metrics.jsonl when the run has
one (its real-data ceiling dashed).
"""
import argparse
import json
import os
import sys

from began_fast.chart import Series, draw_panels
from began_fast.files import LogError, atomic_write, read_jsonl
from began_fast.metrics.names import METRICS, unit
from began_fast.specs import SPECS, Stat

NAME = "plot.png"
LR = Stat("lr", "lr")        # the engine's, after every model's own statistics


def _every_model_stats() -> tuple:
    """Every model's statistics in panel order, the first model's title where two share a key."""
    keyed = {}
    for spec in SPECS.values():
        for stat in spec.stats:
            keyed.setdefault(stat.key, stat)
    return tuple(keyed.values()) + (LR,)


# Every statistic a model logs, with its title and unit, in panel order; lr last.
STATS = _every_model_stats()


def stats_of(run_dir: str) -> tuple:
    """The panels of the run's model (its options.json), or of every model when the folder
    has no readable options.json naming a known one."""
    try:
        with open(os.path.join(run_dir, "options.json"), encoding="utf-8") as f:
            spec = SPECS.get(json.load(f).get("model"))
    except (OSError, ValueError, AttributeError):
        spec = None
    return STATS if spec is None else spec.stats + (LR,)


def run_series(run_dir: str) -> list:
    """The run's series, in panel order; LogError when stats.jsonl is missing, empty or damaged."""
    stats_path = os.path.join(run_dir, "stats.jsonl")
    if not os.path.isfile(stats_path):
        raise LogError(f"{run_dir}: no stats.jsonl; give a run folder written by began_fast.train")
    stats = read_jsonl(stats_path)
    if not stats:
        raise LogError(f"{stats_path} is empty: the run has not reached its first --log-every step yet")
    logged = set(stats[-1])
    if "loss_fake" in logged:        # BEGAN's L_G is L(G(z)): one panel for both
        logged.discard("loss_g")
    series = [_series(stats, key, title, unit, stats_path) for key, title, unit in stats_of(run_dir)
              if key in logged]
    metrics_path = os.path.join(run_dir, "metrics.jsonl")
    records = read_jsonl(metrics_path) if os.path.isfile(metrics_path) else []
    for name in METRICS:
        if any(name in r for r in records):
            s = _series([r for r in records if name in r], name, name, unit(name, records[-1].get("classes")),
                        metrics_path)
            s.ceiling = records[-1].get("ceiling", {}).get(name)
            series.append(s)
    return series


def _series(records: list, key: str, title: str, unit: str, path: str) -> Series:
    try:
        return Series(title, unit, [r["images"] for r in records], [r.get(key) for r in records])
    except KeyError:
        raise LogError(f"{path}: a line without 'images'; was it written by began_fast.train?") from None


def plot_run(run_dir: str) -> str:
    """Draw the run's panels and write RUN_DIR/plot.png atomically; returns its path."""
    image = draw_panels(run_series(run_dir), "images seen")
    path = os.path.join(run_dir, NAME)
    with atomic_write(path) as f:
        image.save(f, format="PNG")
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m began_fast.plot", allow_abbrev=False,
                                description="Plot a run's losses, k_t, M_global, lr and metrics against images seen.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by began_fast.train")
    args = p.parse_args(argv)
    try:
        print(f"wrote {plot_run(args.run_dir)}")
    except LogError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
