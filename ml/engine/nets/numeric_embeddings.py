"""Periodic embeddings of numeric features ("PLR": periodic -> linear -> ReLU).

Gorishniy, Rubachev and Babenko (2022), "On Embeddings for Numerical Features in Tabular Deep Learning":
a scalar x_j becomes [cos(2*pi*c_j*x_j), sin(2*pi*c_j*x_j)] for k learned frequencies c_j (initialised from
N(0, sigma)), then a per-column linear map to d and a ReLU. A plain `x_j * W_j + b_j` token can only scale one
direction by the value; the periodic features let each column's token bend with the value (thresholds,
bumps, saturation), which is what gradient boosting gets for free from its splits and what closes most of
the gap on tables. sigma is the one hyper-parameter that matters: larger = wigglier functions of x.

Inputs are the preprocessor's robust-scaled values (median 0, IQR 1, clipped to +-8); missing values are
handled by the caller (the tokenizer swaps in its learned "missing" vector). Pure torch: no Django.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class PeriodicEmbedding(nn.Module):
    """(B, n) scalars -> (B, n, d): ReLU(Linear_j([cos(2*pi*c_j*x), sin(2*pi*c_j*x)])), one Linear per column."""

    def __init__(self, *, n_features: int, d_out: int, n_frequencies: int, sigma: float) -> None:
        super().__init__()
        if n_frequencies < 1 or sigma <= 0:
            raise ValueError("n_frequencies must be >= 1 and sigma positive")
        self.frequencies = nn.Parameter(torch.randn(n_features, n_frequencies) * sigma)
        bound = 1 / math.sqrt(2 * n_frequencies)  # nn.Linear's default init for 2k inputs
        self.weight = nn.Parameter(torch.empty(n_features, 2 * n_frequencies, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_features, d_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = 2 * math.pi * self.frequencies * x.unsqueeze(-1)  # (B, n, k)
        periodic = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)  # (B, n, 2k)
        # Per-column linear map as one batched matmul over columns: (n, B, 2k) @ (n, 2k, d) -> (B, n, d).
        mapped = torch.baddbmm(self.bias.unsqueeze(1), periodic.transpose(0, 1), self.weight).transpose(0, 1)
        return torch.relu(mapped)
