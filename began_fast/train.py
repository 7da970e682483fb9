"""`python -m began_fast.train`: train a BEGAN (or another GAN, --model) on a folder of images
or on built-in shapes.

    python -m began_fast.train                         # built-in shapes, defaults for the device
    python -m began_fast.train --data ~/celeba --crop celeba --batch 256 \\
        --backend compile-cudagraph --precision bf16 --kernels triton
    python -m began_fast.train --model wgan-gp         # a baseline on the same engine
    python -m began_fast.train --resume auto           # continue the newest run under ./runs
    torchrun --nproc_per_node=8 -m began_fast.train --data ~/celeba   # many GPUs

Each run gets a numbered folder under --out holding options.json, stats.jsonl (one
line per log interval), sample grids from a fixed z (and, for BEGAN, real images beside
D's reconstructions) and checkpoints. Ctrl-C or SIGTERM saves a checkpoint and exits
(under torchrun within about a second, stop_poll.py); after a kill,
--resume auto continues from the newest readable checkpoint, with the logs trimmed
back to it.
"""
import contextlib
import json
import os
import signal
import sys
import time
import warnings

import torch
from tqdm import tqdm

from began_fast import checkpoint, console_log, distributed, kernels, run_folder, tensorboard_log
from began_fast.config import (RUN_CONTROL, OptionError, Options, apply_device_defaults, metric_names, one_line,
                               parse_args, resumed_options, validate, wants_tensorboard)
from began_fast.data import DataError, load_training_data, to_signed_unit
from began_fast.devices import configure_math, memory_bytes, pick_device, rng_state, sync
from began_fast.files import WriteError, append_line, atomic_write
from began_fast.backends import StepRunner
from began_fast.files import LogError
from began_fast.images import quantize, save_grid
from began_fast.metrics.names import MetricError
from began_fast.plot import plot_run
from began_fast.run_report import report
from began_fast.models import build_networks, memory_needed, sample_z
from began_fast.models.hooks import Model
from began_fast.placement import place_data
from began_fast.schedule import PlateauDecay
from began_fast.step import in_training_shapes, new_state, sampling_generator
from began_fast.stop_poll import StopPoll
from began_fast.text.store import EncoderFileError
from began_fast.text.vocabulary import VocabularyError

GRID = 64          # images in a sample grid (8 x 8)
GRID_COLUMNS = 8
RECON_PAIRS = 16   # real images shown beside BEGAN's reconstructions
# Bad input of every kind, each reported as a one-line `error: ...` and exit code 2.
USER_ERRORS = (OptionError, DataError, MetricError, checkpoint.CheckpointError, distributed.DistributedError,
               EncoderFileError, VocabularyError)


def main(argv=None) -> int:
    warnings.formatwarning = lambda message, *args, **kwargs: f"warning: {message}\n"
    if distributed.env_rank() != 0:      # under torchrun only rank 0 warns; errors print anywhere
        warnings.simplefilter("ignore")
    with console_log.capturing(distributed.env_rank() == 0):     # log.txt, once the run folder is known
        return _train(argv)


def _train(argv) -> int:
    try:
        return Trainer(argv).run()
    except USER_ERRORS as e:
        print(one_line(f"error: {e}"), file=sys.stderr)
        return 2
    except WriteError as e:     # before training: options.json (a full disk mid-run: Trainer.run)
        print(one_line(f"error: {e}; free some space or give another --out"), file=sys.stderr)
        return 1
    except RuntimeError as e:   # under torchrun: a collective failed; a vanished peer is a one-line error
        message = distributed.vanished_error(e)
        if message is None:
            raise
        print(one_line(message), file=sys.stderr)
        return 1
    finally:
        run_folder.release_all()
        distributed.shutdown()


def resolve_options(argv) -> tuple[Options, dict | None, str | None]:
    """(options, checkpoint payload or None, checkpoint path or None)."""
    opts, given = parse_args(argv)
    device = pick_device(opts.device)
    path, payload = find_checkpoint(opts.resume, opts.out) if opts.resume is not None else (None, None)
    if payload is None:     # a new run (--resume auto included, when there is nothing to resume)
        opts = apply_device_defaults(opts, given, device.type)
        validate(opts, device.type, given)
        check_fits(opts, device)
        return opts, None, None
    saved = Options.from_dict(payload["options"])
    ignored = sorted(k for k in given - set(RUN_CONTROL) if getattr(opts, k) != getattr(saved, k))
    if ignored:
        warnings.warn("resuming keeps the checkpoint's " + ", ".join(f"--{k.replace('_', '-')}" for k in ignored))
    opts = resumed_options(saved, opts, given, device.type)
    validate(opts, device.type)
    check_fits(opts, device)
    return opts, payload, path


