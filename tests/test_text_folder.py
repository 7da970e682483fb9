"""Captions for an image folder, through the real loading function: good files, missing,
empty and non-UTF-8 ones, skipped images, and the image cache's record of its sources."""
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from began_fast.data import DataError, load_image_folder
from began_fast.text.prepare import captioned


def write_image(folder, name, colour=(200, 10, 10)):
    os.makedirs(folder, exist_ok=True)
    Image.new("RGB", (40, 40), colour).save(os.path.join(folder, name))


def write_captions(folder, name, text, encoding="utf-8"):
    with open(os.path.join(folder, name), "w", encoding=encoding) as f:
        f.write(text)


def load(folder, tmp_path):
    return load_image_folder(str(folder), 32, cache_dir=str(tmp_path / "cache"))


def test_each_image_gets_its_own_captions(tmp_path):
    folder = tmp_path / "img"
    write_image(folder, "a.png", (250, 0, 0))
    write_image(folder / "sub", "b.jpg", (0, 0, 250))
    write_captions(folder, "a.txt", "A red square.\n\n  a square in red  \n")
    write_captions(folder / "sub", "b.txt", "\ufeffa blue square\r\nblue, all of it")      # BOM and CRLF
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = captioned(load(folder, tmp_path))
    assert data.images.paths == [str(folder / "a.png"), str(folder / "sub" / "b.jpg")]
    assert data.captions == [["A red square.", "a square in red"], ["a blue square", "blue, all of it"]]
    assert data.images.images[0, 0].mean() > 200 and data.images.images[1, 2].mean() > 200
    assert data.classes is None and data.identity.startswith(data.images.identity + ":captions-")


def test_changed_captions_change_the_identity(tmp_path):
    folder = tmp_path / "img"
    write_image(folder, "a.png")
    write_captions(folder, "a.txt", "a red square")
    first = captioned(load(folder, tmp_path)).identity
    write_captions(folder, "a.txt", "a crimson square")
    assert captioned(load(folder, tmp_path)).identity != first


def test_images_without_captions_are_left_out_and_counted(tmp_path):
    folder = tmp_path / "img"
    for name in ("a", "b", "c", "d"):
        write_image(folder, f"{name}.png")
    write_captions(folder, "a.txt", "first")
    write_captions(folder, "c.txt", " \n.,;\n")                  # no word in it: empty
    write_captions(folder, "d.txt", "fourth")
    full = load(folder, tmp_path)
    with pytest.warns(UserWarning, match=r"left out 2 of 4 images from text training: 1 have no caption file "
                                         r"\(e.g. .*b\.png\); 1 have an empty caption file \(e.g. .*c\.txt\)"):
        data = captioned(full)
    assert data.images.paths == [str(folder / "a.png"), str(folder / "d.png")]
    assert data.captions == [["first"], ["fourth"]] and len(data.images.images) == 2
    assert data.images.identity not in (full.identity, data.identity)


def test_no_captions_at_all_is_an_error(tmp_path):
    folder = tmp_path / "img"
    write_image(folder, "a.png")
    with pytest.raises(DataError, match=r"none of the 1 images has captions: .*a\.txt"):
        captioned(load(folder, tmp_path))


def test_non_utf8_captions_are_a_one_line_error(tmp_path):
    folder = tmp_path / "img"
    write_image(folder, "a.png")
    write_captions(folder, "a.txt", "un carré rouge\nsecond", encoding="latin-1")
    with pytest.raises(DataError, match=r"a\.txt: not UTF-8 text \(byte 0xe9 at offset 7\); save the caption "
                                        r"files as UTF-8") as error:
        captioned(load(folder, tmp_path))
    assert "\n" not in str(error.value)


def test_a_skipped_image_keeps_the_others_captions_in_step(tmp_path):
    folder = tmp_path / "img"
    write_image(folder, "a.png", (250, 0, 0))
    (folder / "b.png").write_bytes(b"not a png")
    write_image(folder, "c.png", (0, 0, 250))
    for name, text in (("a", "red"), ("b", "broken"), ("c", "blue")):
        write_captions(folder, f"{name}.txt", text)
    with pytest.warns(UserWarning, match="skipped 1 unreadable file"):
        first = load(folder, tmp_path)
    again = load(folder, tmp_path)                                   # from the cache
    for data in (first, again):
        assert data.paths == [str(folder / "a.png"), str(folder / "c.png")]
        assert captioned(data).captions == [["red"], ["blue"]]
        assert data.images[1, 2].mean() > 200                        # c.png, the blue one


def test_an_image_cache_from_before_paths_were_kept(tmp_path):
    """Caches written before the kept list existed: whole ones are used as they are, ones
    with skipped files (which images are which is unknown) decoded again with a warning."""
    folder = tmp_path / "img"
    write_image(folder, "a.png")
    write_image(folder, "b.png")
    first = load(folder, tmp_path)
    (cache_file,) = (tmp_path / "cache").iterdir()
    images, legacy = np.array(first.images), cache_file.with_suffix(".npz")    # the earlier form: a zip
    cache_file.unlink()
    np.savez(legacy, images=images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load(folder, tmp_path).paths == first.paths
    cache_file.unlink()          # it was rewritten in the mapped form
    np.savez(legacy, images=images[:1])
    with pytest.warns(UserWarning, match=r"unusable \(no list of which of the 2 files its images came from\)"):
        assert load(folder, tmp_path).paths == first.paths
