"""Atomic writes: a failed write (a full disk) leaves the old file and no temporary behind."""
import errno
import os

import pytest

from began_fast.files import WriteError, append_line, atomic_write, is_temporary
from tests.helpers import fill_disk


def test_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "grid.png"
    path.write_bytes(b"old contents")
    fill_disk(monkeypatch, room=4)
    with pytest.raises(WriteError, match=r"could not write .*grid\.png \(No space left on device\)") as caught:
        with atomic_write(str(path)) as f:
            f.write(b"new contents, too long for the disk")
    assert caught.value.errno == errno.ENOSPC and "\n" not in str(caught.value)
    assert path.read_bytes() == b"old contents" and os.listdir(tmp_path) == ["grid.png"]


def test_a_full_disk_on_append_is_a_write_error(tmp_path, monkeypatch):
    log = tmp_path / "stats.jsonl"
    append_line(str(log), '{"step": 1}')
    fill_disk(monkeypatch, room=3)
    with pytest.raises(WriteError, match="stats.jsonl"):
        append_line(str(log), '{"step": 2}')


def test_atomic_writes_temporary_files_are_recognised(tmp_path):
    with atomic_write(str(tmp_path / "options.json"), "w") as f:
        f.write("{}")
        (name,) = os.listdir(tmp_path)
        assert is_temporary(name)
    assert not is_temporary("options.json") and not is_temporary("ckpt-00000005.pt")
    assert not is_temporary("samples-00000010.png")
