"""The convolutional encoder and decoder of Burgess et al. (2018) and Locatello et al. (2019).

Encoder: four 4x4 stride-2 convolutions (32, 32, 64, 64 channels) with ReLU, then fc 256 and a linear
layer to the posterior's parameters. The decoder mirrors it with transposed convolutions. For 28x28 and
32x32 images one stride-2 stage is dropped (32, 64, 64 channels), so the last feature map is 3x3 or 4x4;
the decoder's ``output_padding`` makes its output exactly the input size.

Speed (same parameters, same function, fp32): feature maps are kept channels-last, where oneDNN's
convolutions run 1.3-2x faster on CPU than in NCHW. The two layers that touch the image itself have
only 1 or 3 channels on one side, a shape oneDNN handles at a few GFLOP/s (the last transposed
convolution alone cost as much as the three largest layers together). They are computed as one matrix
product each instead: the first convolution as 4x4 stride-2 windows of the image (im2col, one strided
copy) times the weight; the last transposed convolution as the weight times the feature map, whose
4x4 contributions are then added into place (col2im, 16 strided additions). The two rearrangements
are each other's adjoint, so each one's backward is the other. The hidden transposed convolutions
run oneDNN's forward but the backward of the convolution they are the adjoint of, whose weight
gradient oneDNN computes 1.7-3.3x faster (``_ConvTransposeK4S2P1``).
"""

from __future__ import annotations

from itertools import islice

import torch
import torch.nn.functional as F
from torch import nn

SUPPORTED_SIZES = (28, 32, 64)
_KERNEL, _STRIDE, _PADDING = 4, 2, 1


def stage_channels(size: int, architecture: str = "conv64") -> list[int]:
    """Channels of each strided stage: Burgess/Locatello's four at 64x64, three below (and the
    residual network's stages, which follow the same plan)."""
    if size not in SUPPORTED_SIZES:
        raise ValueError(f"{architecture} supports image sizes {SUPPORTED_SIZES}, got {size}")
    return [32, 32, 64, 64] if size == 64 else [32, 64, 64]


