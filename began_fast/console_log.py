"""log.txt in the run folder: the lines a run printed (set-up news, warnings, errors, the
final report), what a user attaches to a bug report.

`capturing()` puts a tee on stdout and stderr for the whole run: what is printed still
reaches the terminal unchanged, and each finished line is kept as a terminal would leave it
(the text after its last carriage return). Lines printed before the run folder is known
wait in memory until `start(run_dir, ...)` appends them to its log.txt, after a line that
marks the start (or the resume). Progress bars draw on `terminal()`, past the tee, so their
redraws never reach the log. Only rank 0 captures; a log that cannot be written is given
up with one line on the terminal, never stopping the run.
"""
import contextlib
import os
import sys
import time

NAME = "log.txt"


class _Tee:
    """A text stream that writes through to `stream` and hands what it wrote to `log`."""

    def __init__(self, stream, log: "ConsoleLog"):
        self.stream, self.log = stream, log

    def write(self, text: str):
        written = self.stream.write(text)
        self.log.feed(self, text)
        return written

    def __getattr__(self, name):        # flush, isatty, encoding, fileno...: the terminal's
        return getattr(self.stream, name)


class ConsoleLog:
    def __init__(self):
        self.waiting = []     # lines printed before the run folder is known
        self.pending = {}     # tee -> its unfinished line
        self.file = None
        self.done = False

    def feed(self, tee: _Tee, text: str) -> None:
        *lines, self.pending[tee] = (self.pending.get(tee, "") + text).split("\n")
        for line in lines:
            self._keep(line)

    def _keep(self, line: str) -> None:
        line = line.rsplit("\r", 1)[-1].rstrip()     # what a terminal shows of a redrawn line
        if not line or self.done:
            return
        if self.file is None:
            self.waiting.append(line)
            return
        try:
            self.file.write(line + "\n")
            self.file.flush()
        except OSError as e:
            self._give_up(e)

    def start(self, run_dir: str, header: str) -> None:
        path = os.path.join(run_dir, NAME)
        try:
            self.file = open(path, "a", encoding="utf-8", errors="backslashreplace")
        except OSError as e:
            self._give_up(e, path)
            return
        waiting, self.waiting = self.waiting, []
        for line in [f"== {time.strftime('%Y-%m-%d %H:%M:%S')} {header}", *waiting]:
            self._keep(line)

    def finish(self) -> None:
        for tee, rest in self.pending.items():
            self._keep(rest)
        self.done = True
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()

    def _give_up(self, error: OSError, path: str | None = None) -> None:
        self.done = True
        where = path or getattr(self.file, "name", NAME)
        _terminal(sys.stderr).write(f"warning: could not write {where} ({error.strerror or error}); "
                                    "the run goes on without its console log\n")


_current: ConsoleLog | None = None


@contextlib.contextmanager
def capturing(enabled: bool = True):
    """Tee stdout and stderr into a ConsoleLog for the block (a no-op when not enabled)."""
    global _current
    if not enabled:
        yield
        return
    log, streams = ConsoleLog(), (sys.stdout, sys.stderr)
    sys.stdout, sys.stderr = _Tee(sys.stdout, log), _Tee(sys.stderr, log)
    _current = log
    try:
        yield
    finally:
        sys.stdout, sys.stderr = streams
        _current = None
        log.finish()


def start(run_dir: str, header: str) -> None:
    """From here on, the captured lines go to RUN_DIR/log.txt (appended), after a line
    `== DATE header`, and with them the lines printed so far."""
    if _current is not None:
        _current.start(run_dir, header)


def terminal():
    """stderr without the tee: for progress bars, whose redraws are no lines to keep."""
    return _terminal(sys.stderr)


def _terminal(stream):
    return stream.stream if isinstance(stream, _Tee) else stream
