"""The two layers the BEGAN networks are built from, parameterised like torch's own.

Both accept `weight_grad_scale`, a [B] tensor that weights each sample's share of the
weight and bias gradients (never the input gradient); models/began.py's
single_pass_losses says why BEGAN's step needs it. Which conv+ELU runs (Triton or torch) is the kernel
switch's choice (began_fast.kernels.use), not the layer's.
"""

import math

import torch
from torch import nn

from began_fast.kernels import conv2d_elu


class ConvELU(nn.Module):
    """3x3 convolution, padding 1, followed by ELU (unless elu=False)."""

    def __init__(self, in_channels, out_channels, stride=1, elu=True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.stride, self.elu = stride, elu
        init_glorot(self.weight, self.bias)

    def forward(self, x, weight_grad_scale=None):
        return conv2d_elu(x, self.weight, self.bias, self.stride, 1, self.elu,
                          weight_grad_scale=weight_grad_scale)

    def extra_repr(self):
        cout, cin = self.weight.shape[:2]
        return f"{cin}, {cout}, stride={self.stride}, elu={self.elu}"


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

    def reset_parameters(self):
        init_glorot(self.weight, self.bias)

    def forward(self, x, weight_grad_scale=None):
        if weight_grad_scale is None:
            return super().forward(x)
        if torch.is_autocast_enabled(x.device.type):  # autograd.Function is not autocast-aware
            dtype = torch.get_autocast_dtype(x.device.type)
            return _LinearScaledGrad.apply(x.to(dtype), self.weight.to(dtype), self.bias.to(dtype),
                                           weight_grad_scale)
        return _LinearScaledGrad.apply(x, self.weight, self.bias, weight_grad_scale)


def init_glorot(weight, bias):
    """Glorot-uniform weights, zero biases.

    Not torch's default (Kaiming-uniform with a = sqrt(5), variance 1/(3 fan_in)), nor the
    authors' normal(0, 0.01): with either, the signal shrinks through the ~10 ELU layers of
    each network, so at step 0 D's reconstruction hardly depends on its input and G's output
    hardly on z, and training spends its first thousands of steps escaping a constant image.
    Glorot keeps the variance about constant layer to layer: G's output varies over z 20x
    more than with torch's default at initialisation (docs/results.md, "G's spread over z").
    """
    nn.init.xavier_uniform_(weight)
    nn.init.zeros_(bias)


def init_torch_style(module: nn.Module) -> None:
    """The other initialisation --init offers ("torch"), as common BEGAN code has it: convs
    as torch's Conv2d starts them (Kaiming-uniform with a = sqrt(5), biases uniform in
    +-1/sqrt(fan_in)), Linear weights N(0, 0.02) and zero biases."""
    for layer in module.modules():
        if isinstance(layer, ConvELU):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5))
            bound = 1 / math.sqrt(layer.weight[0].numel())
            nn.init.uniform_(layer.bias, -bound, bound)
        elif isinstance(layer, Linear):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            nn.init.zeros_(layer.bias)
