"""Random flags, values and combinations thrown at the command line: every case either
resolves (or runs) or ends in a one-line `error: ...`; nothing raises anything else."""
import contextlib
import io
import os
import tempfile
import warnings

from hypothesis import HealthCheck, event, given, settings, strategies as st

from began_fast.config import build_parser
from began_fast.train import USER_ERRORS, main, resolve_options

V1_CHECKPOINT = os.path.join(os.path.dirname(__file__), "data", "ckpt-v1-tiny.pt")
OPTIONS = [a for a in build_parser()._actions if a.option_strings and a.dest != "help"]

# What a shell can pass: any text but NUL (argv strings end at NUL); lone surrogates only as
# the bytes Python could not decode (U+DC80 to U+DCFF), which os functions encode back.
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
               | st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF), max_size=12)
odd_numbers = st.sampled_from(["1e3", "0x10", " 5 ", "١٢", "1_000", "-0", "nan", "-inf", "1e400", "", "--"])


def any_value(option):
    if option.const is not None:                        # a switch: no value
        return st.just([])
    if option.choices:
        plain = st.sampled_from([str(c) for c in option.choices])
    elif option.type is int:
        plain = st.integers(-3, 5) | st.integers(-2 ** 70, 2 ** 70) | st.sampled_from([2 ** 20, 2 ** 20 + 1, 2 ** 63])
    elif option.type is float:
        plain = st.floats(-1, 1) | st.floats(allow_nan=True, allow_infinity=True)
    else:                                               # paths: --data, --out, --resume, --cache-dir
        plain = st.sampled_from(["auto", "", "/", "/no/such/place", V1_CHECKPOINT, os.path.dirname(V1_CHECKPOINT)])
    plain = plain.map(str)
    return st.one_of(plain, plain, plain, plain, text, odd_numbers).map(lambda v: [v])


@st.composite
def command_lines(draw):
    argv = []
    for _ in range(draw(st.integers(0, 6))):
        choice = draw(st.integers(0, 39))
        if choice == 0:                                  # something that is no flag at all
            argv.append(draw(st.sampled_from(["--no-such-flag", "-x", "--lr=", "--size=32=1", "stray"]) | text))
        else:
            option = draw(st.sampled_from(OPTIONS))
            flag = draw(st.sampled_from(option.option_strings))
            value = draw(any_value(option)) if choice > 1 else []      # now and then the value is missing
            argv += [flag, *value]
    return argv


def outcome(call, argv):
    """'ok', or the kind of error after checking it is one line and of a kind the CLI reports."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = call(argv)
        except SystemExit as e:                          # argparse
            assert e.code == 2, (argv, e.code)
            lines = stderr.getvalue().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), (argv, lines)
            return "argparse error"
        except USER_ERRORS as e:         # main prints these as one line (config.one_line)
            assert str(e), argv
            return type(e).__name__
    if isinstance(result, int) and result:               # main's exit code: the error is printed
        lines = stderr.getvalue().splitlines()
        errors = [line for line in lines if line.startswith("error: ")]
        assert "Traceback" not in stderr.getvalue() and len(errors) == 1, (argv, lines)
        return f"exit {result}"
    return "ok"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines())
def test_random_command_lines_resolve_or_give_a_one_line_error(argv):
    event(outcome(resolve_options, argv))     # --hypothesis-show-statistics: how many of each


# Values small enough to train in a moment; a third of the runs get one value from BAD.
# Left out: --kernels triton (under the Triton interpreter, tests/conftest.py, two steps take
# most of a minute) and --backend compile (compiling takes longer); the test above covers
# their parsing and validation.
GOOD = {
    "--filters": st.integers(1, 3), "--latent": st.integers(1, 6), "--batch": st.integers(1, 3),
    "--builtin-count": st.integers(1, 8), "--steps": st.integers(1, 3),
    "--channels": st.sampled_from([1, 3]), "--log-every": st.integers(1, 3),
    "--sample-every": st.integers(1, 4), "--ckpt-every": st.integers(1, 3), "--keep-ckpts": st.integers(1, 3),
    "--lr": st.floats(1e-5, 10.0), "--lr-floor": st.floats(1e-7, 1e-5), "--lr-patience": st.integers(1, 4),
    "--gamma": st.floats(0, 1), "--lambda-k": st.floats(0, 1), "--seed": st.integers(0, 2 ** 63 - 2),
    "--precision": st.sampled_from(["fp32", "tf32", "bf16"]), "--crop": st.sampled_from(["center", "celeba"]),
    "--device": st.sampled_from(["cpu", "auto"]),
}
ALWAYS = ("--filters", "--latent", "--batch", "--builtin-count", "--steps")   # the CPU defaults train for minutes
BAD = {
    "--filters": st.integers(-2, 0), "--latent": st.just(2 ** 20 + 1), "--batch": st.sampled_from([0, 10 ** 12]),
    "--builtin-count": st.sampled_from([0, 10 ** 13]), "--steps": st.integers(-1, 0), "--log-every": st.just(0),
    "--keep-ckpts": st.integers(-1, 0), "--lr": st.sampled_from([0.0, -1.0, float("inf"), float("nan")]),
    "--lr-floor": st.just(100.0), "--gamma": st.floats(1.0001, 2), "--lambda-k": st.sampled_from([-0.5, float("inf")]),
    "--seed": st.sampled_from([-1, 2 ** 63, 2 ** 64]), "--device": st.just("cuda"), "--backend": st.just("cudagraph"),
}


@st.composite
def small_runs(draw):
    chosen = {name: draw(GOOD[name]) for name in ALWAYS}
    for name in draw(st.sets(st.sampled_from(sorted(set(GOOD) - set(ALWAYS))))):
        chosen[name] = draw(GOOD[name])
    if draw(st.integers(0, 2)) == 0:
        name = draw(st.sampled_from(sorted(BAD)))
        chosen[name] = draw(BAD[name])
    switches = draw(st.sets(st.sampled_from(["--skip", "--tanh", "--channels-last"])))
    return [str(x) for option in chosen.items() for x in option] + sorted(switches)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_runs())
def test_random_small_runs_finish_or_give_a_one_line_error(options):
    with tempfile.TemporaryDirectory() as out:
        # --metrics none: the evaluation has tests of its own, and its first use at a new
        # size or channel count trains a classifier (seconds to a minute).
        event(outcome(main, ["--size", "32", "--metrics", "none", "--out", out, *options]))
