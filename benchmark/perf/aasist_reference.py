"""A literal re-implementation of the official AASIST forward pass (clovaai/aasist ``models/AASIST.py``), the
baseline of ``bench perf aasist``.

Written for the benchmark (not copied): the same operations in the same order and layout as the official
code, so that it runs as fast as the official code and loads its state_dicts unchanged. The sinc filter
bank is a plain tensor attribute (absent from the state_dict), cloned on every forward and applied by a
direct ``conv1d`` over (batch, 1, samples); the 2-D encoder runs in NCHW; every graph-attention layer
materialises the (batch, nodes, nodes, dim) pairwise products. Kept as in the official code: the first
convolution of each residual block reads the block's raw input (the BatchNorm + SELU result before it is
computed and thrown away), and the master nodes enter the first heterogeneous layers unexpanded.
"""
from __future__ import annotations

import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

#: The model_config of the official configs (config/AASIST.conf, config/AASIST-L.conf; ASVspoof 5's
#: AASIST_ASVspoof5.conf is the AASIST network).
CONFIGS = {
    "aasist": {"first_conv": 128, "filts": [70, [1, 32], [32, 32], [32, 64], [64, 64]], "gat_dims": [64, 32],
               "pool_ratios": [0.5, 0.7, 0.5, 0.5], "temperatures": [2.0, 2.0, 100.0, 100.0]},
    "aasist-l": {"first_conv": 128, "filts": [70, [1, 32], [32, 32], [32, 24], [24, 24]], "gat_dims": [24, 32],
                 "pool_ratios": [0.4, 0.5, 0.7, 0.5], "temperatures": [2.0, 2.0, 100.0, 100.0]},
}
SAMPLES = 64600  # the official input: the first 64,600 samples (about 4 s at 16 kHz)


def _xavier(*shape) -> nn.Parameter:
    weight = nn.Parameter(torch.empty(*shape))
    nn.init.xavier_normal_(weight)
    return weight


def _pairwise_products(x):
    """(batch, node, dim) -> (batch, node, node, dim) of x_i * x_j, through an expanded view and its transpose."""
    n = x.size(1)
    rows = x.unsqueeze(2).expand(-1, -1, n, -1)
    return rows * rows.transpose(1, 2)


def _node_batchnorm(bn, x):
    shape = x.size()
    return bn(x.view(-1, shape[-1])).view(shape)


class _RefGraphAttention(nn.Module):
    def __init__(self, in_dim, out_dim, temperature=1.0):
        super().__init__()
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = _xavier(out_dim, 1)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(p=0.2)
        self.act = nn.SELU(inplace=True)
        self.temp = temperature

    def forward(self, x):
        x = self.input_drop(x)
        scores = torch.matmul(torch.tanh(self.att_proj(_pairwise_products(x))), self.att_weight) / self.temp
        weights = F.softmax(scores, dim=-2)
        x = self.proj_with_att(torch.matmul(weights.squeeze(-1), x)) + self.proj_without_att(x)
        return self.act(_node_batchnorm(self.bn, x))


class _RefHeteroAttention(nn.Module):
    def __init__(self, in_dim, out_dim, temperature=1.0):
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_projM = nn.Linear(in_dim, out_dim)
        self.att_weight11 = _xavier(out_dim, 1)
        self.att_weight22 = _xavier(out_dim, 1)
        self.att_weight12 = _xavier(out_dim, 1)
        self.att_weightM = _xavier(out_dim, 1)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_attM = nn.Linear(in_dim, out_dim)
        self.proj_without_attM = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(p=0.2)
        self.act = nn.SELU(inplace=True)
        self.temp = temperature

    def forward(self, x1, x2, master=None):
        n1, n2 = x1.size(1), x2.size(1)
        x = torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1)
        if master is None:
            master = torch.mean(x, dim=1, keepdim=True)
        x = self.input_drop(x)
        weights = self._node_weights(x, n1)
        master = self._master_update(x, master)
        x = self.proj_with_att(torch.matmul(weights.squeeze(-1), x)) + self.proj_without_att(x)
        x = self.act(_node_batchnorm(self.bn, x))
        return x.narrow(1, 0, n1), x.narrow(1, n1, n2), master

    def _node_weights(self, x, n1):
        hidden = torch.tanh(self.att_proj(_pairwise_products(x)))
        # one score vector per pair of node types, written block by block into a zero board
        board = torch.zeros_like(hidden[:, :, :, 0]).unsqueeze(-1)
        board[:, :n1, :n1, :] = torch.matmul(hidden[:, :n1, :n1, :], self.att_weight11)
        board[:, n1:, n1:, :] = torch.matmul(hidden[:, n1:, n1:, :], self.att_weight22)
        board[:, :n1, n1:, :] = torch.matmul(hidden[:, :n1, n1:, :], self.att_weight12)
        board[:, n1:, :n1, :] = torch.matmul(hidden[:, n1:, :n1, :], self.att_weight12)
        return F.softmax(board / self.temp, dim=-2)

    def _master_update(self, x, master):
        scores = torch.matmul(torch.tanh(self.att_projM(x * master)), self.att_weightM) / self.temp
        weights = F.softmax(scores, dim=-2)
        return self.proj_with_attM(torch.matmul(weights.squeeze(-1).unsqueeze(1), x)) + self.proj_without_attM(master)


