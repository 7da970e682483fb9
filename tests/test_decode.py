"""Decoding an image folder: the pool of processes against one process, a file that kills its
decoder, a folder that changes while it is decoded, a cache that finds no room."""
import errno
import os
import signal
import warnings

import numpy as np
import pytest
from PIL import Image

from began_fast import data, decode
from began_fast.data import DataError, load_image_folder
from tests.helpers import fill_disk

FILES = 24       # enough for two workers (decode.FILES_PER_WORKER each)


def write_photos(folder, count=FILES, seed=None):
    """`count` noise images of assorted sizes and formats (one too small: upscaled), and a
    broken file among them."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        w, h = (20, 24) if i == 3 else rng.integers(34, 90, size=2)
        image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        image.save(os.path.join(folder, f"{i:03d}.{('png', 'jpg', 'webp')[i % 3]}"))
    with open(os.path.join(folder, "010b.jpg"), "wb") as f:
        f.write(b"\xff\xd8 not a jpeg")


def quietly(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_the_pool_decodes_as_one_process_does_byte_for_byte(tmp_path, monkeypatch):
    folder = str(tmp_path / "img")
    write_photos(folder)
    serial = quietly(load_image_folder, folder, 32, cache_dir=str(tmp_path / "one"), workers=1)
    pids, real = tmp_path / "pids", decode.decode_file

    def noting_pid(path, settings):
        with open(pids, "a") as f:
            f.write(f"{os.getpid()}\n")
        return real(path, settings)
    monkeypatch.setattr(decode, "decode_file", noting_pid)
    ticks = []
    counting = lambda items, total: (ticks.append(total) or item for item in items)
    with pytest.warns(UserWarning) as caught:
        pooled = load_image_folder(folder, 32, cache_dir=str(tmp_path / "two"), workers=2, progress=counting)
    assert {str(w.message).split(",")[0] for w in caught} == {f"skipped 1 unreadable file(s) of {FILES + 1}",
                                                              "1 image(s) smaller than 32 px were upscaled; expect blurrier samples"}
    workers = set(pids.read_text().split())
    assert len(workers) == 2 and str(os.getpid()) not in workers       # two other processes decoded
    assert len(ticks) == FILES + 1 and ticks[0] == FILES + 1           # the bar counted every file
    assert serial.images.shape == (FILES, 3, 32, 32) and serial.paths == pooled.paths
    assert np.array_equal(serial.images, pooled.images)
    with open(serial.file, "rb") as a, open(pooled.file, "rb") as b:
        assert a.read() == b.read()                                    # the cache files too


def test_a_file_that_kills_its_decoder_is_skipped_and_counted(tmp_path, monkeypatch):
    folder = str(tmp_path / "img")
    write_photos(folder)
    os.remove(os.path.join(folder, "010b.jpg"))
    reference = quietly(load_image_folder, folder, 32, cache_dir=str(tmp_path / "ref"), workers=1)
    Image.new("RGB", (40, 40)).save(os.path.join(folder, "007-evil.png"))
    real = decode.decode_file

    def dying_on_evil(path, settings):     # what a decoder crash on a crafted file looks like from outside
        if "evil" in path:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(path, settings)
    monkeypatch.setattr(decode, "decode_file", dying_on_evil)
    with pytest.warns(UserWarning, match=rf"skipped 1 unreadable file\(s\) of {FILES + 1}, e\.g\. .*007-evil\.png "
                                         r"\(1 of them crashed the decoding process\)"):
        out = load_image_folder(folder, 32, cache_dir=str(tmp_path / "c"), workers=2)
    assert out.paths == reference.paths and np.array_equal(out.images, reference.images)


def test_a_folder_that_changes_while_decoded_is_counted_and_not_cached(tmp_path):
    folder = tmp_path / "img"
    write_photos(str(folder), count=6)
    victim = folder / "004.jpg"

    def deleting_after_the_first(items, total):
        for number, item in enumerate(items):
            if number == 0:
                victim.unlink()
            yield item
    with pytest.warns(UserWarning) as caught:
        out = load_image_folder(str(folder), 32, cache_dir=str(tmp_path / "c"), workers=1,
                                progress=deleting_after_the_first)
    said = " | ".join(str(w.message) for w in caught)
    assert "skipped 2 unreadable file(s) of 7" in said and "changed while its images were decoded" in said
    assert len(out.images) == 5 and str(victim) not in out.paths and out.file is None
    assert os.listdir(tmp_path / "c") == []              # a cache no run would find is not kept
    again = quietly(load_image_folder, str(folder), 32, cache_dir=str(tmp_path / "c"), workers=1)
    assert np.array_equal(again.images, out.images) and len(os.listdir(tmp_path / "c")) == 1


def no_room_to_reserve(monkeypatch):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "posix_fallocate", full)


@pytest.mark.parametrize("full_disk", [no_room_to_reserve, lambda mp: fill_disk(mp, room=0)])
def test_a_cache_on_a_full_disk_is_a_warning_and_the_images_decode_into_memory(tmp_path, monkeypatch, full_disk):
    folder = str(tmp_path / "img")
    write_photos(folder, count=5)
    reference = quietly(load_image_folder, folder, 32, cache_dir=str(tmp_path / "ref"), workers=1)
    full_disk(monkeypatch)
    with pytest.warns(UserWarning, match=r"could not write the image cache to .*No space left on device.*into memory"):
        out = load_image_folder(folder, 32, cache_dir=str(tmp_path / "c"), workers=2)
    assert np.array_equal(out.images, reference.images) and out.file is None
    assert os.listdir(tmp_path / "c") == []              # no temporary left behind


def test_images_that_fit_neither_disk_nor_memory_are_a_one_line_error(tmp_path, monkeypatch, capsys):
    from began_fast.train import main
    from tests.helpers import TINY
    write_photos(str(tmp_path / "img"), count=5)
    no_room_to_reserve(monkeypatch)
    monkeypatch.setattr(data, "memory_bytes", lambda device: 1000)
    with pytest.raises(DataError, match="fit neither the image cache .* nor the .* GiB of memory"):
        load_image_folder(str(tmp_path / "img"), 32, cache_dir=str(tmp_path / "c"))
    assert main([*TINY, "--data", str(tmp_path / "img"), "--cache-dir", str(tmp_path / "c"),
                 "--out", str(tmp_path / "runs")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: --data {tmp_path / 'img'}: the decoded images need")
