"""Image folders, the built-in shapes, and batches drawn on the device."""
import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from began_fast import image_cache
from began_fast.data import (DataError, DeviceImages, builtin_shapes, list_images,
                             load_image_folder)


def write_image(path, size=(40, 30), mode="RGB", colour=(200, 10, 10)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new(mode, size, colour if mode != "L" else 128).save(path)


def test_builtin_shapes_are_deterministic_and_labelled():
    a, b = builtin_shapes(50, 32, seed=3), builtin_shapes(50, 32, seed=3)
    assert a.images.shape == (50, 3, 32, 32) and a.images.dtype == np.uint8
    assert np.array_equal(a.images, b.images) and a.identity == b.identity
    assert not np.array_equal(a.images, builtin_shapes(50, 32, seed=4).images)
    assert set(a.labels) == {"shape", "colour", "radius", "cx", "cy"}
    assert len(np.unique(a.labels["shape"])) == 4          # every shape appears
    assert builtin_shapes(5, 64, channels=1).images.shape == (5, 1, 64, 64)


def test_folder_is_searched_recursively_cropped_resized_and_cached(tmp_path):
    write_image(str(tmp_path / "a.png"))
    write_image(str(tmp_path / "sub" / "b.JPG"), size=(64, 64))
    write_image(str(tmp_path / "sub" / "deeper" / "c.webp"), size=(80, 50), mode="RGBA")
    (tmp_path / "notes.txt").write_text("not an image")
    cache = str(tmp_path / "cache")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = load_image_folder(str(tmp_path), 32, cache_dir=cache)
    assert first.images.shape == (3, 3, 32, 32)
    assert len(os.listdir(cache)) == 1
    assert first.images[0, 0].mean() > 150 and first.images[0, 1].mean() < 40   # red stays red
    again = load_image_folder(str(tmp_path), 32, cache_dir=cache)
    assert np.array_equal(first.images, again.images) and first.identity == again.identity
    grey = load_image_folder(str(tmp_path), 32, channels=1, cache_dir=cache)
    assert grey.images.shape == (3, 1, 32, 32) and grey.identity != first.identity


def test_celeba_crop_takes_the_face_box(tmp_path):
    image = np.zeros((218, 178, 3), dtype=np.uint8)
    image[50:178, 25:153] = 255                     # the 128 px box at (top 50, left 25)
    Image.fromarray(image).save(tmp_path / "face.png")
    out = load_image_folder(str(tmp_path), 32, crop="celeba", cache_dir=str(tmp_path / "c"))
    assert out.images.min() > 200                   # nothing outside the box survives
    centre = load_image_folder(str(tmp_path), 32, crop="center", cache_dir=str(tmp_path / "c"))
    assert centre.images.min() < 50


def test_unreadable_files_are_skipped_and_counted(tmp_path):
    write_image(str(tmp_path / "good.png"), size=(64, 64))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    with pytest.warns(UserWarning, match="skipped 1 unreadable file"):
        out = load_image_folder(str(tmp_path), 32, cache_dir=str(tmp_path / "c"))
    assert out.images.shape[0] == 1


def test_small_images_are_upscaled_with_a_warning(tmp_path):
    write_image(str(tmp_path / "tiny.png"), size=(16, 16))
    with pytest.warns(UserWarning, match="upscaled"):
        out = load_image_folder(str(tmp_path), 32, cache_dir=str(tmp_path / "c"))
    assert out.images.shape == (1, 3, 32, 32)


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "no such folder"),
    (lambda p: p.mkdir(), "no images found"),
    (lambda p: (p.mkdir(), (p / "x.png").write_bytes(b"garbage")), "none of the 1 image files could be read"),
    (lambda p: p.write_text("a file"), "not a folder"),
])
def test_bad_folders_raise_a_data_error(tmp_path, setup, message):
    target = tmp_path / "data"
    setup(target)
    with pytest.raises(DataError, match=message):
        load_image_folder(str(target), 32, cache_dir=str(tmp_path / "c"))


def test_list_images_rejects_a_missing_folder():
    with pytest.raises(DataError):
        list_images("/definitely/not/here")


