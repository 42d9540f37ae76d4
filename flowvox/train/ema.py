"""Exponential moving average of a module's weights (what gets exported).

After each optimiser update: ema ← decay·ema + (1 − decay)·weights for every floating
tensor of ``module.state_dict()``; integer buffers are copied. Before ``start_step``
updates (or with decay 0) the EMA is a plain copy. Shadows are kept in float32 on the
module's device; with FSDP2 they are sharded like the weights (DTensor; buffers stay
whole) and gathered only when saved.
"""

from __future__ import annotations

import torch
from torch import nn

from flowvox.errors import FlowvoxError


class EMA:
    """Shadow copies of ``module``'s state; ``update`` after each optimiser step."""

    def __init__(self, module: nn.Module, decay: float, start_step: int = 0):
        if not 0.0 <= decay <= 1.0:
            raise FlowvoxError(
                f"EMA decay {decay} is outside [0, 1]; use e.g. 0.999 (train.ema_decay), or 0 "
                "to export the current weights"
            )
        self.module, self.decay, self.start_step = module, decay, start_step
        self.shadow = {k: _as_shadow(v) for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, updates_done: int) -> None:
        """Fold the current weights in; ``updates_done`` counts optimiser updates so far."""
        live = self.module.state_dict()
        copy = self.decay == 0.0 or updates_done <= self.start_step
        floats = [k for k, v in self.shadow.items() if v.is_floating_point()]
        if copy:
            for k, v in self.shadow.items():
                v.copy_(live[k])
        else:
            sharded = [k for k in floats if _is_dtensor(self.shadow[k])]
            plain = [k for k in floats if not _is_dtensor(self.shadow[k])]
            for keys in (sharded, plain):  # FSDP shards parameters, not buffers: one call each
                shadows, weights = [self.shadow[k] for k in keys], [live[k].float() for k in keys]
                if keys:
                    torch._foreach_lerp_(shadows, weights, 1.0 - self.decay)
            for k in self.shadow.keys() - set(floats):
                self.shadow[k].copy_(live[k])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Full (gathered) CPU copies of the shadows, keyed like ``module.state_dict()``."""
        return {k: _full(v).detach().cpu().clone() for k, v in self.shadow.items()}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = self.shadow.keys() ^ state.keys()
        if missing:
            raise FlowvoxError(
                f"EMA state does not fit the model: keys {sorted(missing)[:5]} are in one and "
                "not the other; resume with the model config the checkpoint was written with"
            )
        for k, v in self.shadow.items():
            _copy_full_into(v, state[k])


def _as_shadow(tensor: torch.Tensor) -> torch.Tensor:
    tensor = tensor.detach()
    return tensor.float().clone() if tensor.is_floating_point() else tensor.clone()


def _is_dtensor(tensor: torch.Tensor) -> bool:
    return hasattr(tensor, "full_tensor")


def _full(tensor: torch.Tensor) -> torch.Tensor:
    """A DTensor's full value (a collective), or the tensor itself."""
    return tensor.full_tensor() if _is_dtensor(tensor) else tensor


def _copy_full_into(target: torch.Tensor, full: torch.Tensor) -> None:
    if _is_dtensor(target):  # DTensor: take this process's shard of ``full``
        from torch.distributed.tensor import distribute_tensor

        full = distribute_tensor(full.to(target.device), target.device_mesh, target.placements)
    target.copy_(full)
