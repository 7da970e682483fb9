"""`python -m began_fast.plot RUN_DIR`: RUN_DIR/plot.png, a run's curves against images seen.

One panel for each statistic of stats.jsonl (BEGAN: L(x), L(G(z)), L_D, k_t, M_global; the
other models their own; and lr), and one per metric from metrics.jsonl when the run has
one (its real-data ceiling dashed).
"""
import argparse
import os
import sys

from began_fast.chart import Series, draw_panels
from began_fast.files import LogError, atomic_write, read_jsonl
from began_fast.metrics.names import METRICS, unit

NAME = "plot.png"
# Every statistic a model logs, with its title and unit, in panel order; lr last.
STATS = (("loss_real", "L(x)", "L1 per pixel"), ("loss_fake", "L(G(z))", "L1 per pixel"),
         ("loss_d", "L_D", ""), ("loss_g", "L_G", ""), ("k", "k_t", ""), ("m_global", "M_global", "L1 per pixel"),
         ("latent_error", "C = mean (z - Enc(G(z)))^2", "z units^2"),
         ("d_real", "D(x)", "probability"), ("d_fake", "D(G(z))", "probability"),
         ("wasserstein", "Wasserstein estimate", "critic units"), ("penalty", "gradient penalty", ""),
         ("lr", "lr", ""))


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
    series = [_series(stats, key, title, unit, stats_path) for key, title, unit in STATS if key in logged]
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
