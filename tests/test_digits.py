"""`python -m began_fast.digits`: scikit-learn's digits written as a labelled folder."""
import os
import sys

import numpy as np
import pytest
from PIL import Image

from began_fast import digits
from began_fast.data import load_image_folder

# scikit-learn's digits per class, 0 ... 9 (its own description of the set).
COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_every_digit_is_written_in_its_class_folder_at_the_size_asked(digits_folder):
    assert sorted(os.listdir(digits_folder)) == [str(d) for d in range(10)]
    assert [len(os.listdir(os.path.join(digits_folder, str(d)))) for d in range(10)] == COUNTS
    with Image.open(os.path.join(digits_folder, "3", "0003.png")) as im:
        assert im.size == (32, 32) and im.mode == "L"
        assert np.asarray(im).max() > 200 and np.asarray(im).min() < 20      # white strokes on black


def test_the_folder_is_labelled_with_the_ten_digits(digits):
    data, _ = digits
    assert data.classes == tuple(str(d) for d in range(10)) and data.images.shape == (1797, 1, 32, 32)
    assert np.bincount(data.labels["class"]).tolist() == COUNTS


def test_at_eight_px_the_images_are_the_digits_grey_levels_scaled(tmp_path, capsys):
    assert digits.main([str(tmp_path / "d8"), "--size", "8"]) == 0
    assert "wrote 1,797 digits" in capsys.readouterr().out
    images, labels = digits.load_digits()
    with Image.open(tmp_path / "d8" / str(labels[5]) / "0005.png") as im:
        assert np.array_equal(np.asarray(im), images[5])
    assert set(np.unique(images)) == set(np.round(np.arange(17) * 255 / 16).astype(int))    # all 17 levels


def test_a_second_run_over_its_own_folder_rewrites_it(tmp_path):
    assert digits.main([str(tmp_path / "d"), "--size", "8"]) == 0
    assert digits.main([str(tmp_path / "d"), "--size", "16"]) == 0
    data = load_image_folder(str(tmp_path / "d"), 16, 1, cache_dir=str(tmp_path / "cache"))    # no upscaling
    assert len(data.images) == 1797 and not [f for f in os.listdir(tmp_path / "d" / "0") if ".tmp" in f]


def one_line_error(capsys, code, fragment):
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and fragment in err, err
    assert err.startswith("error: ") and "Traceback" not in err


def test_without_scikit_learn_it_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)               # import sklearn now raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    one_line_error(capsys, digits.main([str(tmp_path / "d")]), 'pip install "began-fast[digits]"')
    assert not (tmp_path / "d").exists()


def test_a_folder_holding_other_files_is_refused(tmp_path, capsys):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("mine")
    one_line_error(capsys, digits.main([str(tmp_path / "d")]), "holds other files (notes.txt")
    (tmp_path / "f").write_text("")
    one_line_error(capsys, digits.main([str(tmp_path / "f")]), "not a folder")


@pytest.mark.parametrize("size", ["4", "2000", "big"])
def test_a_bad_size_is_a_one_line_error(tmp_path, capsys, size):
    with pytest.raises(SystemExit) as exit:
        digits.main([str(tmp_path / "d"), "--size", size])
    one_line_error(capsys, exit.value.code, "--size")
