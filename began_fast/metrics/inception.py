"""FID and KID on Inception features, computed by torch-fidelity (the optional extra
`began-fast[metrics]`). torch-fidelity is imported only here and only when FID or KID is
asked for, so the core install does without it and torchvision.

Weights: torch-fidelity downloads its Inception weights on first use into torch's hub
cache; offline, --inception-weights PATH hands it a local copy of that file (its
`feature_extractor_weights_path`). BEGAN_FAST_OFFLINE=1 forbids the download (the tests
set it): then the cached file or PATH must exist.
"""
import os
import urllib.error

import torch

from began_fast.metrics.names import MetricError

INCEPTION = "inception-v3-compat"     # torch-fidelity's FID/KID feature extractor
INSTALL = ('pip install torch==2.14.1 torchvision==0.29.1 "began-fast[metrics]" '
           "(torchvision must be the build that matches your torch)")
KID_SUBSET = 1000                     # torch-fidelity's default subset size, fewer when fewer images


def torch_fidelity():
    """The torch_fidelity module, or a MetricError saying how to install it."""
    try:
        import torch_fidelity
    except Exception as e:   # ImportError, or torchvision failing to load beside another torch
        raise MetricError(f"FID and KID need torch-fidelity and torchvision ({type(e).__name__} on import); "
                          f"install them: {INSTALL}") from None
    return torch_fidelity


def weights_file_name() -> str:
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
    return URL_INCEPTION_V3.rsplit("/", 1)[-1]


def no_weights_message() -> str:
    cached = os.path.join(torch.hub.get_dir(), "checkpoints")
    return (f"FID and KID need torch-fidelity's Inception weights ({weights_file_name()}), which are not "
            f"in {cached} and cannot be downloaded here; run once where there is network access, or copy "
            "that file here and give --inception-weights PATH")


def check_available(weights: str | None, extractor: str = INCEPTION) -> None:
    """Raise MetricError now, before any sample is drawn, if FID/KID cannot be computed."""
    torch_fidelity()
    if weights is not None:
        if not os.path.isfile(weights):
            raise MetricError(f"--inception-weights {weights}: no such file; give the path of "
                              f"{weights_file_name()}")
        return
    if extractor != INCEPTION:       # another registered extractor loads its own weights
        return
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", weights_file_name())
    if not os.path.isfile(cached) and os.environ.get("BEGAN_FAST_OFFLINE"):
        raise MetricError(no_weights_message())


class _RGBImages(torch.utils.data.Dataset):
    """uint8 images [N, C, S, S] as torch-fidelity reads them: [3, S, S] uint8 each."""

    def __init__(self, images: torch.Tensor):
        self.images = images.cpu()

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = self.images[i]
        return image.expand(3, -1, -1) if image.shape[0] == 1 else image


def inception_metrics(samples: torch.Tensor, reference: torch.Tensor, names, device, batch: int,
                      cache_dir: str, reference_name: str, weights: str | None = None,
                      extractor: str = INCEPTION) -> dict:
    """{'fid': .., 'kid': ..} (those in `names`) of uint8 samples against uint8 reference
    images. The reference's features are cached by torch-fidelity under
    cache_dir/torch-fidelity, named after `reference_name` and the extractor."""
    fidelity = torch_fidelity()
    subset = min(KID_SUBSET, len(samples), len(reference))
    try:
        result = fidelity.calculate_metrics(
            input1=_RGBImages(samples), input2=_RGBImages(reference), input2_cache_name=reference_name,
            cache_root=os.path.join(cache_dir, "torch-fidelity"), fid="fid" in names, kid="kid" in names,
            kid_subset_size=subset, feature_extractor=extractor, feature_extractor_weights_path=weights,
            cuda=torch.device(device).type == "cuda", batch_size=batch, save_cpu_ram=True, verbose=False)
    except urllib.error.URLError:
        raise MetricError(no_weights_message()) from None
    keys = {"fid": fidelity.KEY_METRIC_FID, "kid": fidelity.KEY_METRIC_KID_MEAN}
    return {name: float(result[keys[name]]) for name in names}
