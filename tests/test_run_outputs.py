"""What a run leaves for its user beside the checkpoints: TensorBoard event files (read back
with TensorBoard's own reader), grids large enough to see, log.txt, and the closing report.

One tiny run with metrics on, "killed" after its last logs and before its last checkpoint,
then resumed, serves most tests here."""
import contextlib
import io
import os
import sys

import numpy as np
import pytest
import torch
from tqdm import tqdm

from began_fast import checkpoint, console_log, train
from began_fast.config import tensorboard_installed
from began_fast.files import read_jsonl
from began_fast.images import GAP, MIN_WIDTH, grid_image, grid_scale, quantize
from began_fast.train import main
from tests.helpers import TINY, only_run_dir, read_stats

TENSORBOARD = ["--tensorboard"] if tensorboard_installed() else []
DEFAULT = [arg for arg in TINY if arg != "--no-tensorboard"]     # TensorBoard when installed
RUN = [*TINY, *TENSORBOARD, "--steps", "8", "--log-every", "2", "--sample-every", "4", "--ckpt-every", "4", "--keep-ckpts", "5",
       "--metrics", "modes,kl,fd", "--metrics-every", "4", "--metrics-samples", "20"]


class RecordingBar(tqdm):
    """tqdm, keeping every postfix the trainer sets."""
    postfixes = []

    def set_postfix_str(self, s="", refresh=True):
        RecordingBar.postfixes.append(s)
        super().set_postfix_str(s, refresh)


def printed_by(argv) -> str:
    """What main(argv) prints on stdout and stderr, progress bars included."""
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        assert main([str(a) for a in argv]) == 0
    return text.getvalue()


@pytest.fixture(scope="module")
def resumed(tmp_path_factory, metrics_cache):
    """(run folder, what the first and the resumed session printed, the first one's bar postfixes)."""
    out = tmp_path_factory.mktemp("outputs")
    RecordingBar.postfixes = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train, "tqdm", RecordingBar)
        first = printed_by([*RUN, "--cache-dir", metrics_cache, "--out", out])
    bar = list(RecordingBar.postfixes)
    run = only_run_dir(out)
    os.remove(checkpoint.path_for(run, 8))      # a kill after step 8's logs and grids, before its checkpoint
    second = printed_by(["--resume", "auto", "--out", out])
    return run, first, second, bar


