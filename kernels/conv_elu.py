"""conv2d_elu: F.elu(F.conv2d(x, weight, bias, stride, padding)) fused.

(Skeleton: the Triton kernels are being written; impl="torch" works.)
"""
from typing import Optional

import torch
import torch.nn.functional as F


def conv2d_elu_reference(x, weight, bias=None, stride=1, padding=1, elu=True):
    """The plain PyTorch computation the fused op replaces."""
    y = F.conv2d(x, weight, bias, stride, padding)
    return F.elu(y) if elu else y


class _Conv2dEluScaledTorch(torch.autograd.Function):
    """Torch ops, but the weight and bias gradients weight each sample by `scale`.

    The input gradient is left unscaled. BEGAN's single-forward step uses this to
    give D the gradient of L(x) - k*L(G(z)) and G the gradient of L(G(z)) from one
    backward pass over the concatenated [real; fake] batch.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, scale, stride, padding, elu):
        y = conv2d_elu_reference(x, weight, bias, stride, padding, elu)
        ctx.save_for_backward(x, weight, y, scale)
        ctx.conf = (stride, padding, elu, bias is not None)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x, weight, y, scale = ctx.saved_tensors
        stride, padding, elu, has_bias = ctx.conf
        # ELU's derivative from its output: 1 where y > 0, y + 1 elsewhere.
        grad_pre = torch.where(y > 0, grad_y, grad_y * (y + 1)) if elu else grad_y
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.nn.grad.conv2d_input(x.shape, weight, grad_pre, stride, padding)
        scaled = grad_pre * scale.view(-1, 1, 1, 1).to(grad_pre.dtype)
        if ctx.needs_input_grad[1]:
            grad_w = torch.nn.grad.conv2d_weight(x, weight.shape, scaled, stride, padding)
        if has_bias and ctx.needs_input_grad[2]:
            grad_b = scaled.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None, None


def conv2d_elu(x, weight, bias=None, stride=1, padding=1, elu=True, *,
               weight_grad_scale: Optional[torch.Tensor] = None, impl="triton"):
    """ELU(conv2d(x, weight, bias)), differentiable in x, weight and bias.

    weight_grad_scale: optional [B] tensor; each sample's contribution to the weight
    and bias gradients is multiplied by it (the input gradient is not).
    """
    if impl == "torch":
        if weight_grad_scale is None:
            return conv2d_elu_reference(x, weight, bias, stride, padding, elu)
        return _Conv2dEluScaledTorch.apply(x, weight, bias, weight_grad_scale, stride, padding, elu)
    raise NotImplementedError("the Triton conv2d_elu is not written yet")
