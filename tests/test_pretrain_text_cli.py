"""`python -m began_fast.pretrain_text` through the real command line."""
import os

import pytest
from PIL import Image

from began_fast.text import store
from tests.helpers import run_cli
from tests.test_cli import assert_clean_error

QUICK = ["--builtin-count", "60", "--epochs", "1", "--batch", "16", "--device", "cpu"]


def test_pretrain_caches_the_encoders_and_writes_a_copy(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "damsm.pt"
    result = run_cli("began_fast.pretrain_text", *QUICK, "--cache-dir", cache, "--out", out)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("pre-training on 60 images with 300 captions (builtin-shapes:60:32:3:0:captions5")
    assert lines[1].startswith("epoch 1/1: DAMSM loss ") and " nats (" in lines[1]
    assert "held-out matching: " in lines[2] and "% of 6 images rank their own caption first among 6" in lines[2]
    assert "among captions of other classes" in lines[2] and lines[2].endswith(" s")
    (cached,) = (cache / "text").iterdir()
    assert lines[3] == f"saved to {cached} and {out}"
    for path in (cached, out):
        text, image, vocabulary, rest = store.load(str(path))
        assert image is not None and "ring" in vocabulary.words and rest["report"]["held_out_images"] == 6


def write_image(folder, name, colour=(10, 200, 10)):
    os.makedirs(folder, exist_ok=True)
    Image.new("RGB", (32, 32), colour).save(folder / name)


def test_pretrain_on_a_folder_with_one_caption_file_missing(tmp_path):
    folder = tmp_path / "img"
    for i in range(25):
        red = i % 2 == 0
        write_image(folder, f"{i:02d}.png", (220, 20, 20) if red else (20, 20, 220))
        if i:
            (folder / f"{i:02d}.txt").write_text(f"a {'red' if red else 'blue'} square\nall {'red' if red else 'blue'}\n")
    result = run_cli("began_fast.pretrain_text", *QUICK, "--data", folder, "--size", "32", "--cache-dir", tmp_path / "c")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == (f"warning: left out 1 of 25 images from text training: 1 have no caption file "
                                     f"(e.g. {folder / '00.png'})")
    assert "pre-training on 24 images with 48 captions" in result.stdout
    assert "% of 2 images rank their own caption first among 2 (chance 50.0 %)" in result.stdout


def no_captions(tmp_path):
    for i in range(3):
        write_image(tmp_path / "img", f"{i}.png")
    return tmp_path / "img"


def latin1_captions(tmp_path):
    folder = no_captions(tmp_path)
    (folder / "0.txt").write_bytes("un carré vert".encode("latin-1"))
    return folder


def too_few(tmp_path):
    folder = no_captions(tmp_path)
    for i in range(3):
        (folder / f"{i}.txt").write_text("a green square")
    return folder


@pytest.mark.parametrize("args, fragment", [
    (["--data", "/no/such/folder"], "no such folder"),
    (["--data", no_captions], "none of the 3 images has captions"),
    (["--data", latin1_captions], "0.txt: not UTF-8 text"),
    (["--data", too_few], "3 captioned image(s): too few to pre-train"),
    (["--epochs", "0"], "--epochs 0: must be at least 1"),
    (["--batch", "1"], "--batch 1: must be at least 2"),
    (["--lr", "nan"], "--lr nan: must be positive and finite"),
    (["--size", "48"], "--size 48"),
    (["--epochs", "two"], "invalid int value"),
])
def test_bad_input_gives_one_line_error(tmp_path, args, fragment):
    args = [a(tmp_path) if callable(a) else a for a in args]
    result = run_cli("began_fast.pretrain_text", *QUICK, "--cache-dir", tmp_path / "cache", *args)
    assert_clean_error(result, fragment)
    assert not (tmp_path / "cache" / "text").exists()
