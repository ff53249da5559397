"""AASIST (Jung et al., ICASSP 2022): a fixed Mel sinc front end, a 2-D residual encoder over
(filter band, time), spectral and temporal graph attention, two branches of heterogeneous stacking graph
attention (HS-GAL) with a master node, the element-wise maximum of the branches (max graph operation) and a
max/mean readout.

The layer names are those of the official ``models/AASIST.py`` (clovaai/aasist; the ASVspoof 5 baseline uses
the same file), so the official ``state_dict`` files load as saved: ``conv_time`` (no parameters),
``first_bn``, ``encoder.{0..5}.0.{bn1,conv1,bn2,conv2,conv_downsample}``, ``pos_S``, ``master1``, ``master2``,
``GAT_layer_{S,T}``, ``HtrgGAT_layer_ST{11,12,21,22}``, ``pool_{S,T,hS1,hT1,hS2,hT2}``, ``out_layer``.

Two facts of the official forward are kept because the published weights depend on them:
* a residual block's ``conv1`` reads the block input itself; ``bn1`` exists (its parameters are in the files
  and in the parameter count) but its output is discarded, so it is not computed here (it never changes an
  output; the official code only updates its running statistics in training);
* the two HS-GAL branches are merged node by node (``max`` of tensors whose nodes were ordered by top-k), so
  the graph pooling keeps top-k's descending order.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .fast_ops import conv2d_cl, correlate_fft, first_block_eval, fold_batch_norm, max_pool_time, sinc_band_pool

#: freq_aug masks a band of at most this many sinc filters (official: ``int(uniform(0, 20))``).
FREQ_AUG_MAX_BAND = 20


@dataclass(frozen=True)
class AASISTConfig:
    """Architecture of one AASIST network (defaults: the official ``config/AASIST.conf``)."""

    sinc_filters: int = 70
    sinc_taps: int = 128                      # forced odd (129), as the official CONV does
    encoder_channels: tuple = (32, 32, 64, 64)  # blocks 0, 1, 2 and 3-5 (official filts[1:] outputs)
    gat_dims: tuple = (64, 32)
    pool_ratios: tuple = (0.5, 0.7, 0.5, 0.5)  # S, T, HS-GAL (the fourth is in the configs but unused)
    temperatures: tuple = (2.0, 2.0, 100.0, 100.0)  # S, T, HS-GAL (the fourth unused, as in the official)
    freq_aug: bool = False                    # mask a random band of sinc filters while training
    sample_rate: int = 16000

    def __post_init__(self):
        for name, length in (("encoder_channels", 4), ("gat_dims", 2), ("pool_ratios", 4), ("temperatures", 4)):
            value = tuple(getattr(self, name))
            if len(value) != length:
                raise ValueError(f"{name} needs {length} values, got {len(value)}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "encoder_channels", tuple(int(c) for c in self.encoder_channels))
        object.__setattr__(self, "gat_dims", tuple(int(c) for c in self.gat_dims))
        object.__setattr__(self, "pool_ratios", tuple(float(r) for r in self.pool_ratios))
        object.__setattr__(self, "temperatures", tuple(float(t) for t in self.temperatures))
        if self.sinc_taps % 2 == 0:
            object.__setattr__(self, "sinc_taps", self.sinc_taps + 1)
        if self.sinc_filters < 3:
            raise ValueError("sinc_filters must be at least 3 (the front end pools 3 bands into one node)")

    @property
    def spectral_nodes(self) -> int:
        """Nodes of the spectral graph: the filter bands after the front end's 3x3 max pooling."""
        return self.sinc_filters // 3

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


#: The published networks: AASIST 297,866 parameters, AASIST-L 85,306; the ASVspoof 5 baseline is AASIST.
VARIANTS = {
    "aasist": AASISTConfig(),
    "aasist-l": AASISTConfig(encoder_channels=(32, 32, 24, 24), gat_dims=(24, 32), pool_ratios=(0.4, 0.5, 0.7, 0.5)),
    "asvspoof5": AASISTConfig(),
}


