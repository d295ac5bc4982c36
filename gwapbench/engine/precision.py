"""Numeric precision of training and prediction: `--precision auto | fp32 | bf16 | fp16`.

- fp32: full precision, as the paper trained (Caffe);
- bf16: `torch.autocast` with bfloat16 (fp32's exponent range: no loss scaling);
- fp16: `torch.autocast` with float16 and a gradient scaler (`torch.amp.GradScaler`): the loss is
  multiplied by a scale before backward, the gradients divided by it before the step, and a step
  whose gradients overflowed is skipped (the scale then halves; it doubles after 2000 clean steps).
- auto: fp32 on CPU; on CUDA bf16 where the GPU computes bfloat16 natively
  (`torch.cuda.is_bf16_supported(including_emulation=False)`: Ampere and newer), else fp16 (V100,
  T4, P100, which have no bfloat16 units).

The resolved name is part of the run id (`RunConfig.precision`). torch is imported inside the
functions: resolving `fp32`, `auto` for `--device cpu`, or `auto` for `--device auto` on a machine
without a GPU driver (`cuda_possible`) needs no torch, so a finished table still re-renders without it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING

from gwapbench.errors import InputError

if TYPE_CHECKING:
    import torch

PRECISIONS = ("fp32", "bf16", "fp16")
CHOICES = ("auto", *PRECISIONS)
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}  # torch dtype names


# Device files without which no GPU driver can serve CUDA on Linux: NVIDIA's control device, WSL2's GPU
# paravirtualization, ROCm's kernel driver (torch.cuda on AMD GPUs).
GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/dxg", "/dev/kfd")


def cuda_possible() -> bool:
    """False where CUDA certainly is not available (macOS; Linux without a GPU driver's device file), so that
    `--device auto` resolves without importing torch (seconds) there; True where only torch can tell."""
    if sys.platform == "darwin":
        return False
    if sys.platform.startswith("linux"):
        return any(os.path.exists(path) for path in GPU_DEVICE_FILES)
    return True


def device_type(device: str) -> str:
    """"cpu" or "cuda" for a --device value ("auto": CUDA when available)."""
    if device == "auto":
        if not cuda_possible():
            return "cpu"
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if device.startswith("cuda") else "cpu"


def native_bf16() -> bool:
    """Whether the current CUDA GPU computes bfloat16 in hardware (torch < 2.4 has no `including_emulation`
    and then reports native support only)."""
    import torch

    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:
        return torch.cuda.is_bf16_supported()


def cpu_autocast_computes(precision: str) -> bool:
    """Whether a matrix product under CPU autocast to `precision` comes out in that dtype (torch versions before
    CPU float16 autocast disable it with a warning instead)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with autocast(precision, torch.device("cpu")):
            product = torch.ones(2, 2) @ torch.ones(2, 2)
    return product.dtype == getattr(torch, DTYPES[precision])


def resolve_precision(requested: str, device: str) -> str:
    """The precision a run uses for `--precision requested` on `--device device` (module doc); InputError on an
    unknown name or bf16 on a GPU without any bfloat16 support."""
    if requested not in CHOICES:
        raise InputError(f"--precision {requested!r}: expected one of {', '.join(CHOICES)}")
    if requested == "fp32":
        return requested
    kind = device_type(device)
    if kind == "cpu":
        if requested != "auto" and not cpu_autocast_computes(requested):
            raise InputError(f"--precision {requested}: this torch's CPU autocast does not compute in it; "
                             "use --precision fp32 on CPU")
        return "fp32" if requested == "auto" else requested
    import torch

    if not torch.cuda.is_available():
        raise InputError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
    if requested == "auto":
        return "bf16" if native_bf16() else "fp16"
    if requested == "bf16":
        if not torch.cuda.is_bf16_supported():
            raise InputError(f"--precision bf16: {torch.cuda.get_device_name()} has no bfloat16 support; "
                             "use --precision fp16 or fp32")
    return requested


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context of a forward pass: nothing for fp32, torch.autocast to bfloat16 or float16 otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device.type, dtype=getattr(torch, DTYPES[precision]))


def loss_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """fp16's gradient scaler; a disabled one (scale() returns the loss, step() steps, update() does nothing)
    for fp32 and bf16, so the training loop has one code path."""
    import torch

    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
