"""Distillation of a LIIF-family teacher's decoder into an LM-LIIF twin (``stage = "distill"``).

A *twin* is an LM-LIIF (:mod:`cisr_zoom.core.models.lmf`) with the teacher's encoder weights,
copied and frozen, whose decoder learns to give the teacher's RGB. Because the encoder never
changes, its features are computed once, before training, and kept in memory as float16
(:class:`FeatureCache`); so are the teacher's outputs on them. A training step then costs the
twin's decoder alone (its latent MLP on the cached features, its render MLP on the points).

What is cached, per LR crop (``distill.crops`` of them, drawn like stage 1's pairs: a random HR
crop of a training image downscaled by ``s ~ U(scale_min, scale_max)`` to ``lr_patch`` pixels,
with the configured degradations, :meth:`.data.PairSampler.crop_pair`):

* the encoder features ``(C, p, p)`` (float16) and the LR input (for an image skip);
* group ``hr``: ``n_points`` random HR pixel centres of the crop, with cell ``2 / H``, their
  ground truth (uint8) and the teacher's RGB there;
* group ``query``: ``distill.query_points`` uniformly random coordinates with one cell of a
  query scale drawn log-uniformly in ``[1, query_scale_max]`` (x1-x30 by default), and the
  teacher's RGB there.

The loss is ``teacher_weight * L1(twin, teacher)`` over both groups plus ``pixel_opt.weight *
L1(twin, HR)`` over the ``hr`` group. The teacher's outputs are float32 (targets), features
float16 (inputs of both networks; the teacher's targets are computed from the same float16
values, so the twin learns the teacher's function exactly where it is evaluated).

The checkpoint's model card names the teacher (:func:`teacher_card`): its file name, sha256,
architecture and family, and its own card's origin; ``meta.stage`` is the teacher's family
(a twin of CiSRGAN is a "CiSRGAN (LM, EDSR-baseline)") and ``meta.twin_of`` the teacher's name.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch
from torch import nn

from ..checkpoint import LoadedModel, load_checkpoint
from ..coords import make_coord
from ..errors import CisrError
from ..models.liif import Features, normalise
from ..twins import file_sha256
from .data import PairSampler


class DistillError(CisrError):
    """The teacher cannot be distilled into the configured twin."""


DEFAULTS: Dict[str, Any] = {"crops": 1200, "query_points": 2304, "query_scale_max": 30.0, "teacher_weight": 1.0,
                            "cache_batch": 8}


def _encoder_spec(spec: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    enc = (spec.get("args") or {}).get("encoder_spec")
    return enc if isinstance(enc, dict) else None


def load_teacher(path: str, student_spec: Dict[str, Any], device: torch.device) -> LoadedModel:
    """The teacher checkpoint (a bundled name or a file), checked against the twin's spec: a
    LIIF-family image decoder with the same encoder (name and arguments) and image skip."""
    teacher = load_checkpoint(path, device)
    if teacher.descriptor is None or not hasattr(teacher.model, "encoder") or _encoder_spec(teacher.spec) is None:
        raise DistillError(f"teacher '{path}' is not a LIIF-family image decoder (no encoder to share)")
    if _encoder_spec(teacher.spec) != _encoder_spec(student_spec):
        raise DistillError(f"teacher '{path}' has encoder {_encoder_spec(teacher.spec)} but network_g describes "
                           f"{_encoder_spec(student_spec)}: the twin must use the teacher's encoder")
    t_skip = bool((teacher.spec.get("args") or {}).get("image_skip", False))
    s_skip = bool((student_spec.get("args") or {}).get("image_skip", False))
    if t_skip != s_skip:
        raise DistillError(f"teacher '{path}' has image_skip {str(t_skip).lower()}: set network_g.image_skip the same")
    teacher.model.eval()
    for p in teacher.model.parameters():
        p.requires_grad_(False)
    return teacher


def adopt_encoder(student: nn.Module, teacher: nn.Module) -> None:
    """Copy the teacher's encoder weights into the twin and freeze them."""
    student.encoder.load_state_dict(teacher.encoder.state_dict())
    for p in student.encoder.parameters():
        p.requires_grad_(False)


def freeze_encoder(student: nn.Module) -> None:
    for p in student.encoder.parameters():
        p.requires_grad_(False)


def teacher_card(teacher: LoadedModel) -> Dict[str, Any]:
    """What the twin's model card says about its teacher."""
    meta = teacher.meta or {}
    card: Dict[str, Any] = {"name": teacher.name, "file": teacher.path.name if teacher.path else None,
                            "sha256": file_sha256(teacher.path) if teacher.path else None,
                            "architecture": teacher.descriptor.architecture, "family": teacher.descriptor.family,
                            "display_name": teacher.descriptor.display_name}
    for key in ("origin", "licence", "license", "stage", "total_iterations"):
        if key in meta:
            card[key] = meta[key]
    return card


@dataclass
class DistillBatch:
    """One step's data (CPU tensors): ``feat`` ``(B, C, p, p)`` float32, ``lr`` ``(B, 3, p, p)``;
    group ``hr``: ``coords``/``cells`` ``(B, n, 2)``, ``gt`` and ``target`` ``(B, n, 3)``; group
    ``query``: ``q_coords``/``q_cells`` ``(B, q, 2)``, ``q_target`` ``(B, q, 3)``."""

    feat: torch.Tensor
    lr: torch.Tensor
    coords: torch.Tensor
    cells: torch.Tensor
    gt: torch.Tensor
    target: torch.Tensor
    q_coords: torch.Tensor
    q_cells: torch.Tensor
    q_target: torch.Tensor

    def to(self, device, non_blocking: bool = False) -> "DistillBatch":
        return DistillBatch(*(getattr(self, k).to(device, non_blocking=non_blocking)
                              for k in self.__dataclass_fields__))