# ---- sinc front end ------------------------------------------------------------------------------
def mel_band_edges(n_filters: int, sample_rate: int) -> np.ndarray:
    """``n_filters + 1`` edges (Hz) evenly spaced on the Mel scale between 0 and ``sample_rate / 2``."""
    top = 2595.0 * np.log10(1.0 + (sample_rate // 2) / 700.0)
    mels = np.linspace(0.0, top, n_filters + 1)
    return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)


def mel_sinc_filters(n_filters: int, taps: int, sample_rate: int) -> torch.Tensor:
    """Hamming-windowed ideal band-pass filters between consecutive Mel edges, (n_filters, taps) float32.

    The official code evaluates the sinc arguments on a float32 tap grid; doing the same keeps the filters
    equal to its own to the last bit or two."""
    edges = mel_band_edges(n_filters, sample_rate)
    n = torch.arange(-(taps - 1) / 2, (taps - 1) / 2 + 1)  # float32 tap offsets
    window = np.hamming(taps)
    rows = []
    for low, high in zip(edges[:-1], edges[1:]):
        ideal = [2 * f / sample_rate * np.sinc((2 * f * n / sample_rate).numpy()) for f in (high, low)]
        rows.append(torch.from_numpy(window).float() * torch.from_numpy(np.asarray(ideal[0] - ideal[1])).float())
    return torch.stack(rows)


class SincFrontEnd(nn.Module):
    """Fixed band-pass filter bank (not learned; a non-persistent buffer, so not in the state_dict)."""

    def __init__(self, n_filters: int, taps: int, sample_rate: int):
        super().__init__()
        self.register_buffer("band_pass", mel_sinc_filters(n_filters, taps, sample_rate), persistent=False)

    #: Filters computed by ``forward``: all (None) or the first n (the model's 3x3 pooling reads 3 * (n // 3)).
    computed_filters: int | None = None

    def forward(self, x: torch.Tensor, mask_band: bool = False) -> torch.Tensor:
        """(batch, 1, samples) -> (batch, filters, samples - taps + 1). ``mask_band``: zero a random band of
        0..19 consecutive filters, the same for the whole batch (the official freq_aug; drawn over all the
        filters, also those not computed)."""
        filters = self.band_pass
        if mask_band:
            n = filters.shape[0]
            width = int(torch.randint(0, min(FREQ_AUG_MAX_BAND, n + 1), ()))
            start = int(torch.randint(0, n - width + 1, ()))
            keep = torch.ones(n, 1, device=filters.device, dtype=filters.dtype)
            keep[start:start + width] = 0
            filters = filters * keep
        filters = filters[:self.computed_filters]
        if not self.training and x.dtype == torch.float32 and not torch.onnx.is_in_onnx_export():
            # evaluation: by FFT (see fast_ops); ONNX export: the direct convolution
            return correlate_fft(x, filters)
        return F.conv1d(x, filters.unsqueeze(1).to(x.dtype))


# ---- 2-D residual encoder ------------------------------------------------------------------------
class ResidualBlock(nn.Module):
    """Conv(2x3) -> BN -> SELU -> Conv(2x3), plus the input (through a 1x3 conv when channels change), then
    max pooling over 3 time steps. The (2, 3) kernels with padding (1, 1) then (0, 1) keep the band count."""

    def __init__(self, in_channels: int, out_channels: int, first: bool = False):
        super().__init__()
        if not first:
            self.bn1 = nn.BatchNorm2d(in_channels)  # in the official files; its output is discarded there
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=(2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=(2, 3), padding=(0, 1))
        if in_channels != out_channels:
            self.conv_downsample = nn.Conv2d(in_channels, out_channels, kernel_size=(1, 3), padding=(0, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            # the official layout (NCHW): channels-last runs the backward convolutions slower here
            out = self.conv2(F.selu(self.bn2(self.conv1(x)), inplace=True))
            # conv2's output is not needed by its backward: the shortcut is added in place
            out += self.conv_downsample(x) if hasattr(self, "conv_downsample") else x
            return F.max_pool2d(out, (1, 3))
        # evaluation: channels-last, bn2 folded into conv1 (see fast_ops)
        conv1 = fold_batch_norm(self.conv1, self.bn2)
        if x.shape[1] == 1 and hasattr(self, "conv_downsample") and not torch.onnx.is_in_onnx_export():
            # the first block: the shortcut is one more input channel of conv2 (ONNX export: plain layers)
            return max_pool_time(first_block_eval(conv1, self.conv2, self.conv_downsample, x), 3)
        out = F.selu(conv2d_cl(x, *conv1, (1, 1)), inplace=True)
        out = conv2d_cl(out, self.conv2.weight, self.conv2.bias, (0, 1))
        if hasattr(self, "conv_downsample"):
            out += conv2d_cl(x, self.conv_downsample.weight, self.conv_downsample.bias, (0, 1))
        else:
            out += x
        return max_pool_time(out, 3)


# ---- graph attention -----------------------------------------------------------------------------
def _new_attention_vector(dim: int) -> nn.Parameter:
    weight = nn.Parameter(torch.empty(dim, 1))
    nn.init.xavier_normal_(weight)
    return weight


def _node_batch_norm(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over every node of every graph (nodes are samples, features are channels)."""
    return bn(x.reshape(-1, x.shape[-1])).reshape_as(x)  # reshape_as: ONNX export keeps the batch dynamic


class GraphAttentionLayer(nn.Module):
    """Graph attention over a fully connected graph: edge weights from the element-wise product of the two
    node features (tanh projection, attention vector, softmax over neighbours at a temperature)."""

    def __init__(self, in_dim: int, out_dim: int, temperature: float = 1.0):
        super().__init__()
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = _new_attention_vector(out_dim)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(p=0.2)
        self.temperature = temperature

    #: Opt-in for explanations (``spoofbench.explain``): when True, ``forward`` keeps its attention matrix
    #: (batch, i, j), detached, in ``last_attention``. Off by default: nothing is kept and no output changes.
    record_attention: bool = False
    last_attention: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, nodes, in_dim) -> (batch, nodes, out_dim)."""
        x = self.input_drop(x)
        pairs = x.unsqueeze(2) * x.unsqueeze(1)  # (batch, i, j, dim): node i times node j
        logits = torch.matmul(torch.tanh(self.att_proj(pairs)), self.att_weight).squeeze(-1)
        attention = torch.softmax(logits / self.temperature, dim=-1)  # over the neighbours j of node i
        if self.record_attention:
            self.last_attention = attention.detach()
        out = self.proj_with_att(torch.matmul(attention, x)) + self.proj_without_att(x)
        return F.selu(_node_batch_norm(self.bn, out))


class HeteroGraphAttentionLayer(nn.Module):
    """HS-GAL: graph attention over the union of two node types (temporal, spectral) with one attention
    vector per edge type (within type 1, within type 2, across), and a master node that attends to all."""

    def __init__(self, in_dim: int, out_dim: int, temperature: float = 1.0):
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_projM = nn.Linear(in_dim, out_dim)
        self.att_weight11 = _new_attention_vector(out_dim)
        self.att_weight22 = _new_attention_vector(out_dim)
        self.att_weight12 = _new_attention_vector(out_dim)
        self.att_weightM = _new_attention_vector(out_dim)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_attM = nn.Linear(in_dim, out_dim)
        self.proj_without_attM = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(p=0.2)
        self.temperature = temperature

    record_attention: bool = False   # see GraphAttentionLayer.record_attention
    last_attention: torch.Tensor | None = None

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, master: torch.Tensor):
        """Nodes of type 1 (batch, n1, in_dim) and type 2 (batch, n2, in_dim), master (batch or 1, 1, in_dim)
        -> the updated (type 1, type 2, master), each with out_dim features."""
        n1 = x1.shape[1]
        x = self.input_drop(torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1))
        master = self._update_master(x, master)

        hidden = torch.tanh(self.att_proj(x.unsqueeze(2) * x.unsqueeze(1)))  # (batch, i, j, out_dim)
        same1 = torch.matmul(hidden[:, :n1, :n1], self.att_weight11)
        same2 = torch.matmul(hidden[:, n1:, n1:], self.att_weight22)
        across_12 = torch.matmul(hidden[:, :n1, n1:], self.att_weight12)
        across_21 = torch.matmul(hidden[:, n1:, :n1], self.att_weight12)
        logits = torch.cat([torch.cat([same1, across_12], dim=2), torch.cat([across_21, same2], dim=2)], dim=1)
        attention = torch.softmax(logits.squeeze(-1) / self.temperature, dim=-1)
        if self.record_attention:  # opt-in, as GraphAttentionLayer's: nodes of type 1 first, then type 2
            self.last_attention = attention.detach()

        out = self.proj_with_att(torch.matmul(attention, x)) + self.proj_without_att(x)
        out = F.selu(_node_batch_norm(self.bn, out))
        return out[:, :n1], out[:, n1:], master

    def _update_master(self, x: torch.Tensor, master: torch.Tensor) -> torch.Tensor:
        logits = torch.matmul(torch.tanh(self.att_projM(x * master)), self.att_weightM)  # (batch, nodes, 1)
        attention = torch.softmax(logits / self.temperature, dim=1)
        return self.proj_with_attM(torch.matmul(attention.transpose(1, 2), x)) + self.proj_without_attM(master)


class GraphPool(nn.Module):
    """Keep the ``ratio`` most salient nodes (sigmoid of a linear score), scaled by their score, in
    descending order of score."""

    def __init__(self, ratio: float, in_dim: int, dropout: float = 0.3):
        super().__init__()
        self.ratio = ratio
        self.proj = nn.Linear(in_dim, 1)
        self.drop = nn.Dropout(p=dropout) if dropout > 0 else nn.Identity()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        scores = torch.sigmoid(self.proj(self.drop(h)))  # (batch, nodes, 1)
        keep = max(int(h.shape[1] * self.ratio), 1)
        index = torch.topk(scores, keep, dim=1).indices.expand(-1, -1, h.shape[-1])
        return torch.gather(h * scores, 1, index)


# ---- the network ---------------------------------------------------------------------------------
class AASISTModel(nn.Module):
    """(batch, samples) float waveforms -> (batch, 2) logits [spoof, bona fide] (the official ``output``)."""

    def __init__(self, config: AASISTConfig | None = None):
        super().__init__()
        cfg = self.config = config or AASISTConfig()
        c0, c1, c2, c3 = cfg.encoder_channels
        gat_in, gat_out = cfg.gat_dims
        temp_s, temp_t, temp_h, _ = cfg.temperatures
        ratio_s, ratio_t, ratio_h, _ = cfg.pool_ratios

        self.conv_time = SincFrontEnd(cfg.sinc_filters, cfg.sinc_taps, cfg.sample_rate)
        self.conv_time.computed_filters = 3 * cfg.spectral_nodes
        self.first_bn = nn.BatchNorm2d(1)
        self.drop = nn.Dropout(0.5)
        self.drop_way = nn.Dropout(0.2)
        blocks = [ResidualBlock(1, c0, first=True), ResidualBlock(c0, c1), ResidualBlock(c1, c2),
                  ResidualBlock(c2, c3), ResidualBlock(c3, c3), ResidualBlock(c3, c3)]
        self.encoder = nn.Sequential(*(nn.Sequential(b) for b in blocks))

        self.pos_S = nn.Parameter(torch.randn(1, cfg.spectral_nodes, c3))
        self.master1 = nn.Parameter(torch.randn(1, 1, gat_in))
        self.master2 = nn.Parameter(torch.randn(1, 1, gat_in))
        self.GAT_layer_S = GraphAttentionLayer(c3, gat_in, temperature=temp_s)
        self.GAT_layer_T = GraphAttentionLayer(c3, gat_in, temperature=temp_t)
        self.HtrgGAT_layer_ST11 = HeteroGraphAttentionLayer(gat_in, gat_out, temperature=temp_h)
        self.HtrgGAT_layer_ST12 = HeteroGraphAttentionLayer(gat_out, gat_out, temperature=temp_h)
        self.HtrgGAT_layer_ST21 = HeteroGraphAttentionLayer(gat_in, gat_out, temperature=temp_h)
        self.HtrgGAT_layer_ST22 = HeteroGraphAttentionLayer(gat_out, gat_out, temperature=temp_h)
        self.pool_S = GraphPool(ratio_s, gat_in)
        self.pool_T = GraphPool(ratio_t, gat_in)
        self.pool_hS1 = GraphPool(ratio_h, gat_out)
        self.pool_hT1 = GraphPool(ratio_h, gat_out)
        self.pool_hS2 = GraphPool(ratio_h, gat_out)
        self.pool_hT2 = GraphPool(ratio_h, gat_out)
        self.out_layer = nn.Linear(5 * gat_out, 2)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, samples) -> encoder map (batch, channels, spectral nodes, frames)."""
        bands = self.config.spectral_nodes
        # The front end has no parameters: no gradient is kept through it (the waveform needs none), and
        # only the 3 * bands filters that the 3x3 pooling reads are computed (AASIST: 69 of 70).
        with torch.set_grad_enabled(torch.is_grad_enabled() and x.requires_grad):
            x = self.conv_time(x.unsqueeze(1), mask_band=self.training and self.config.freq_aug)
            x = sinc_band_pool(x, bands)
        return self.encoder(F.selu(self.first_bn(x), inplace=not self.training))

    def _branch(self, nodes_t, nodes_s, master, first, second, pool_s, pool_t):
        """One HS-GAL branch: a heterogeneous layer, graph pooling, a second layer added as a residual."""
        out_t, out_s, master = first(nodes_t, nodes_s, master)
        out_s, out_t = pool_s(out_s), pool_t(out_t)
        aug_t, aug_s, aug_m = second(out_t, out_s, master)
        return (self.drop_way(out_t + aug_t), self.drop_way(out_s + aug_s), self.drop_way(master + aug_m))

    def forward_with_hidden(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the 5 x gat_dims[1] readout before the output layer, the logits): the official ``forward``."""
        return self.graph_readout(self.encode(x))

    def graph_readout(self, encoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The graph half of the network: encoder map -> (readout, logits)."""
        magnitude = torch.abs(encoded)
        spectral = magnitude.amax(dim=3).transpose(1, 2) + self.pos_S   # max over time: one node per band
        temporal = magnitude.amax(dim=2).transpose(1, 2)                 # max over bands: one node per frame
        nodes_s = self.pool_S(self.GAT_layer_S(spectral))
        nodes_t = self.pool_T(self.GAT_layer_T(temporal))

        t1, s1, m1 = self._branch(nodes_t, nodes_s, self.master1, self.HtrgGAT_layer_ST11,
                                  self.HtrgGAT_layer_ST12, self.pool_hS1, self.pool_hT1)
        t2, s2, m2 = self._branch(nodes_t, nodes_s, self.master2, self.HtrgGAT_layer_ST21,
                                  self.HtrgGAT_layer_ST22, self.pool_hS2, self.pool_hT2)
        out_t, out_s, master = torch.maximum(t1, t2), torch.maximum(s1, s2), torch.maximum(m1, m2)

        hidden = torch.cat([torch.abs(out_t).amax(dim=1), out_t.mean(dim=1), torch.abs(out_s).amax(dim=1),
                            out_s.mean(dim=1), master.squeeze(1)], dim=1)
        return hidden, self.out_layer(self.drop(hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_hidden(x)[1]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def frames_after_encoder(n_samples: int, taps: int = 129) -> int:
    """Temporal nodes for an input of ``n_samples``: the front end's 3x pooling, then six 3x poolings."""
    frames = (n_samples - taps + 1) // 3
    for _ in range(6):
        frames //= 3
    return frames


__all__ = ["AASISTConfig", "AASISTModel", "GraphAttentionLayer", "GraphPool", "HeteroGraphAttentionLayer",
           "ResidualBlock", "SincFrontEnd", "VARIANTS", "count_parameters", "frames_after_encoder",
           "mel_band_edges", "mel_sinc_filters"]