def test_device_batches_are_scaled_to_minus_one_one_and_flipped():
    images = np.zeros((1, 1, 4, 4), dtype=np.uint8)
    images[..., 0] = 255                            # the left column is white
    data = DeviceImages(images, torch.device("cpu"))
    torch.manual_seed(0)
    batch = data.sample(256)
    assert batch.shape == (256, 1, 4, 4) and batch.dtype == torch.float32
    assert batch.min() == -1 and batch.max() == 1
    left_white = batch[:, 0, 0, 0] == 1
    assert 0.35 < left_white.float().mean() < 0.65  # about half flipped
    assert torch.all(batch[~left_white, 0, 0, 3] == 1)


def test_no_flip_never_flips():
    images = np.zeros((1, 1, 4, 4), dtype=np.uint8)
    images[..., 0] = 255                            # the left column is white
    data = DeviceImages(images, torch.device("cpu"), flip=False)
    torch.manual_seed(0)
    batch = data.sample(256)
    assert torch.all(batch[:, 0, :, 0] == 1) and torch.all(batch[:, 0, :, 3] == -1)


def test_a_decompression_bomb_is_skipped_and_counted(tmp_path, monkeypatch):
    write_image(str(tmp_path / "good.png"), size=(40, 40))
    write_image(str(tmp_path / "bomb.png"), size=(80, 80))
    # Pillow refuses images above twice MAX_IMAGE_PIXELS: lower the limit so that
    # 80 x 80 counts as a bomb and 40 x 40 does not (a real bomb is gigapixels).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40 * 40)
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable file\(s\) of 2, e.g. .*bomb\.png"):
        out = load_image_folder(str(tmp_path), 32, cache_dir=str(tmp_path / "c"))
    assert out.images.shape[0] == 1


@pytest.mark.parametrize("suffix, fraction", [(".png", 0.3), (".png", 0.9), (".jpg", 0.5), (".jpg", 0.95),
                                              (".webp", 0.6), (".bmp", 0.7)])
def test_a_truncated_image_is_skipped_and_counted(tmp_path, suffix, fraction):
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    for name in ("whole", "cut"):
        Image.fromarray(noise).save(tmp_path / f"{name}{suffix}")
    data = (tmp_path / f"cut{suffix}").read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[:int(len(data) * fraction)])    # a copy cut short
    with pytest.warns(UserWarning, match=f"skipped 1 unreadable file.*cut\\{suffix}"):
        out = load_image_folder(str(tmp_path), 32, cache_dir=str(tmp_path / "c"))
    assert out.images.shape[0] == 1


