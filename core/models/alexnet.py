"""AlexNet (Krizhevsky et al. 2012, the single-tower "One weird trick" variant), the LPIPS backbone.

Layer names and shapes follow torchvision's ``alexnet`` exactly, so its published ImageNet
state dict (``alexnet-owt-7be5be79.pth``) loads with ``strict=True``; torchvision itself is
not needed. Only the convolutional ``features`` are used for LPIPS; ``avgpool`` and
``classifier`` exist so that the published file fits as a whole.

``AlexNet(classifier=False)`` builds the convolutional part only (what LPIPS needs; the
classifier is 57 M of the 61 M parameters); :func:`features_state_dict` picks the matching
entries out of the full published file.

``features`` indices: 0 conv 11x11/4 (64), 1 ReLU, 2 max-pool, 3 conv 5x5 (192), 4 ReLU,
5 max-pool, 6 conv 3x3 (384), 7 ReLU, 8 conv 3x3 (256), 9 ReLU, 10 conv 3x3 (256), 11 ReLU,
12 max-pool. Input: ``(B, 3, H, W)`` already normalised by the caller.
"""

from __future__ import annotations

from typing import Dict, List

import torch
from torch import nn

from .taps import sequential_taps

#: the torchvision ImageNet weights: file name (as in torch's hub cache) and published URL
ALEXNET_FILENAME = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"

#: ``features`` indices after which LPIPS taps the activations (the five ReLU outputs)
RELU_TAPS = (1, 4, 7, 9, 11)
TAP_CHANNELS = (64, 192, 384, 256, 256)


def features_state_dict(sd: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The ``features.*`` entries of a torchvision AlexNet state dict."""
    return {k: v for k, v in sd.items() if k.startswith("features.")}


class AlexNet(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, classifier: bool = True):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=False),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=False),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=False),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=False),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=False),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        if not classifier:
            self.avgpool = self.classifier = None
            return
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=False),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=False),
            nn.Linear(4096, num_classes),
        )

    def feature_maps(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The five ReLU activations LPIPS compares (relu1 .. relu5), in order."""
        return sequential_taps(self.features, x, RELU_TAPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (for completeness; LPIPS uses :meth:`feature_maps`)."""
        if self.classifier is None:
            raise RuntimeError("this AlexNet was built without its classifier")
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))
