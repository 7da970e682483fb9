"""The last lines a run prints: how good its samples are (the newest evaluation, each metric
beside the real data's own score, the ceiling), and where its grids, plot, checkpoint and
logs are."""
import os
import re

from began_fast import console_log, run_folder
from began_fast.files import LogError, read_jsonl
from began_fast.metrics.names import METRICS, unit
from began_fast.plot import NAME as PLOT


def report(run_dir: str, step: int, grids: tuple, checkpoint: str, tensorboard: bool) -> list:
    """The lines, for a run at `step` whose grids are named `grids` (samples, recon...)."""
    lines = metric_lines(run_dir, step)
    places = [(name, newest_grid(run_dir, name, step)) for name in grids]
    places += [("plot", os.path.join(run_dir, PLOT)), ("checkpoint", checkpoint),
               ("console log", os.path.join(run_dir, console_log.NAME))]
    width = max(len(name) for name, _ in places) + 1
    lines += [f"{name + ':':<{width}} {path}" for name, path in places if path and os.path.exists(path)]
    if tensorboard:
        lines.append(f"{'tensorboard:':<{width}} tensorboard --logdir {os.path.dirname(os.path.normpath(run_dir)) or '.'}")
    return lines


def metric_lines(run_dir: str, step: int) -> list:
    """The newest evaluation up to `step` in metrics.jsonl, one line per metric; none when
    the run has no readable evaluation."""
    path = os.path.join(run_dir, run_folder.METRICS)
    try:
        rows = [r for r in read_jsonl(path) if r.get("step", step + 1) <= step] if os.path.exists(path) else []
    except (OSError, LogError):
        rows = []
    if not rows:
        return []
    row = rows[-1]
    names = [name for name in row if name in METRICS]
    classes, ceiling = row.get("classes"), row.get("ceiling", {})
    width = max(len(name) for name in names)
    lines = [f"metrics at step {row['step']} ({row['images']} images), beside the real data's (the ceiling):"]
    for name in names:
        value, best = row[name], ceiling.get(name)
        count = f" ({round(value * classes)} of {classes})" if "{classes}" in METRICS[name].unit and classes else ""
        real = f"real {best:<8.4g}" if best is not None else " " * 13
        better = METRICS[name].better
        verdict = "the chance level" if better == "reference" else f"{better} is better"
        lines.append(f"  {name:<{width}}  {value:<8.4g}{count:<11} {real} {unit(name, classes)}, {verdict}")
    return lines


def newest_grid(run_dir: str, name: str, step: int) -> str | None:
    """RUN_DIR/NAME-STEP.png of the highest STEP up to `step` (later ones are left from
    before a resume went back), or None."""
    pattern = re.compile(rf"{re.escape(name)}-(\d+)\.png")
    steps = [int(m.group(1)) for m in map(pattern.fullmatch, os.listdir(run_dir)) if m]
    steps = [s for s in steps if s <= step]
    return run_folder.grid_path(run_dir, name, max(steps)) if steps else None