@pytest.mark.parametrize("damage", [
    lambda data: data[:len(data) // 2],                  # truncated
    lambda data: b"\x00" * len(data),                    # zeroed
    lambda data: data[:40] + b"x" * (len(data) - 40),    # corrupt after the header
])
def test_a_damaged_cache_file_is_rebuilt_with_a_warning(tmp_path, damage):
    write_image(str(tmp_path / "img" / "a.png"), size=(40, 40))
    cache = tmp_path / "cache"
    first = np.array(load_image_folder(str(tmp_path / "img"), 32, cache_dir=str(cache)).images)   # not the map
    (cache_file,) = cache.iterdir()
    cache_file.write_bytes(damage(cache_file.read_bytes()))
    with pytest.warns(UserWarning, match="image cache .* is unusable"):
        again = load_image_folder(str(tmp_path / "img"), 32, cache_dir=str(cache))
    assert np.array_equal(first, again.images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # rebuilt: read back with no warning
        assert np.array_equal(load_image_folder(str(tmp_path / "img"), 32, cache_dir=str(cache)).images, first)


@pytest.mark.parametrize("form", ["npy", "npz"])
def test_a_cache_of_the_wrong_shape_is_rebuilt(tmp_path, form):
    write_image(str(tmp_path / "img" / "a.png"), size=(40, 40))
    cache = tmp_path / "cache"
    first = np.array(load_image_folder(str(tmp_path / "img"), 32, cache_dir=str(cache)).images)
    (cache_file,) = cache.iterdir()
    wrong = np.zeros((1, 3, 64, 64), dtype=np.uint8)
    if form == "npy":         # well formed, footer and all, but not what this folder at 32 px gives
        image_cache.save(str(cache_file), wrong, np.array([0]), 1)
    else:                     # the earlier form, with no mapped cache beside it
        cache_file.unlink()
        np.savez(cache_file.with_suffix(".npz"), images=wrong)
    with pytest.warns(UserWarning, match=r"unusable \(uint8 array of shape \(1, 3, 64, 64\)\)"):
        assert np.array_equal(load_image_folder(str(tmp_path / "img"), 32, cache_dir=str(cache)).images, first)


def test_a_cache_of_the_earlier_form_is_read_and_rewritten_mapped(tmp_path):
    for i, colour in enumerate([(200, 10, 10), (10, 200, 10), (10, 10, 200)]):
        write_image(str(tmp_path / "img" / f"{i}.png"), size=(40, 40), colour=colour)
    (tmp_path / "img" / "1b.png").write_bytes(b"not a png")           # listed second to last, skipped
    cache = tmp_path / "cache"
    with pytest.warns(UserWarning, match="skipped 1"):
        decoded = load_image_folder(str(tmp_path / "img"), 32, cache_dir=str(cache))
    (cache_file,) = cache.iterdir()
    images = np.random.default_rng().integers(0, 256, decoded.images.shape, dtype=np.uint8)
    np.savez(cache_file.with_suffix(".npz"), images=images, kept=np.array([0, 1, 3]))   # as the old code wrote it
    cache_file.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        old = load_image_folder(str(tmp_path / "img"), 32, cache_dir=str(cache))
    assert np.array_equal(old.images, images) and old.paths == decoded.paths
    assert [p.name for p in cache.iterdir()] == [cache_file.name]       # rewritten in the mapped form
    again = load_image_folder(str(tmp_path / "img"), 32, cache_dir=str(cache))
    assert isinstance(again.images, np.memmap) and np.array_equal(again.images, images) and again.paths == old.paths


def test_a_cache_that_cannot_be_written_is_a_warning(tmp_path):
    write_image(str(tmp_path / "img" / "a.png"), size=(40, 40))
    (tmp_path / "a-file").write_text("")
    with pytest.warns(UserWarning, match="could not write the image cache"):
        out = load_image_folder(str(tmp_path / "img"), 32, cache_dir=str(tmp_path / "a-file" / "cache"))
    assert out.images.shape == (1, 3, 32, 32)


def test_class_subfolders_give_each_image_its_class(tmp_path):
    for name, count in (("cat", 2), ("dog", 3), ("emu", 1)):
        for i in range(count):
            write_image(str(tmp_path / "img" / name / f"{i}.png"), size=(40, 40), colour=(40 * i, 90, 200))
    (tmp_path / "img" / "dog" / "broken.png").write_bytes(b"not a png")      # skipped: no label for it
    cache = str(tmp_path / "cache")
    with pytest.warns(UserWarning, match="skipped 1"):
        first = load_image_folder(str(tmp_path / "img"), 32, cache_dir=cache)
    assert first.classes == ("cat", "dog", "emu") and not first.builtin
    assert first.labels["class"].tolist() == [0, 0, 1, 1, 1, 2]
    assert [os.path.basename(os.path.dirname(p)) for p in first.paths] == ["cat"] * 2 + ["dog"] * 3 + ["emu"]
    again = load_image_folder(str(tmp_path / "img"), 32, cache_dir=cache)     # from the cache: the same labels
    assert again.classes == first.classes and np.array_equal(again.labels["class"], first.labels["class"])
    part = first.subset([1, 5], "part")
    assert part.labels["class"].tolist() == [0, 2] and part.classes == first.classes and len(part.paths) == 2


@pytest.mark.parametrize("layout", [
    ["a.png", "b.png"],                               # flat
    ["cat/a.png"],                                    # one class measures nothing
    ["cat/a.png", "dog/b.png", "stray.png"],          # an image beside the subfolders
    ["cat/a.png", "dog/b.png", "dog/puppies/c.png"],  # an image deeper down
])
def test_other_layouts_stay_unlabelled_as_before(tmp_path, layout):
    for name in layout:
        write_image(str(tmp_path / "img" / name), size=(40, 40))
    out = load_image_folder(str(tmp_path / "img"), 32, cache_dir=str(tmp_path / "cache"))
    assert out.labels == {} and out.classes == () and not out.builtin
    assert out.images.shape == (len(layout), 3, 32, 32) and len(out.paths) == len(layout)


def test_only_the_builtin_shapes_are_builtin():
    assert builtin_shapes(4, 32).builtin and not builtin_shapes(4, 32).classes