def read_events(run: str, served: bool = False):
    """The run's event files as TensorBoard reads them: its EventAccumulator, or with `served`
    the one its server uses with --load_fast=false."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing import event_accumulator, plugin_event_accumulator
    reader = (plugin_event_accumulator if served else event_accumulator).EventAccumulator
    events = reader(run, size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def test_tensorboard_holds_each_stats_and_metrics_line_once_after_a_kill_and_a_resume(resumed):
    run, *_ = resumed
    events = read_events(run)
    stats, metrics = read_stats(run), read_jsonl(os.path.join(run, "metrics.jsonl"))
    assert [row["step"] for row in stats] == [2, 4, 6, 8] and [row["step"] for row in metrics] == [4, 8]
    expected = {f"stats/{key}": [(row["images"], np.float32(row[key])) for row in stats if row[key] is not None]
                for key in stats[-1] if key not in ("step", "images")}
    expected.update({f"metrics/{name}": [(row["images"], np.float32(row[name])) for row in metrics]
                     for name in ("modes", "kl", "fd")})
    assert sorted(events.Tags()["scalars"]) == sorted(expected)
    for tag, points in expected.items():      # the resumed session's values, each step once, in order
        assert [(e.step, np.float32(e.value)) for e in events.Scalars(tag)] == points, tag
    served = read_events(run, served=True)
    assert [e.step for e in served.Tensors("stats/loss_real")] == [row["images"] for row in stats]
    assert events.SummaryMetadata("stats/loss_real").summary_description == "L(x) (L1 per pixel)"
    assert "share of 24" in events.SummaryMetadata("metrics/modes").summary_description


def test_tensorboard_holds_the_grids_enlarged_and_the_options(resumed):
    run, *_ = resumed
    events = read_events(run)
    for name in ("samples", "recon"):
        grids = events.Images(f"grids/{name}")
        assert [g.step for g in grids] == [4 * 4, 8 * 4]     # images seen; the last step's once
        assert all(g.width >= MIN_WIDTH for g in grids)
    options = events.Tensors("options/text_summary")
    assert [o.step for o in options] == [0] and b"| filters | 4 |" in options[0].tensor_proto.string_val[0]
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
    content = events.PluginTagToContent("hparams")
    experiment = HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert [m.name.tag for m in experiment.metric_infos] == ["metrics/modes", "metrics/kl", "metrics/fd"]
    started = HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert started.hparams["filters"].number_value == 4 and started.hparams["model"].string_value == "began"


def test_the_run_ends_with_its_metrics_beside_the_ceiling_and_where_its_files_are(resumed):
    run, first, _, _ = resumed
    last = read_jsonl(os.path.join(run, "metrics.jsonl"))[-1]
    lines = first.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("done: 8 steps"))
    report = lines[start + 1:]
    assert report[0].startswith("metrics at step 8 (32 images)")
    for name in ("modes", "kl", "fd"):
        (line,) = [line for line in report if line.startswith(f"  {name} ")]
        assert f"{last[name]:.4g}" in line and f"real {last['ceiling'][name]:.4g}" in line
    places = dict(line.split(": ", 1) for line in report if not line.startswith(" ") and ": " in line)
    assert places["samples"].strip() == os.path.join(run, "samples-00000008.png")
    assert places["recon"].strip() == os.path.join(run, "recon-00000008.png")
    assert places["plot"].strip() == os.path.join(run, "plot.png")
    assert places["checkpoint"].strip() == checkpoint.path_for(run, 8)
    assert places["console log"].strip() == os.path.join(run, "log.txt")
    if tensorboard_installed():
        assert places["tensorboard"].strip() == f"tensorboard --logdir {os.path.dirname(run)}"


def test_the_progress_bar_shows_the_newest_evaluation(resumed):
    run, _, _, bar = resumed
    last = read_jsonl(os.path.join(run, "metrics.jsonl"))[-1]
    assert bar[-1].endswith(f" modes={last['modes']:.3g} kl={last['kl']:.3g} fd={last['fd']:.3g}")


def test_log_txt_holds_the_printed_lines_of_both_sessions_without_the_bars(resumed):
    run, first, second, _ = resumed
    with open(os.path.join(run, console_log.NAME), encoding="utf-8") as f:
        log = f.read().splitlines()
    starts = [i for i, line in enumerate(log) if line.startswith("== ")]
    assert len(starts) == 2 and f"python -m began_fast.train {' '.join(RUN)}" in log[starts[0]]
    assert f"resumed from {checkpoint.path_for(run, 4)} at step 4: --resume auto" in log[starts[1]]
    for session, printed in ((log[starts[0] + 1:starts[1]], first), (log[starts[1] + 1:], second)):
        assert session[0] == f"metrics: modes, kl, fd every 4 steps on 20 samples; set-up took " \
                             f"{session[0].split('took ')[1]}"             # a set-up line, before the run folder
        assert f"run folder: {run}" in session
        assert session[-1] == printed.splitlines()[-1] and "done: 8 steps" in "\n".join(session)
        assert not any("%|" in line or "step/s" in line for line in session)    # no progress bar
        assert all(line in printed for line in session)


def test_without_tensorboard_nothing_is_written_and_nothing_imported(tmp_path, capsys):
    """--no-tensorboard, and the package absent (then --tensorboard is a one-line error)."""
    unloaded = {name: sys.modules.pop(name) for name in list(sys.modules)
                if name.split(".")[0] == "tensorboard" or name.startswith("torch.utils.tensorboard")}
    try:
        assert main([*TINY, "--steps", "2", "--no-tensorboard", "--out", str(tmp_path / "off")]) == 0
        assert not [name for name in sys.modules if name.split(".")[0] == "tensorboard"]
        with pytest.MonkeyPatch.context() as patch:
            patch.setitem(sys.modules, "tensorboard", None)       # as if not installed
            assert main([*DEFAULT, "--steps", "2", "--out", str(tmp_path / "absent")]) == 0
            capsys.readouterr()
            assert main([*DEFAULT, "--steps", "2", "--tensorboard", "--out", str(tmp_path / "asked")]) == 2
            error = capsys.readouterr().err
        assert error.startswith("error: --tensorboard: the tensorboard package is not installed; pip install")
        assert error.count("\n") == 1
    finally:
        sys.modules.update(unloaded)
    for name in ("off", "absent"):
        files = os.listdir(only_run_dir(tmp_path / name))
        assert "log.txt" in files and not any(f.startswith("events.out.tfevents") for f in files)
    assert not os.path.exists(tmp_path / "asked")


@pytest.mark.parametrize("channels, size, columns", [(3, 32, 8), (1, 32, 3), (3, 64, 8), (3, 32, 10)])
def test_grids_are_enlarged_by_the_smallest_whole_factor_that_reaches_512_px(channels, size, columns):
    images = torch.rand(columns + 1, channels, size, size) * 2 - 1
    natural = columns * (size + GAP) + GAP
    scale = grid_scale(columns, size)
    assert natural * scale >= MIN_WIDTH and (scale == 1 or natural * (scale - 1) < MIN_WIDTH)
    grid = np.asarray(grid_image(images, columns))
    assert grid.shape[:2] == (2 * (size + GAP) * scale + GAP * scale, natural * scale)
    tiles = quantize(images).permute(0, 2, 3, 1).numpy()
    for index in (0, columns):      # the first tile, and the first of the second row
        row, col = divmod(index, columns)
        top, left = (GAP + row * (size + GAP)) * scale, (GAP + col * (size + GAP)) * scale
        block = grid[top:top + size * scale, left:left + size * scale].reshape(size * scale, size * scale, channels)
        assert np.array_equal(block, tiles[index].repeat(scale, axis=0).repeat(scale, axis=1))   # nearest


def test_the_runs_grid_pngs_are_enlarged(resumed):
    from PIL import Image
    run, *_ = resumed
    for name in ("samples-00000008.png", "recon-00000004.png"):
        with Image.open(os.path.join(run, name)) as grid:
            assert grid.width == grid_scale(8, 32) * (8 * (32 + GAP) + GAP) >= MIN_WIDTH