class _RefGraphPool(nn.Module):
    def __init__(self, ratio, in_dim, p):
        super().__init__()
        self.k = ratio
        self.sigmoid = nn.Sigmoid()
        self.proj = nn.Linear(in_dim, 1)
        self.drop = nn.Dropout(p=p) if p > 0 else nn.Identity()

    def forward(self, h):
        scores = self.sigmoid(self.proj(self.drop(h)))
        keep = max(int(h.size(1) * self.k), 1)
        _, idx = torch.topk(scores, keep, dim=1)
        return torch.gather(h * scores, 1, idx.expand(-1, -1, h.size(2)))


class _RefSinc(nn.Module):
    """Fixed Mel-spaced band-pass filters (numpy sinc and Hamming window), a plain attribute cloned per forward."""

    def __init__(self, n_filters, taps, sample_rate=16000):
        super().__init__()
        self.n_filters, self.taps, self.sample_rate = n_filters, taps + 1 - taps % 2, sample_rate
        hz_grid = int(sample_rate / 2) * np.linspace(0, 1, 257)
        mel = 2595 * np.log10(1 + hz_grid / 700)
        edges = 700 * (10 ** (np.linspace(mel.min(), mel.max(), n_filters + 1) / 2595) - 1)
        support = torch.arange(-(self.taps - 1) / 2, (self.taps - 1) / 2 + 1)
        self.band_pass = torch.zeros(n_filters, self.taps)
        for i in range(n_filters):
            low, high = edges[i], edges[i + 1]
            ideal = (2 * high / sample_rate) * np.sinc(2 * high * support / sample_rate) \
                - (2 * low / sample_rate) * np.sinc(2 * low * support / sample_rate)
            self.band_pass[i, :] = torch.Tensor(np.hamming(self.taps)) * torch.Tensor(ideal)

    def forward(self, x, mask=False):
        filters = self.band_pass.clone().to(x.device)
        if mask:  # the official frequency augmentation: zero up to 19 adjacent bands
            width = int(np.random.uniform(0, 20))
            start = random.randint(0, filters.shape[0] - width)
            filters[start:start + width, :] = 0
        return F.conv1d(x, filters.view(self.n_filters, 1, self.taps))


class _RefResidual(nn.Module):
    def __init__(self, channels, first=False):
        super().__init__()
        c_in, c_out = channels
        self.first = first
        if not first:
            self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, kernel_size=(2, 3), padding=(1, 1))
        self.selu = nn.SELU(inplace=True)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, kernel_size=(2, 3), padding=(0, 1))
        self.downsample = c_in != c_out
        if self.downsample:
            self.conv_downsample = nn.Conv2d(c_in, c_out, kernel_size=(1, 3), padding=(0, 1))
        self.mp = nn.MaxPool2d((1, 3))

    def forward(self, x):
        if not self.first:
            self.selu(self.bn1(x))  # computed and unused, as in the official code (conv1 reads x)
        out = self.conv2(self.selu(self.bn2(self.conv1(x))))
        out += self.conv_downsample(x) if self.downsample else x
        return self.mp(out)


