"""The networks' shapes and sizes against the paper (section 3.5)."""
import pytest
import torch

from began_fast.models import count_parameters
from began_fast.models.began_nets import Discriminator, Generator, levels


@pytest.mark.parametrize("size", [32, 64, 128, 256])
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shapes(size, channels):
    G = Generator(size, n=4, h=8, channels=channels)
    D = Discriminator(size, n=4, h=8, channels=channels)
    images = G(torch.rand(2, 8) * 2 - 1)
    assert images.shape == (2, channels, size, size)
    assert D(images).shape == images.shape


@pytest.mark.parametrize("size, total, g, d", [(64, 17.33, 1.72, 15.62), (128, 28.77, None, None)])
def test_parameter_counts_match_the_paper(size, total, g, d):
    G, D = Generator(size, n=128, h=64), Discriminator(size, n=128, h=64)
    assert round((count_parameters(G) + count_parameters(D)) / 1e6, 2) == total
    if g is not None:
        assert round(count_parameters(G) / 1e6, 2) == g and round(count_parameters(D) / 1e6, 2) == d


def test_bottom_map_is_8x8():
    assert [levels(s) for s in (32, 64, 128, 256)] == [3, 4, 5, 6]
    with pytest.raises(ValueError):
        levels(48)


def test_skip_connections_widen_the_first_conv_of_upsampled_levels():
    plain, skip = Generator(64, n=4, h=8), Generator(64, n=4, h=8, skip=True)
    firsts = [lvl[0].weight.shape[1] for lvl in skip.decoder.levels]
    assert firsts == [4, 8, 8, 8]
    assert count_parameters(skip) > count_parameters(plain)
    assert skip(torch.zeros(1, 8)).shape == (1, 3, 64, 64)


def test_tanh_bounds_the_output():
    G = Generator(32, n=4, h=8, tanh=True)
    with torch.no_grad():
        for p in G.parameters():
            p.mul_(50)
        out = G(torch.rand(4, 8) * 2 - 1)
    assert out.abs().max() <= 1.0


def test_encoder_grows_channels_linearly_and_downsamples_by_stride_2():
    D = Discriminator(64, n=4, h=8)
    strided = [c for c in D.encoder.convs if c.stride == 2]
    assert [c.weight.shape[:2] for c in strided] == [(8, 4), (12, 8), (16, 12)]
    assert D.encoder.fc.in_features == 8 * 8 * 4 * 4


def test_initialisation_is_glorot_uniform_with_zero_biases():
    torch.manual_seed(0)
    for net in (Generator(32, n=32, h=32), Discriminator(32, n=32, h=32)):
        for name, p in net.named_parameters():
            if p.dim() == 1:
                assert torch.count_nonzero(p) == 0, name
                continue
            fan_out, fan_in = p.shape[0] * p[0, 0].numel(), p.shape[1] * p[0, 0].numel()
            bound = (6 / (fan_in + fan_out)) ** 0.5
            assert p.abs().max() <= bound and p.abs().max() > 0.9 * bound, name
            assert abs(p.var().item() / (bound ** 2 / 3) - 1) < 0.2, name


def test_initial_generator_output_depends_on_z():
    # With torch's default init the 32 px, n = 32 G's output varied over z by a std of
    # about 0.005 (near-constant images); Glorot gives about 0.09.
    torch.manual_seed(0)
    G = Generator(32, n=32, h=32)
    with torch.no_grad():
        images = G(torch.rand(64, 32) * 2 - 1)
    assert images.std(0).mean() > 0.03


@pytest.mark.parametrize("skip", [False, True])
def test_a_channels_last_model_feeds_every_conv_channels_last(skip):
    """The Triton conv runs its fast (and spill-free) path on channels_last inputs only; the
    decoders' first map comes out of a Linear as NCHW, so the model must convert it."""
    from began_fast.config import Options
    from began_fast.models import build_networks
    from began_fast.models.began_layers import ConvELU
    opts = Options.for_device("cpu", size=64, filters=4, latent=8, skip=skip, channels_last=True)
    G, D = build_networks(opts, torch.device("cpu"))
    layouts = []
    for net in (G, D):
        for layer in net.modules():
            if isinstance(layer, ConvELU):
                assert layer.weight.is_contiguous(memory_format=torch.channels_last)
                layer.register_forward_pre_hook(
                    lambda m, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    with torch.no_grad():
        D(G(torch.rand(2, 8)).contiguous(memory_format=torch.channels_last))
    assert len(layouts) == 30 and all(layouts)     # 64 px: 9 convs in each decoder, 12 in the encoder


def test_init_torch_is_torchs_conv_default_and_small_normal_linears():
    from began_fast.config import Options
    from began_fast.models import build_networks
    from began_fast.models.began_layers import ConvELU, Linear
    torch.manual_seed(0)
    G, D = build_networks(Options.for_device("cpu", size=32, filters=32, latent=32, init="torch"), "cpu")
    for net in (G, D):
        for layer in net.modules():
            if isinstance(layer, ConvELU):
                bound = 1 / layer.weight[0].numel() ** 0.5        # Kaiming-uniform, a = sqrt(5)
                assert 0.9 * bound < layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
            elif isinstance(layer, Linear):
                assert abs(layer.weight.std().item() - 0.02) < 0.002 and torch.count_nonzero(layer.bias) == 0


def without_residuals(net, cls, **kw):
    """The same weights in a network built without vanishing residuals."""
    plain = cls(32, n=4, h=8, **kw)
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if k != "carry"})
    return plain


@pytest.mark.parametrize("skip", [False, True])
def test_vanishing_residuals_blend_from_the_identity_to_the_convolutions(skip):
    torch.manual_seed(0)
    G = Generator(32, n=4, h=8, skip=skip, vanishing_residual=True)
    D = Discriminator(32, n=4, h=8, vanishing_residual=True)
    plain_g, plain_d = without_residuals(G, Generator, skip=skip), without_residuals(D, Discriminator)
    z, x = torch.rand(3, 8) * 2 - 1, torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        G.carry.fill_(0)                 # faded out: the paper's network
        D.carry.fill_(0)
        assert torch.equal(G(z), plain_g(z)) and torch.equal(D(x), plain_d(x))
        G.carry.fill_(1)                 # at step 0 every shape-keeping conv is the identity
        dec = G.decoder
        h = dec.fc(z).view(-1, 4, 8, 8)
        for level in range(1, len(dec.levels)):
            h = torch.nn.functional.interpolate(h, scale_factor=2, mode="nearest")
            if skip:      # the 2n -> n conv cannot carry its input: it runs as it is
                h0 = dec.fc(z).view(-1, 4, 8, 8)
                both = torch.cat([h, torch.nn.functional.interpolate(h0, size=h.shape[-2:])], 1)
                h = dec.levels[level][0](both)
        torch.testing.assert_close(G(z), dec.out(h))
        G.carry.fill_(0.25)              # on the way: the blend of each layer, not of the outputs
        assert not torch.allclose(G(z), 0.25 * dec.out(h) + 0.75 * plain_g(z))


def test_without_vanishing_residuals_there_is_no_carry_in_the_weights():
    assert "carry" not in Generator(32, n=4, h=8).state_dict()
    assert "carry" in Discriminator(32, n=4, h=8, vanishing_residual=True).state_dict()
