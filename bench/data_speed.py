"""The data path's speed, for a quiet machine: (a) decoding an image folder of JPEG photos
into its cache, in images per second, by 1 and by 2 (--workers) processes; (b) training
images per second with the data streamed from the host (--data-on-device no) against
resident on the device (yes), on that folder's mapped cache at the CPU's default sizes,
alternating the two.

    python bench/data_speed.py                   # a few minutes on 2 cores
    python bench/data_speed.py --photos 100 --steps 60 --repeats 1    # a quick look

The photos are random crops of scikit-learn's two sample photographs (china.jpg,
flower.jpg, shipped with the package: pip install -e ".[dev]"), rescaled to about
--photo-size px and saved as JPEG; the same --seed gives the same folder.
"""
import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np

from began_fast.data import load_image_folder
from began_fast.train import main as train


def write_photos(folder: str, count: int, side: int, seed: int) -> None:
    """`count` JPEGs of about side x side px: random crops of the sample photos, rescaled."""
    from PIL import Image
    from sklearn.datasets import load_sample_images
    photos = [Image.fromarray(image) for image in load_sample_images().images]
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for n in range(count):
        photo = photos[n % len(photos)]
        w, h = photo.size
        crop = int(rng.integers(min(w, h) // 3, min(w, h)))
        left, top = int(rng.integers(0, w - crop + 1)), int(rng.integers(0, h - crop + 1))
        out = int(side * rng.uniform(0.8, 1.25))
        aspect = rng.uniform(0.75, 1.33)
        image = photo.crop((left, top, left + crop, top + crop)).resize((out, int(out * aspect)), Image.LANCZOS)
        image.save(os.path.join(folder, f"{n:05d}.jpg"), quality=90)


def decode_rate(folder: str, size: int, workers: int, cache_dir: str) -> float:
    """Images per second decoding `folder` into an empty cache with `workers` processes."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_image_folder(folder, size, cache_dir=cache_dir, workers=workers)
    return len(data.images) / (time.perf_counter() - start)


def training_rate(folder: str, cache_dir: str, out: str, place: str, steps: int) -> float:
    """Steady training images per second (the median of the log intervals after the first)."""
    args = ["--data", folder, "--cache-dir", cache_dir, "--device", "cpu", "--metrics", "none",
            "--steps", str(steps), "--log-every", str(max(1, steps // 10)), "--sample-every", str(10 * steps),
            "--ckpt-every", str(10 * steps), "--data-on-device", place, "--out", out]
    said = io.StringIO()
    with contextlib.redirect_stderr(said), contextlib.redirect_stdout(said):    # no progress bars
        code = train(args)
    if code != 0:
        raise SystemExit(f"{said.getvalue()}\nerror: training with --data-on-device {place} failed (above)")
    (run,) = os.listdir(out)
    with open(os.path.join(out, run, "stats.jsonl")) as f:
        rates = [json.loads(line)["images_per_s"] for line in f][1:]
    return statistics.median(r for r in rates if r)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", type=int, default=400, help="JPEGs in the folder (default: 400)")
    p.add_argument("--photo-size", type=int, default=320, help="their side, about, in px (default: 320)")
    p.add_argument("--size", type=int, default=64, help="the side they are decoded to, in px (default: 64)")
    p.add_argument("--workers", default="1,2", help="decoding processes to time, comma-separated (default: 1,2)")
    p.add_argument("--steps", type=int, default=300, help="training steps per run (default: 300)")
    p.add_argument("--repeats", type=int, default=2, help="runs of each placement, alternating (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the photo crops (default: 0)")
    p.add_argument("--dir", help="work folder (default: a temporary one, deleted after)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.dir or scratch
        folder = os.path.join(root, "photos")
        write_photos(folder, args.photos, args.photo_size, args.seed)
        print(f"{args.photos} JPEG photos of about {args.photo_size} px in {folder}")
        for workers in map(int, args.workers.split(",")):
            rate = decode_rate(folder, args.size, workers, os.path.join(root, f"cache-decode-{workers}"))
            print(f"decode to {args.size} px, {workers} process(es): {rate:.0f} images/s")
        cache = os.path.join(root, "cache-train")
        rates = {"yes": [], "no": []}
        for repeat in range(args.repeats):
            for place in rates:
                out = os.path.join(root, f"runs-{place}-{repeat}")
                rates[place].append(training_rate(folder, cache, out, place, args.steps))
        resident, streamed = (statistics.median(rates[p]) for p in ("yes", "no"))
        print(f"training at the CPU defaults on the 32 px cache, {args.steps} steps x {args.repeats}: "
              f"resident {resident:.0f} images/s, streamed {streamed:.0f} images/s "
              f"({streamed / resident - 1:+.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
