"""A run's TensorBoard event files, in its run folder, beside stats.jsonl and metrics.jsonl.

Every value is logged against images seen, as the plot draws it: the stats line's fields as
`stats/<field>` and each metric as `metrics/<name>` (the same names as the JSON lines; each
tag's description gives its title and unit, a metric's the real data's ceiling), the grids
as `grids/<name>` (as enlarged as their PNGs), and, the first time the folder gets event
files, the run's options as text and as hparams whose metrics are the `metrics/` tags
(TensorBoard shows their last values: the final metrics).

Each session's writer starts with a SessionLog.START at its purge_step: 0 for a new run, and
for a resume just past the checkpoint's image count. TensorBoard's Python readers (the
server's, with --load_fast=false, and EventAccumulator) take every START after a run's
first as a restart and drop the points logged at or past its step, so the points a killed
run logged after its checkpoint go; its Rust reader (the default) drops them when the run
logs those steps again. Either way no series zig-zags (checked with both servers). Only
rank 0 writes, and only when wanted (config.wants_tensorboard): otherwise `OFF` stands in,
and tensorboard is never imported.
"""
import os
import time

import numpy as np

from began_fast.metrics.names import METRICS, unit
from began_fast.plot import LR
from began_fast.run_folder import EVENT_FILE
from began_fast.specs import Stat

# The engine's fields of a stats line, after the model's own.
ENGINE_STATS = (LR, Stat("images_per_s", "training speed", "images/s"), Stat("time", "training time", "s"))
NOT_SERIES = ("step", "images")           # the stats line's x values, not series


class Off:
    """What the trainer calls when TensorBoard is off: nothing happens."""

    def stats(self, record: dict) -> None:
        pass

    def metrics(self, line: dict) -> None:
        pass

    def grid(self, name: str, images: int, image) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


OFF = Off()


def open_log(run_dir: str, opts, stats: tuple, metric_names: tuple, images: int, resumed: bool):
    """The run's TensorBoard log from `images` images on (a TensorBoardLog), or OFF when
    --no-tensorboard or the package is absent. stats: the model's Stat of each stats field."""
    from began_fast.config import wants_tensorboard
    if not wants_tensorboard(opts):
        return OFF
    return TensorBoardLog(run_dir, opts, stats, metric_names, images, resumed)


def event_files(run_dir: str) -> list:
    return sorted(f for f in os.listdir(run_dir) if f.startswith(EVENT_FILE))


class TensorBoardLog(Off):
    def __init__(self, run_dir: str, opts, stats: tuple, metric_names: tuple, images: int, resumed: bool):
        from torch.utils.tensorboard import SummaryWriter
        existing = event_files(run_dir)
        _after_newest(existing)
        self.titles = {s.key: s for s in stats + ENGINE_STATS}
        self.grids = {}      # name -> images seen at its last grid (the last step draws its grids twice)
        self.writer = SummaryWriter(run_dir, purge_step=images + 1 if resumed else 0)
        if not existing:
            self._options(opts, metric_names, images)

    def _options(self, opts, metric_names: tuple, images: int) -> None:
        from torch.utils.tensorboard.summary import hparams
        options = opts.to_dict()
        self.writer.add_text("options", "| option | value |\n| --- | --- |\n" + "\n".join(
            f"| {name} | {value} |" for name, value in options.items()), images)
        writer = self.writer._get_file_writer()
        experiment, start, _ = hparams(options, {f"metrics/{name}": 0.0 for name in metric_names})
        for summary in (experiment, start):
            writer.add_summary(summary, images)

    def stats(self, record: dict) -> None:
        for key, value in record.items():
            if key not in NOT_SERIES and value is not None:
                stat = self.titles.get(key, Stat(key, key))
                self._scalar(f"stats/{key}", value, record["images"], stat.title,
                             f"{stat.title} ({stat.unit})" if stat.unit else stat.title)

    def metrics(self, line: dict) -> None:
        """One line of metrics.jsonl (evaluate.metrics_line)."""
        for name, value in line.items():
            if name in METRICS:
                metric = METRICS[name]
                ceiling = line["ceiling"].get(name)
                about = f"{metric.meaning} ({unit(name, line.get('classes'))}; {metric.better} is better" + (
                    f"; the real data: {ceiling:.4g})" if ceiling is not None else ")")
                self._scalar(f"metrics/{name}", value, line["images"], name, about)

    def grid(self, name: str, images: int, image) -> None:
        """A grid as images.grid_image drew it (a PIL image, grey or RGB)."""
        if self.grids.get(name) == images:
            return
        self.grids[name] = images
        pixels = np.asarray(image)
        self.writer.add_image(f"grids/{name}", pixels, images, dataformats="HW" if pixels.ndim == 2 else "HWC")

    def _scalar(self, tag: str, value: float, images: int, title: str, description: str) -> None:
        from tensorboard.compat.proto.summary_pb2 import DataClass, Summary, SummaryMetadata
        metadata = SummaryMetadata(display_name=title, summary_description=description,
                                   plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"),
                                   data_class=DataClass.DATA_CLASS_SCALAR)
        value = Summary.Value(tag=tag, simple_value=float(value), metadata=metadata)
        self.writer._get_file_writer().add_summary(Summary(value=[value]), images)

    def flush(self) -> None:
        """Before a checkpoint: what was logged up to it must survive a kill."""
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _after_newest(existing: list) -> None:
    """Wait, if need be, until the clock's second is past the newest event file's: TensorBoard
    reads a folder's files in name order, and a name starts with the second it was made in."""
    seconds = [name[len(EVENT_FILE):].split(".")[0] for name in existing]
    newest = max((int(s) for s in seconds if s.isdigit()), default=0)
    while time.time() < newest + 1:
        time.sleep(newest + 1 - time.time())