class ReferenceAASIST(nn.Module):
    """The official AASIST ``Model``: forward(x, Freq_aug=False) -> (last_hidden, logits)."""

    def __init__(self, config: dict):
        super().__init__()
        filts, gat, ratios, temps = config["filts"], config["gat_dims"], config["pool_ratios"], config["temperatures"]
        self.conv_time = _RefSinc(filts[0], config["first_conv"])
        self.first_bn = nn.BatchNorm2d(1)
        self.drop = nn.Dropout(0.5, inplace=True)
        self.drop_way = nn.Dropout(0.2, inplace=True)
        self.selu = nn.SELU(inplace=True)
        blocks = [(filts[1], True), (filts[2], False), (filts[3], False)] + [(filts[4], False)] * 3
        self.encoder = nn.Sequential(*(nn.Sequential(_RefResidual(c, first)) for c, first in blocks))
        self.pos_S = nn.Parameter(torch.randn(1, 23, filts[-1][-1]))
        self.master1 = nn.Parameter(torch.randn(1, 1, gat[0]))
        self.master2 = nn.Parameter(torch.randn(1, 1, gat[0]))
        self.GAT_layer_S = _RefGraphAttention(filts[-1][-1], gat[0], temps[0])
        self.GAT_layer_T = _RefGraphAttention(filts[-1][-1], gat[0], temps[1])
        self.HtrgGAT_layer_ST11 = _RefHeteroAttention(gat[0], gat[1], temps[2])
        self.HtrgGAT_layer_ST12 = _RefHeteroAttention(gat[1], gat[1], temps[2])
        self.HtrgGAT_layer_ST21 = _RefHeteroAttention(gat[0], gat[1], temps[2])
        self.HtrgGAT_layer_ST22 = _RefHeteroAttention(gat[1], gat[1], temps[2])
        self.pool_S = _RefGraphPool(ratios[0], gat[0], 0.3)
        self.pool_T = _RefGraphPool(ratios[1], gat[0], 0.3)
        self.pool_hS1 = _RefGraphPool(ratios[2], gat[1], 0.3)
        self.pool_hT1 = _RefGraphPool(ratios[2], gat[1], 0.3)
        self.pool_hS2 = _RefGraphPool(ratios[2], gat[1], 0.3)
        self.pool_hT2 = _RefGraphPool(ratios[2], gat[1], 0.3)
        self.out_layer = nn.Linear(5 * gat[1], 2)

    def front_end(self, x, freq_aug=False):
        """Sinc filter bank, |x|, 3x3 max-pool, BatchNorm, SELU: (batch, samples) -> (batch, 1, 23, frames)."""
        x = self.conv_time(x.unsqueeze(1), mask=freq_aug).unsqueeze(dim=1)
        return self.selu(self.first_bn(F.max_pool2d(torch.abs(x), (3, 3))))

    def graph_stages(self, e):
        """Graph attention from the encoder's (batch, channels, 23, frames) map to (last_hidden, logits)."""
        spectral, _ = torch.max(torch.abs(e), dim=3)
        out_S = self.pool_S(self.GAT_layer_S(spectral.transpose(1, 2) + self.pos_S))
        temporal, _ = torch.max(torch.abs(e), dim=2)
        out_T = self.pool_T(self.GAT_layer_T(temporal.transpose(1, 2)))
        # the official code expands master1/master2 to the batch but passes the (1, 1, dim) parameters
        branches = []
        for first, pool_s, pool_t, second, master in (
                (self.HtrgGAT_layer_ST11, self.pool_hS1, self.pool_hT1, self.HtrgGAT_layer_ST12, self.master1),
                (self.HtrgGAT_layer_ST21, self.pool_hS2, self.pool_hT2, self.HtrgGAT_layer_ST22, self.master2)):
            t, s, m = first(out_T, out_S, master=master)
            s, t = pool_s(s), pool_t(t)
            t_aug, s_aug, m_aug = second(t, s, master=m)
            branches.append((t + t_aug, s + s_aug, m + m_aug))
        (t1, s1, m1), (t2, s2, m2) = branches
        t1, t2, s1, s2, m1, m2 = (self.drop_way(v) for v in (t1, t2, s1, s2, m1, m2))
        out_T, out_S, master = torch.max(t1, t2), torch.max(s1, s2), torch.max(m1, m2)
        t_max, _ = torch.max(torch.abs(out_T), dim=1)
        s_max, _ = torch.max(torch.abs(out_S), dim=1)
        hidden = torch.cat([t_max, torch.mean(out_T, dim=1), s_max, torch.mean(out_S, dim=1), master.squeeze(1)],
                           dim=1)
        hidden = self.drop(hidden)
        return hidden, self.out_layer(hidden)

    def forward(self, x, Freq_aug=False):  # noqa: N803 (the official keyword)
        return self.graph_stages(self.encoder(self.front_end(x, Freq_aug)))
