"""Test-wide set-up, kept short: other test files add their fixtures beside it.

Without a GPU, the Triton kernels run in Triton's interpreter on CPU tensors. Triton reads
TRITON_INTERPRET when a kernel is decorated, so it is set here, before any test imports
began_fast.kernels. BEGAN_FAST_POISON=1 makes every kernel output start as NaN, so an
element a kernel never writes fails the tests (on a GPU too).

Every test starts with the kernel switch at "torch" (the references), so that a test
that selects "triton" cannot leak its choice into the next; the kernel tests select
"triton" themselves.

BEGAN_FAST_OFFLINE=1: no test may download (torch-fidelity's Inception weights above all).
The shapes classifier that the metrics tests share is trained once per session, and so are
scikit-learn's digits, written as a labelled folder, and their classifier.

Under pytest-xdist (`-n 2`, the README's test command) each worker is one process of
several on the machine's cores: it and the processes its tests start (OMP_NUM_THREADS)
get one thread each, as the kill and torchrun tests already asked for their own.
"""
import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"
os.environ.setdefault("BEGAN_FAST_POISON", "1")
os.environ["BEGAN_FAST_OFFLINE"] = "1"
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _kernel_switch_at_torch():
    from began_fast import kernels
    with kernels.use("torch"):
        yield


@pytest.fixture(scope="session")
def metrics_cache(tmp_path_factory):
    """A cache folder holding the 32 px RGB shapes classifier, trained here once."""
    from began_fast.metrics.cache import shapes_classifier
    folder = str(tmp_path_factory.mktemp("metrics-cache"))
    shapes_classifier(32, 3, folder, torch.device("cpu"))
    return folder


@pytest.fixture(scope="session")
def digits_folder(tmp_path_factory):
    """scikit-learn's digits as python -m began_fast.digits writes them, 32 px, once."""
    from began_fast.digits import write_digits
    folder = str(tmp_path_factory.mktemp("digits") / "digits")
    write_digits(folder, 32)
    return folder


@pytest.fixture(scope="session")
def digits(digits_folder, tmp_path_factory):
    """(the digits' ImageSet, grey; a cache folder for the session, where the first test that
    needs their classifier trains it and the others find it)."""
    from began_fast.data import load_image_folder
    cache = str(tmp_path_factory.mktemp("digits-cache"))
    return load_image_folder(digits_folder, 32, 1, cache_dir=cache), cache