def _feature_sizes(size: int, stages: int) -> list[int]:
    """Spatial size after each k4 s2 p1 convolution, starting with the input size."""
    sizes = [size]
    for _ in range(stages):
        sizes.append((sizes[-1] + 2 - 4) // 2 + 1)
    return sizes


def _im2col(x: torch.Tensor) -> torch.Tensor:
    """The 4x4 stride-2 windows of the zero-padded x [B, C, H, W] (H, W even): [B, H/2, W/2, C, 4, 4]."""
    b, c, h, w = x.shape
    padded = F.pad(x, (_PADDING,) * 4).contiguous()
    sb, sc, sh, sw = padded.stride()
    windows = padded.as_strided(
        (b, h // 2, w // 2, c, _KERNEL, _KERNEL), (sb, 2 * sh, 2 * sw, sc, sh, sw)
    )
    return windows.contiguous()


def _col2im(cols: torch.Tensor) -> torch.Tensor:
    """The adjoint of ``_im2col``: window contributions [B, h, w, C, 4, 4] summed into [B, C, 2h, 2w]."""
    b, h, w, c = cols.shape[:4]
    out = cols.new_zeros(b, c, 2 * h + 2 * _PADDING, 2 * w + 2 * _PADDING)
    by_tap = cols.permute(0, 3, 4, 5, 1, 2)  # [B, C, ky, kx, h, w], a view
    for ky in range(_KERNEL):
        for kx in range(_KERNEL):
            out[:, :, ky : ky + 2 * h : 2, kx : kx + 2 * w : 2] += by_tap[:, :, ky, kx]
    return out[:, :, _PADDING:-_PADDING, _PADDING:-_PADDING]


class _Im2col(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _im2col(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _Col2im.apply(grad)


class _Col2im(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cols: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _col2im(cols)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _Im2col.apply(grad)


def _is_k4s2p1(layer: nn.Conv2d | nn.ConvTranspose2d) -> bool:
    return (
        layer.kernel_size == (_KERNEL, _KERNEL) and layer.stride == (_STRIDE, _STRIDE)
        and layer.padding == (_PADDING, _PADDING) and layer.dilation == (1, 1) and layer.groups == 1
        and layer.output_padding == (0, 0)
    )


def _autocast_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype autocast computes matrix products in on ``x``'s device, or ``x``'s own."""
    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype


def conv_as_matmul(x: torch.Tensor, layer: nn.Conv2d, relu: bool = False) -> torch.Tensor:
    """``layer(x)`` for a k4 s2 p1 convolution (then ReLU if ``relu``), as im2col and one matrix
    product. The result is a channels-last [B, O, H/2, W/2] (the layout the following layers want).
    """
    x = x.to(_autocast_dtype(x))  # under autocast: the 16x smaller image, not its windows, is cast
    b, c, h, w = x.shape
    cols = _Im2col.apply(x) if x.requires_grad else _im2col(x)
    weight = layer.weight.reshape(layer.out_channels, c * _KERNEL * _KERNEL)
    out = torch.addmm(layer.bias, cols.view(-1, weight.shape[1]), weight.t())
    if relu:
        # on the [B*H*W/4, O] matrix itself, not on the 4-d view of it: a ReLU's backward over a
        # permuted view was 10% of the whole training step
        out = F.relu_(out)
    return out.view(b, h // 2, w // 2, layer.out_channels).permute(0, 3, 1, 2)


def _in_compute_dtype(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
    """x, weight and bias in the dtype autocast computes in (or x's own), remembering the
    parameters' dtypes for their gradients: the backward runs outside autocast, and oneDNN wants one
    dtype for the gradient, the input and the weight."""
    dtype = _autocast_dtype(x)
    ctx.parameter_dtypes = weight.dtype, None if bias is None else bias.dtype
    return x.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype)


def _parameter_grads(ctx, grad_x, grad_weight, grad_bias):
    weight_dtype, bias_dtype = ctx.parameter_dtypes
    return (
        grad_x,
        None if grad_weight is None else grad_weight.to(weight_dtype),
        None if grad_bias is None else grad_bias.to(bias_dtype),
    )


class _ConvTransposeAsMatmul(torch.autograd.Function):
    """A k4 s2 p1 transposed convolution with few output channels (the decoder's last layer):
    forward as a matrix product and col2im (oneDNN's forward is slow with 1 or 3 output channels),
    backward by oneDNN (whose backward for that shape is fast: 1.6 ms in fp32 at batch 64, where
    im2col matrix products took 3.1 ms)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        x, weight, bias = _in_compute_dtype(ctx, x, weight, bias)
        ctx.save_for_backward(x, weight)
        b, c, h, w = x.shape
        with torch.autocast(x.device.type, enabled=False):
            rows = x.permute(0, 2, 3, 1).reshape(-1, c)  # free for a channels-last x
            cols = (rows @ weight.reshape(c, -1)).view(b, h, w, weight.shape[1], _KERNEL, _KERNEL)
            return _col2im(cols).add_(bias.view(1, -1, 1, 1))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        grads = torch.ops.aten.convolution_backward(
            grad.to(x.dtype), x, weight, [weight.shape[1]], [_STRIDE] * 2, [_PADDING] * 2, [1, 1],
            True, [0, 0], 1, list(ctx.needs_input_grad),
        )
        return _parameter_grads(ctx, *grads)


class _ConvTransposeK4S2P1(torch.autograd.Function):
    """nn.ConvTranspose2d's k4 s2 p1 forward (oneDNN), with the backward of the convolution it is the
    adjoint of: the input's gradient is conv2d(grad, W), and the weight's is that convolution's
    weight gradient with input and output swapped (input = grad, output gradient = x). oneDNN
    computes that weight gradient 1.7x (fp32) to 3.3x (bf16) faster than the transposed
    convolution's own at 32 channels (a probe at batch 64: 5.3 ms -> 1.6 ms in bf16, 4.8 -> 2.7 ms in
    fp32; notes/issue-19.md)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:  # type: ignore[override]
        x, weight, bias = _in_compute_dtype(ctx, x, weight, bias)
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        with torch.autocast(x.device.type, enabled=False):
            return F.conv_transpose2d(x, weight, bias, _STRIDE, _PADDING)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        grad = grad.to(x.dtype)
        needs_x, needs_weight, needs_bias = ctx.needs_input_grad
        grad_x = F.conv2d(grad, weight, None, _STRIDE, _PADDING) if needs_x else None
        grad_weight = None
        if needs_weight:
            grad_weight = torch.ops.aten.convolution_backward(
                x, grad, weight, None, [_STRIDE] * 2, [_PADDING] * 2, [1, 1], False, [0, 0], 1,
                [False, True, False],
            )[1]
        grad_bias = grad.sum((0, 2, 3)) if needs_bias and ctx.has_bias else None
        return _parameter_grads(ctx, grad_x, grad_weight, grad_bias)


def conv_transpose_as_matmul(x: torch.Tensor, layer: nn.ConvTranspose2d) -> torch.Tensor:
    """``layer(x)`` for a k4 s2 p1 transposed convolution (see ``_ConvTransposeAsMatmul``)."""
    return _ConvTransposeAsMatmul.apply(x, layer.weight, layer.bias)


def _channels_last_layer(layer: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """``layer(h)`` with a convolution's weight in channels-last order, copied for this call.

    With an NCHW weight oneDNN returns the input's gradient in NCHW, and every ReLU backward after it
    then mixes layouts (several times slower). The parameter itself stays contiguous (checkpoints,
    optimizer state); the copy is 64x64x4x4 floats at most, and autograd routes its gradient back.
    """
    weight = layer.weight.contiguous(memory_format=torch.channels_last)
    if isinstance(layer, nn.Conv2d):
        return F.conv2d(h, weight, layer.bias, layer.stride, layer.padding)
    if _is_k4s2p1(layer):
        return _ConvTransposeK4S2P1.apply(h, weight, layer.bias)
    return F.conv_transpose2d(h, weight, layer.bias, layer.stride, layer.padding, layer.output_padding)


def _run(layers, h: torch.Tensor) -> torch.Tensor:
    for layer in layers:
        if isinstance(layer, nn.ReLU):
            h = F.relu_(h)  # in place: a convolution's backward needs its input, not its output
        elif isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
            h = _channels_last_layer(layer, h)
        else:
            h = layer(h)
    return h


class ConvEncoder(nn.Module):
    """Image [B, C, H, W] in [0, 1] -> [B, out_features] (the posterior's parameters)."""

    def __init__(self, channels: int, size: int, out_features: int, hidden: int = 256) -> None:
        super().__init__()
        widths = stage_channels(size)
        last = _feature_sizes(size, len(widths))[-1]
        layers: list[nn.Module] = []
        in_ch = channels
        for width in widths:
            layers += [nn.Conv2d(in_ch, width, 4, 2, 1), nn.ReLU()]
            in_ch = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(in_ch * last * last, hidden), nn.ReLU(),
            nn.Linear(hidden, out_features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.features[0]
        if _is_k4s2p1(first) and x.shape[-1] % 2 == 0 and x.shape[-2] % 2 == 0:
            h = _run(islice(self.features, 2, None), conv_as_matmul(x, first, relu=True))
        else:
            h = _run(self.features, x.contiguous(memory_format=torch.channels_last))
        return self.head(h)


class ConvDecoder(nn.Module):
    """Latent [B, latent_dim] -> logits [B, C, H, W]."""

    def __init__(self, channels: int, size: int, latent_dim: int, hidden: int = 256) -> None:
        super().__init__()
        widths = stage_channels(size)
        sizes = _feature_sizes(size, len(widths))
        self.start = (widths[-1], sizes[-1], sizes[-1])
        self.head = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, widths[-1] * sizes[-1] * sizes[-1]), nn.ReLU(),
        )
        outs = list(reversed(widths[:-1])) + [channels]
        layers: list[nn.Module] = []
        in_ch = widths[-1]
        for i, out_ch in enumerate(outs):
            src, dst = sizes[-1 - i], sizes[-2 - i]
            layers.append(nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, output_padding=dst - 2 * src))
            if i < len(outs) - 1:
                layers.append(nn.ReLU())
            in_ch = out_ch
        self.features = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.head(z).view(-1, *self.start).contiguous(memory_format=torch.channels_last)
        last = self.features[-1]
        if not _is_k4s2p1(last):
            return _run(self.features, h)
        return conv_transpose_as_matmul(_run(islice(self.features, len(self.features) - 1), h), last)