def find_checkpoint(resume: str, out: str) -> tuple[str | None, dict | None]:
    """(path, payload) of the checkpoint --resume names. 'auto': the newest readable one
    under `out`, past any that cannot be read (a truncated copy, a full disk), with a
    warning naming them; (None, None) when `out` holds no checkpoint at all: then the run
    starts afresh. A named file that cannot be read is an error, and so is 'auto' when
    every checkpoint under `out` is unreadable."""
    if resume != "auto":
        try:
            return resume, checkpoint.load(resume)
        except checkpoint.CheckpointError as e:
            raise checkpoint.CheckpointError(f"--resume {e}") from None
    skipped = []
    for path in checkpoint.newest_first(out):
        try:
            payload = checkpoint.load(path)
        except checkpoint.UnreadableCheckpoint as e:
            skipped.append(f"{e.path} ({e.problem})")
            continue
        if skipped:
            warnings.warn(f"--resume auto skipped {len(skipped)} unreadable checkpoint(s): {', '.join(skipped)}; "
                          f"resuming from {path}")
        return path, payload
    if skipped:
        raise checkpoint.CheckpointError(f"--resume auto: no readable checkpoint under {out} (skipped "
                                         f"{', '.join(skipped)}); start a new run without --resume")
    return None, None


def check_fits(opts: Options, device: torch.device) -> None:
    """Refuse, before allocating anything, sizes that cannot fit in the device's memory
    (model.memory_needed is a lower bound, so no run that would fit is refused), and built-in
    data that cannot fit in the host's (they are made there; where they then live,
    placement.py decides)."""
    have, need = memory_bytes(device), memory_needed(opts)
    if have is not None and need > have:
        raise OptionError(f"--size {opts.size}, --filters {opts.filters}, --latent {opts.latent}, --batch {opts.batch}"
                          f": training needs at least {need / 2**30:.3g} GiB, more than the "
                          f"{have / 2**30:.3g} GiB of {device.type}; lower them")
    host, data = memory_bytes(torch.device("cpu")), opts.builtin_count * opts.channels * opts.size ** 2
    if opts.data is None and host is not None and data > host:
        raise OptionError(f"--builtin-count {opts.builtin_count}: the built-in images need {data / 2**30:.3g} GiB "
                          f"of memory, more than the {host / 2**30:.3g} GiB here; lower it (an image folder "
                          "needs room on disk only: its cache is mapped)")


def new_run_dir(out: str, opts: Options) -> str:
    """out/NNNNN-<data>-<size>px, numbered after the highest existing run; with --resume auto
    (nothing to resume, or this would not be called), the folder of the same name a run
    stopped before its first checkpoint left, if there is one. Says which, in one line."""
    data = os.path.basename(os.path.normpath(opts.data)) if opts.data else "shapes"
    name = f"{data}-{opts.size}px"
    try:
        if opts.resume != "auto":
            return run_folder.claim(out, name)
        taken = run_folder.take_over(out, name)
        print(one_line(f"--resume auto: no checkpoint under {out}, so a new run" + (
            f", in {taken}: a run stopped before its first checkpoint left it (its logs emptied)" if taken
            else "")), file=sys.stderr)
        return taken or run_folder.claim(out, name)
    except OSError as e:
        raise OptionError(f"--out {out}: cannot make a run folder there ({e.strerror or e}); "
                          "give a folder you can write to") from None