def query_scale(rng: np.random.Generator, scale_max: float) -> float:
    """A query scale, log-uniform in ``[1, scale_max]``."""
    return float(math.exp(rng.uniform(0.0, math.log(scale_max))))


class FeatureCache:
    """The cached crops (see the module docstring), built once by :meth:`build`."""

    def __init__(self, feat, lr, coords, cells, gt, target, q_coords, q_cells, q_target, scales, q_scales):
        self.feat, self.lr = feat, lr
        self.coords, self.cells, self.gt, self.target = coords, cells, gt, target
        self.q_coords, self.q_cells, self.q_target = q_coords, q_cells, q_target
        self.scales, self.q_scales = scales, q_scales

    def __len__(self) -> int:
        return self.feat.shape[0]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.__dict__.values() if isinstance(t, torch.Tensor))

    @classmethod
    @torch.no_grad()
    def build(cls, sampler: PairSampler, teacher: nn.Module, crops: int, query_points: int,
              query_scale_max: float, seed: int, device: torch.device, batch: int = 8,
              say: Optional[Callable[[str], None]] = None) -> "FeatureCache":
        """Draw ``crops`` LR crops with ``sampler`` (its ``n_points`` HR points per crop), encode
        them with the teacher's encoder and record the teacher's outputs. Deterministic in
        ``seed`` (a generator of its own, apart from the training iterations' ones)."""
        rng = np.random.default_rng([int(seed), 0x7717])
        n, p = sampler.n_points, sampler.lr_patch
        lrs, feats, coords, cells, gts, targets = [], [], [], [], [], []
        q_coords, q_cells, q_targets, scales, q_scales = [], [], [], [], []
        t0 = time.monotonic()
        for start in range(0, crops, batch):
            items = []
            for _ in range(min(batch, crops - start)):
                lr, hr, hr_size = sampler.crop_pair(rng)
                idx = torch.from_numpy(rng.choice(hr_size * hr_size, n, replace=False))
                c = make_coord((hr_size, hr_size))[idx]
                gt = hr.reshape(3, -1).t()[idx]
                qs = query_scale(rng, query_scale_max)
                qc = torch.from_numpy(rng.uniform(-1.0, 1.0, size=(query_points, 2))).float()
                items.append((lr, c, torch.full_like(c, 2.0 / hr_size), gt, qc,
                              torch.full_like(qc, 2.0 / (p * qs)), hr_size / p, qs))
            lr = torch.stack([x[0] for x in items]).to(device)
            feat = teacher.encode(lr).feat.half()
            features = Features(feat.float(), normalise(lr))
            pre = teacher.precompute(features.feat)
            c, ce = torch.stack([x[1] for x in items]).to(device), torch.stack([x[2] for x in items]).to(device)
            qc, qce = torch.stack([x[4] for x in items]).to(device), torch.stack([x[5] for x in items]).to(device)
            targets.append(teacher.query(features, c, ce, precomputed=pre).float().cpu())
            q_targets.append(teacher.query(features, qc, qce, precomputed=pre).float().cpu())
            feats.append(feat.cpu())
            lrs.append(lr.half().cpu())
            coords.append(c.cpu())
            cells.append(ce[:, :1, :].cpu())
            gts.append(torch.stack([torch.round(x[3] * 255.0).to(torch.uint8) for x in items]))
            q_coords.append(qc.cpu())
            q_cells.append(qce[:, :1, :].cpu())
            scales += [x[6] for x in items]
            q_scales += [x[7] for x in items]
            done = start + len(items)
            if say is not None and (done == crops or done % (batch * 25) == 0):
                say(f"feature cache: {done}/{crops} crops encoded ({time.monotonic() - t0:.0f} s)")
        return cls(torch.cat(feats), torch.cat(lrs), torch.cat(coords), torch.cat(cells), torch.cat(gts),
                   torch.cat(targets), torch.cat(q_coords), torch.cat(q_cells), torch.cat(q_targets),
                   torch.tensor(scales), torch.tensor(q_scales))

    def batch(self, rng: np.random.Generator, batch_size: int) -> DistillBatch:
        """``batch_size`` cached crops drawn at random (without replacement within the batch)."""
        idx = torch.from_numpy(rng.choice(len(self), min(batch_size, len(self)), replace=False))
        n, q = self.coords.shape[1], self.q_coords.shape[1]
        return DistillBatch(self.feat[idx].float(), self.lr[idx].float(), self.coords[idx],
                            self.cells[idx].expand(-1, n, -1), self.gt[idx].float() / 255.0, self.target[idx],
                            self.q_coords[idx], self.q_cells[idx].expand(-1, q, -1), self.q_target[idx])

    def describe(self) -> Dict[str, Any]:
        """Plain data for the model card."""
        return {"crops": len(self), "lr_patch": int(self.feat.shape[-1]), "hr_points_per_crop": int(self.coords.shape[1]),
                "query_points_per_crop": int(self.q_coords.shape[1]),
                "crop_scale_range": [round(float(self.scales.min()), 3), round(float(self.scales.max()), 3)],
                "query_scale_range": [round(float(self.q_scales.min()), 3), round(float(self.q_scales.max()), 3)],
                "features": "float16", "megabytes": round(self.nbytes / 1e6, 1)}


def twin_outputs(student: nn.Module, batch: DistillBatch) -> List[torch.Tensor]:
    """The twin's RGB on both groups of ``batch`` (its latent stage run once on the features)."""
    features = Features(batch.feat, normalise(batch.lr))
    pre = student.precompute(batch.feat)
    return [student.query(features, batch.coords, batch.cells, precomputed=pre),
            student.query(features, batch.q_coords, batch.q_cells, precomputed=pre)]
