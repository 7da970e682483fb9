"""The two layers the BEGAN networks are built from, parameterised like torch's own.

Both accept `weight_grad_scale`, a [B] tensor that weights each sample's share of
the weight and bias gradients (never the input gradient). The training step runs
D once on [real; fake] and scales the fake half by -k_t, so one backward pass
gives D the gradient of L(x) - k_t L(G(z)) and G the gradient of L(G(z)).
"""
import math

import torch
from torch import nn

from began_fast.kernels import conv2d_elu


class ConvELU(nn.Module):
    """3x3 convolution, padding 1, followed by ELU (unless elu=False)."""

    def __init__(self, in_channels, out_channels, stride=1, elu=True, impl="torch"):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.stride, self.elu, self.impl = stride, elu, impl
        _init_like_torch(self.weight, self.bias)

    def forward(self, x, weight_grad_scale=None):
        return conv2d_elu(x, self.weight, self.bias, self.stride, 1, self.elu,
                          weight_grad_scale=weight_grad_scale, impl=self.impl)

    def extra_repr(self):
        cout, cin = self.weight.shape[:2]
        return f"{cin}, {cout}, stride={self.stride}, elu={self.elu}, impl={self.impl}"


class _LinearScaledGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, scale):
        ctx.save_for_backward(x, weight, scale)
        return nn.functional.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_y):
        x, weight, scale = ctx.saved_tensors
        scaled = grad_y * scale.view(-1, 1).to(grad_y.dtype)
        grad_x = grad_y @ weight.to(grad_y.dtype) if ctx.needs_input_grad[0] else None
        return grad_x, scaled.t() @ x.to(scaled.dtype), scaled.sum(0), None


class Linear(nn.Linear):
    """nn.Linear that also takes a per-sample weight-gradient scale."""

    def forward(self, x, weight_grad_scale=None):
        if weight_grad_scale is None:
            return super().forward(x)
        if torch.is_autocast_enabled(x.device.type):  # autograd.Function is not autocast-aware
            dtype = torch.get_autocast_dtype(x.device.type)
            return _LinearScaledGrad.apply(x.to(dtype), self.weight.to(dtype), self.bias.to(dtype),
                                           weight_grad_scale)
        return _LinearScaledGrad.apply(x, self.weight, self.bias, weight_grad_scale)


def _init_like_torch(weight, bias):
    """nn.Conv2d's default initialisation, so both impls start from the same weights."""
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    bound = 1 / math.sqrt(weight[0].numel())
    nn.init.uniform_(bias, -bound, bound)