class Trainer:
    """One run: options, data, networks, step state, run folder, and the loop."""

    def __init__(self, argv=None):
        self.opts, payload, ckpt_path = resolve_options(argv)
        opts = self.opts
        # Under torchrun: join the process group; cuda:LOCAL_RANK with NCCL, or gloo on the CPU.
        self.dist = distributed.setup(pick_device(opts.device), opts.collective_timeout)
        self.device = self.dist.device
        configure_math(opts.precision)
        kernels.use(opts.kernels)                         # the kernel switch, once per run
        self.model = Model(opts.model)
        dataset = self._load_data()
        self.conditioning = self._conditioning(dataset, payload)
        dataset = self.conditioning.images   # DF-GAN on an image folder: the images with captions
        torch.manual_seed(opts.seed)
        G, D = build_networks(opts, self.device)
        distributed.broadcast_module_(self.dist, G, D)     # every rank starts from rank 0's weights
        if self.dist.world > 1:      # then each rank draws its own z and batches
            torch.manual_seed(distributed.rank_seed(opts.seed, self.dist.rank))
        data = place_data(dataset, opts, self.device, self.dist.rank, self.dist.world, self.conditioning.sentences,
                          self.model.real_batches(opts), self._note)
        self.state = new_state(G, D, data, opts, world=self.dist.world)
        self.data_identity = dataset.identity
        self.decay = PlateauDecay(opts.lr, opts.lr_patience, opts.lr_floor)
        # Fixed inputs for the grids, from their own generator so the training stream is untouched.
        fixed = torch.Generator().manual_seed(opts.seed + 1)
        self.fixed_z = sample_z(GRID, opts.latent, generator=fixed, prior=self.model.spec.prior).to(self.device)
        # DF-GAN: one caption per grid row, written beside it; None for the others
        self.fixed_z, self.grid_captions = self.conditioning.grid(self.fixed_z, fixed, GRID_COLUMNS)
        # Evenly spaced, not the first ones: a labelled folder is stored class by class.
        spread = dataset.images[::max(1, len(dataset.images) // RECON_PAIRS)][:RECON_PAIRS]
        self.fixed_real = to_signed_unit(torch.from_numpy(spread).to(self.device))
        self.evaluator, self.metrics_z, self.metrics_wanted = self._new_evaluator(dataset, fixed)
        self.latest_metrics = ""
        self.step, self.elapsed = 0, 0.0
        self.resumed_step, self.resumed_images = 0, 0     # for the global image count
        if payload is None:     # rank 0 makes the folder; the others only need its name
            self.run_dir = distributed.broadcast_object(
                self.dist, new_run_dir(opts.out, opts) if self.dist.main else None)
        else:
            self.run_dir = os.path.dirname(os.path.abspath(ckpt_path))
            self._restore(payload)
            if self.dist.main:     # logs past the checkpoint (a kill) are written again from here
                run_folder.restore(self.run_dir, self.step)
        if self.dist.main:
            with atomic_write(os.path.join(self.run_dir, "options.json"), "w") as f:
                json.dump(opts.to_dict(), f, indent=2)
            command = " ".join(sys.argv[1:] if argv is None else map(str, argv))
            console_log.start(self.run_dir, f"resumed from {ckpt_path} at step {self.step}: {command}"
                              if payload is not None else f"python -m began_fast.train {command}")
        self.tensorboard = tensorboard_log.OFF      # opened by run() on rank 0
        self.bar, self.progress = None, ""         # the progress bar, and its part the log intervals set
        self.stop_signal = None
        self.stop_agreed = False     # under torchrun: every rank has agreed to stop
        self.stop_poll = StopPoll(self.dist)
        self.out_of_time = False     # --time-limit reached (every rank agrees at a log interval)

    def _conditioning(self, dataset, payload):
        """What the model adds to its data (models/hooks.py): for DF-GAN its captions and frozen
        text encoder, the checkpoint's when resuming, else prepared once per machine (the
        others read its cache); the data as they are for the others."""
        together = distributed.local_main_first(self.dist) if self.model.spec.conditioned else contextlib.nullcontext()
        with together:
            return self.model.conditioning(dataset, self.opts, self.device, payload and payload.get("text"),
                                           self._bar, self._note)

    def _bar(self, desc: str, unit: str):
        """A progress bar for set-up work, shown by rank 0 on a terminal only."""
        return lambda it, total: tqdm(it, total=total, desc=desc, unit=unit, leave=False, file=console_log.terminal(),
                                      disable=None if self.dist.main else True)

    def _note(self, line: str) -> None:
        """A line of set-up news, from rank 0."""
        if self.dist.main:
            print(line, file=sys.stderr)

    def _new_evaluator(self, dataset, fixed: torch.Generator):
        """(Evaluator or None, this rank's share of the evaluations' fixed z, and for DF-GAN
        the attributes of every sample's caption). The evaluator lives on rank 0, which
        scores the samples every rank generates; its one-time set-up (the classifier,
        real statistics, the ceiling; cached) happens here."""
        names = metric_names(self.opts, dataset)
        if not names:
            return None, None, None
        share = -(-self.opts.metrics_samples // self.dist.world)
        z = sample_z(self.dist.world * share, self.opts.latent, generator=fixed, prior=self.model.spec.prior)
        z, wanted = self.conditioning.evaluation(z, fixed)
        wanted = wanted and {k: v[:self.opts.metrics_samples] for k, v in wanted.items()}
        evaluator = None
        if self.dist.main:
            from began_fast.metrics.evaluate import Evaluator     # torch-fidelity only if asked for
            evaluator = Evaluator(dataset, names, self.opts.metrics_samples, self.opts.cache_dir, self.device,
                                  inception_weights=self.opts.inception_weights)
            print(f"metrics: {', '.join(names)} every {self.opts.metrics_every} steps on {self.opts.metrics_samples} "
                  f"samples; set-up took {evaluator.setup_seconds:.1f} s", file=sys.stderr)
        return evaluator, z[self.dist.rank * share:(self.dist.rank + 1) * share].to(self.device), wanted

    def _load_data(self):
        if self.opts.data is None:
            return load_training_data(self.opts)
        with distributed.local_main_first(self.dist):    # one decode per machine; the others read its cache
            return load_training_data(self.opts, self._bar("decoding images", "img"))

    # -- checkpoints -------------------------------------------------------------------
    def _images(self) -> int:
        """Images trained on so far, over all ranks: each step takes batch x world."""
        return self.resumed_images + (self.step - self.resumed_step) * self.opts.batch * self.dist.world

    def _restore(self, p: dict) -> None:
        if p["data_identity"] != self.data_identity:
            warnings.warn("the data differ from those the checkpoint was trained on; training goes on with the new data")
        checkpoint.restore(self.state, self.decay, p)
        self._set_lr(self.decay.lr)
        self.step, self.elapsed = p["step"], p["elapsed"]
        self.resumed_step, self.resumed_images = self.step, p["images"]
        if len(set(distributed.all_gather_object(self.dist, self.step))) > 1:
            raise checkpoint.CheckpointError("the processes resumed from different checkpoints; give "
                                             "--resume a path that every machine sees the same")
        checkpoint.restore_random(p, self.dist.rank, self.dist.world, self.device, self.opts.seed)

    def save_checkpoint(self) -> str:
        path = checkpoint.path_for(self.run_dir, self.step)
        self.state.data.rewind()     # streamed on CUDA: the next batches were drawn ahead; saved undrawn
        rng_ranks = distributed.all_gather_object(self.dist, rng_state(self.device))   # every rank's stream
        if self.dist.main:
            self.tensorboard.flush()     # what was logged up to the checkpoint must survive a kill
            payload = checkpoint.build(self.state, self.decay, step=self.step, elapsed=self.elapsed,
                                       images=self._images(), world=self.dist.world,
                                       data_identity=self.data_identity, conditioning=self.conditioning.payload)
            checkpoint.save(path, {**payload, "rng_ranks": rng_ranks})
            checkpoint.prune(self.run_dir, self.opts.keep_ckpts, self.step)
        return path

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> int:
        opts, s = self.opts, self.state
        if self.step >= opts.steps:
            if self.dist.main:
                print(f"the run is already at step {self.step} of --steps {opts.steps}; raise --steps to go on")
            return 0
        runner = StepRunner(opts.backend, s)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        bar = self.bar = tqdm(total=opts.steps, initial=self.step, unit="step", dynamic_ncols=True,
                              disable=not self.dist.main, file=console_log.terminal())
        if self.dist.main:
            print(f"run folder: {self.run_dir}", file=sys.stderr)
            self.tensorboard = tensorboard_log.open_log(
                self.run_dir, opts, self.model.spec.stats, self.evaluator.metrics if self.evaluator else (),
                self._images(), resumed=self.resumed_step > 0)
        try:
            code, message = self._loop(runner, bar)
        except WriteError as e:    # a full disk: what was written before is intact
            code, message = 1, (f"error: {e}; {self._last_checkpoint_text()}. Free some space, then "
                                f"continue with: python -m began_fast.train --resume auto --out {opts.out}")
        finally:
            bar.close()
            self.tensorboard.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.dist.main:
            print(one_line(message), file=sys.stderr)
            if code == 0:     # how good the samples are, and where everything is
                grids = ("samples", *self.model.spec.extra_grids)
                for line in report(self.run_dir, self.step, grids, self._last_checkpoint(), wants_tensorboard(opts)):
                    print(one_line(line), file=sys.stderr)
        distributed.wait_for_all(self.dist)
        return code

    def _on_signal(self, signum, frame):
        self.stop_signal = signal.Signals(signum).name

    def _stopping(self) -> bool:
        """One process stops after the step a signal arrives in. Under torchrun every rank must
        stop at the same step, or the others hang in the next all-reduce: the ranks ask each
        other about once a second (stop_poll.py), so a signal takes effect within about a
        second of training, whatever --log-every is."""
        if self.out_of_time:
            return True
        if self.dist.world == 1:
            return self.stop_signal is not None
        if not self.stop_agreed and self.stop_poll.due(self.step):
            if self.stop_poll.ask(self.step, self.stop_signal is not None):
                self.stop_agreed = True
                self.stop_signal = self.stop_signal or "a signal to another process"
        return self.stop_agreed

    def _loop(self, runner, bar) -> tuple[int, str]:
        """Train until --steps, a signal or a non-finite loss: (exit code, last message)."""
        opts, s = self.opts, self.state
        interval_start, interval_steps = time.perf_counter(), 0
        setup_left = runner.setup_calls
        while self.step < opts.steps and not self._stopping():
            runner()
            self.step += 1
            bar.update(1)
            if setup_left:
                setup_left -= 1
                if not setup_left:   # compile/capture done: time steady state from here
                    sync(self.device)
                    took = time.perf_counter() - interval_start
                    self.elapsed += took
                    if self.dist.main:
                        bar.write(f"{opts.backend}: compile/capture and first {runner.setup_calls} steps took {took:.1f} s")
                    interval_start, interval_steps = time.perf_counter(), 0
            else:
                interval_steps += 1
            # Only at multiples of --log-every, so a resumed run writes the same lines
            # as one that never stopped; a partial interval stays in the checkpoint.
            if self.step % opts.log_every == 0:
                sync(self.device)      # the clock must count the device's work, not its queueing
                now = time.perf_counter()
                if not self._log_interval(bar, interval_steps, now - interval_start):
                    return self._report_nonfinite()
                self.elapsed += now - interval_start
                interval_start, interval_steps = time.perf_counter(), 0
                limit = opts.time_limit
                self.out_of_time = limit is not None and distributed.any_rank(self.dist, self.elapsed >= limit)
            extra_start = time.perf_counter()     # grids, metrics and checkpoints: not training time
            if self.step % opts.sample_every == 0:
                self.save_grids()
            if self.metrics_z is not None and self.step % opts.metrics_every == 0:
                self.evaluate()
            # The last step's checkpoint comes after the loop, after its grids: a run whose
            # final checkpoint exists has written everything.
            if self.step % opts.ckpt_every == 0 and self.step < opts.steps and self._finite():
                self.save_checkpoint()
            interval_start += time.perf_counter() - extra_start
        if not self._finite():
            return self._report_nonfinite()
        if not self.stop_signal:     # grids first: a kill before the checkpoint repeats both
            if self.metrics_z is not None and self.step % opts.metrics_every:
                self.evaluate()      # the run's last word on its samples
            self.save_grids()
        path = self.save_checkpoint()
        launch = "python -m began_fast.train" if self.dist.world == 1 else "the same torchrun command and"
        if self.stop_signal:
            return 0, (f"{self.stop_signal} at step {self.step}: checkpoint saved to {path}; "
                       f"continue with: {launch} --resume {path}")
        if self.out_of_time:
            return 0, f"--time-limit {opts.time_limit:g} s reached: {self.step} steps; checkpoint {path}"
        return 0, f"done: {self.step} steps; checkpoint {path}"

    def _finite(self) -> bool:
        return int(self.state.first_bad_step) < 0

    def _report_nonfinite(self) -> tuple[int, str]:
        return 1, (f"error: the loss became non-finite at step {int(self.state.first_bad_step)}; "
                   f"{self._last_checkpoint_text()}. Try a lower --lr"
                   f"{self.model.spec.nonfinite_hint}.")

    def _last_checkpoint_text(self) -> str:
        """Which checkpoint a failed run leaves to go on from (none past the current step:
        those are left from before a resume went back)."""
        kept = self._last_checkpoint()
        return f"the last good checkpoint, {kept}, is untouched" if kept else "no checkpoint was written"

    def _last_checkpoint(self) -> str | None:
        """The newest checkpoint up to the current step (those past it are left from before a
        resume went back), or None."""
        kept = [p for p in checkpoint.in_run(self.run_dir) if checkpoint.step_of(p) <= self.step]
        return kept[-1] if kept else None

    # -- a log interval: read the stats, check them, decay lr, write a line -------------
    def _log_interval(self, bar, steps: int, seconds: float) -> bool:
        """The interval's stats line and progress; False when a loss became non-finite."""
        means = self._read_interval_means()
        if not self._finite():
            return False
        lr = self._decay_lr(means)
        images_per_s = steps * self.opts.batch * self.dist.world / seconds if steps and seconds > 0 else None
        fields = self.model.log_fields(means, self.state)
        record = {"step": self.step, "images": self._images(), **fields, "lr": lr,
                  "images_per_s": images_per_s, "time": self.elapsed + seconds}
        self._write_stats_line(record)
        self.progress = f"{images_per_s or 0:.0f} img/s {self.model.progress(fields)}"
        self._show_progress()
        return True

    def _show_progress(self) -> None:
        """The bar's figures: the last log interval's and the newest evaluation's."""
        if self.bar is not None:
            self.bar.set_postfix_str(self.progress + self.latest_metrics)

    def _read_interval_means(self) -> dict:
        """The interval's mean of each stats field, read from the device in one copy (the
        loop's only synchronisation), and the buffer zeroed for the next interval."""
        sums = dict(zip(self.model.stats_fields, self.state.stats.tolist()))
        self.state.stats.zero_()
        count = max(sums.pop("count"), 1.0)
        return {name: value / count for name, value in sums.items()}

    def _decay_lr(self, means: dict) -> float:
        """G's lr from here on. Models with a plateau_metric (BEGAN: M_global) feed it to the
        plateau schedule; the others keep their lr, as their papers do."""
        metric = self.model.spec.plateau_metric
        if metric is None:
            return self.opts.lr
        lr = self.decay.update(self.step, means[metric])
        self._set_lr(lr)
        return lr

    def _set_lr(self, lr: float) -> None:
        """G's lr, and D's in the same proportion to --lr, into the device tensors the
        optimisers read, so no step recompiles or re-captures."""
        self.state.lr_g.fill_(lr)
        self.state.lr_d.fill_(lr * self.opts.lr_d / self.opts.lr)

    def _write_stats_line(self, record: dict) -> None:
        if self.dist.main:
            append_line(os.path.join(self.run_dir, run_folder.STATS), json.dumps(record))
            self.tensorboard.stats(record)

    # -- metrics --------------------------------------------------------------------------
    def evaluate(self) -> None:
        """Every rank generates its share of the evaluation's samples (the same z each time),
        rank 0 gathers and scores them and appends a line to metrics.jsonl."""
        s = self.state
        start = time.perf_counter()
        images = quantize(in_training_shapes(s, sampling_generator(s), self.metrics_z, s.opts.batch)).cpu()
        gathered = distributed.all_gather_object(self.dist, images)
        if not self.dist.main:
            return
        values = self.evaluator.score(torch.cat(gathered)[:self.opts.metrics_samples], self.metrics_wanted)
        result = {"values": values, "seconds": time.perf_counter() - start, "ceiling": self.evaluator.ceiling,
                  "classes": self.evaluator.class_count}
        from began_fast.metrics.evaluate import metrics_line
        line = metrics_line(self.step, self._images(), result)
        append_line(os.path.join(self.run_dir, run_folder.METRICS), json.dumps(line))
        self.tensorboard.metrics(line)
        self.latest_metrics = "".join(f" {k}={v:.3g}" for k, v in list(values.items())[:3])
        self._show_progress()     # the bar shows this evaluation, not the one before

    @torch.no_grad()
    def save_grids(self) -> None:
        if not self.dist.main:
            return
        s = self.state
        grids = {"samples": in_training_shapes(s, sampling_generator(s), self.fixed_z, s.opts.batch)}
        grids.update(self.model.extra_grids(s, self.fixed_real))
        for name, images in grids.items():
            labels = self.grid_captions if name == "samples" else None
            image = save_grid(images, run_folder.grid_path(self.run_dir, name, self.step), GRID_COLUMNS, labels)
            self.tensorboard.grid(name, self._images(), image)
        with contextlib.suppress(LogError):     # nothing logged yet (a grid before the first line)
            plot_run(self.run_dir)


if __name__ == "__main__":
    code = main()
    if distributed.env_world() > 1:
        distributed.exit_process(code)
    sys.exit(code)
