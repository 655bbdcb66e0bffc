"""Programs exported on one sequence whose views merge the batch with other axes, as their users
export them (an example of batch 1): the rows of [1, T, F] as [T, F] (OPT's feed-forward), the
heads of [T, 1, E] as [T, H, D] (fairseq's and F.multi_head_attention_forward's attention, which
WavLM runs; Bloom's queries and keys [B * H, T, D]; DeBERTa-v2's content-to-position bias). PyTorch's values then hold that one sequence; RETURNN's layers keep the batch (the map
has no axis for it: core/lower/axes.h, pt2_axes_hidden_batch), so that each sequence of a batch
gets what PyTorch gives for it alone. Each converts with every per-layer check passing and matches
PyTorch in real RETURNN with both configs at two lengths and on a padded batch of three sequences;
all RETURNN runs in one process. The binary before the hidden batch refused every one of them
("merge or split the batch")."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import ReturnnCatalogue
from test_lower_attention_masks import LastHidden


class RowsOfOneSequence(nn.Module):
    """OPT's feed-forward written out: the frames as rows [T, F], a norm, two linears and the
    residual, viewed back to the input's shape."""
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(8)
        self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 8)

    def forward(self, x):
        shape = x.shape
        rows = x.reshape(-1, x.size(-1))
        y = rows + self.fc2(torch.relu(self.fc1(self.norm(rows))))
        return y.view(shape) * 2


class TheOneSequence(nn.Module):
    """x[0] and x.squeeze(0) of the example's one sequence (the batch selected and squeezed: a view
    that hides it), a linear each, and [None] / unsqueeze(0) back."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 6)

    def forward(self, x):
        return self.proj(x[0]).unsqueeze(0) + torch.tanh(self.proj(x.squeeze(0)))[None]


class SequenceFirstAttention(nn.Module):
    """fairseq's multi-head attention written out: [T, B, E], the heads merged with the batch
    ([T, B * H, D], transposed to [B * H, T, D]), bmm, softmax, bmm, and [T, B, E] again."""
    def __init__(self, embed=16, heads=4):
        super().__init__()
        self.heads, self.head_dim = heads, embed // heads
        self.q, self.k, self.v, self.out = (nn.Linear(embed, embed) for _ in range(4))

    def forward(self, x):
        x = x.transpose(0, 1)  # [T, B, E]
        length, batch, embed = x.shape
        def heads(y):
            return y.contiguous().view(length, batch * self.heads, self.head_dim).transpose(0, 1)
        q, k, v = heads(self.q(x) * self.head_dim ** -0.5), heads(self.k(x)), heads(self.v(x))
        weights = F.softmax(torch.bmm(q, k.transpose(1, 2)), dim=-1)
        attended = torch.bmm(weights, v).transpose(0, 1).contiguous().view(length, batch, embed)
        return self.out(attended).transpose(0, 1)


class ContentToPosition(nn.Module):
    """DeBERTa-v2's disentangled content-to-position bias written out: the queries merged with
    the batch [1 * H, T, D] times the projected relative embeddings per head [H, D, 2k] (a
    constant of three axes, which the hidden batch meets as the queries' alone), gathered at
    bucketed relative positions expanded over the heads (an index broadcast along them); the
    buckets from int64 positions under sign and a constant torch.tensor(k - 1).type_as(them)."""
    def __init__(self, embed=16, heads=4, span=4):
        super().__init__()
        self.heads, self.head_dim, self.span = heads, embed // heads, span
        self.q, self.k = nn.Linear(embed, embed), nn.Linear(embed, embed)
        self.relative = nn.Parameter(torch.randn(2 * span, embed))
        self.position = nn.Linear(embed, embed)

    def forward(self, x):
        b, t, e = x.shape
        def heads(y):
            return y.view(b, -1, self.heads, self.head_dim).permute(0, 2, 1, 3).reshape(-1, y.shape[1], self.head_dim)
        q, k = heads(self.q(x)), heads(self.k(x))
        position_keys = heads(self.position(self.relative).unsqueeze(0)).repeat(b, 1, 1)  # [B * H, 2k, D]
        relative = torch.arange(t)[:, None] - torch.arange(t)[None, :]
        middle = torch.tensor(self.span - 1).type_as(relative)
        bucket = torch.where(relative.abs() < self.span, relative, middle * torch.sign(relative))
        index = torch.clamp(bucket + self.span, 0, 2 * self.span - 1)
        c2p = torch.bmm(q, position_keys.transpose(-1, -2))
        c2p = torch.gather(c2p, dim=-1, index=index.unsqueeze(0).expand(q.shape[0], t, t))
        weights = torch.softmax(torch.bmm(q, k.transpose(-1, -2)) + c2p, dim=-1)
        attended = torch.bmm(weights, heads(x))
        return attended.view(b, self.heads, t, self.head_dim).permute(0, 2, 1, 3).reshape(b, t, e)


def opt_model():
    """transformers' OPTModel, small and random: its decoder layers' feed-forward runs on the rows."""
    from transformers import OPTConfig, OPTModel
    return LastHidden(OPTModel(OPTConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         ffn_dim=64, word_embed_proj_dim=32, max_position_embeddings=64)))


def bloom_model():
    """transformers' BloomModel, small and random: ALiBi, its slopes [H, 1, 1] times the keys'
    positions [T] (a constant of more axes than the data), added to the scores of the queries and
    keys merged with the batch by baddbmm (the positions' time met by the keys' copy of it)."""
    from transformers import BloomConfig, BloomModel
    return LastHidden(BloomModel(BloomConfig(vocab_size=50, hidden_size=32, n_layer=2, n_head=4)))


def wavlm_model():
    """transformers' WavLMModel, small and random: F.multi_head_attention_forward with its gated
    relative position bias, both [B * H, T, T]."""
    from transformers import WavLMConfig, WavLMModel
    return LastHidden(WavLMModel(WavLMConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                             intermediate_size=64, conv_dim=(16, 16), conv_stride=(5, 2),
                                             conv_kernel=(10, 3), num_conv_pos_embeddings=16,
                                             num_conv_pos_embedding_groups=4)))


def token_ids(size):
    return torch.randint(3, 50, size)


# name: (model, the input's sampler, the example's size, the time axis, other lengths)
MODELS = {
    "rows_of_one_sequence": (RowsOfOneSequence, torch.randn, (1, 20, 8), 1, (13, 33)),
    "the_one_sequence": (TheOneSequence, torch.randn, (1, 20, 8), 1, (13, 33)),
    "sequence_first_attention": (SequenceFirstAttention, torch.randn, (1, 20, 16), 1, (13, 33)),
    "content_to_position": (ContentToPosition, torch.randn, (1, 20, 16), 1, (13, 33)),
    "transformers_opt_model": (opt_model, token_ids, (1, 20), 1, (13, 33)),
    "transformers_bloom_model": (bloom_model, token_ids, (1, 20), 1, (13, 33)),
    "transformers_wavlm_model": (wavlm_model, torch.randn, (1, 1600), 1, (1200, 2000)),
}


def test_batch_merged_in_a_run_of_one_sequence_matches_pytorch_in_real_returnn(pt2returnn, tmp_path):
    catalogue = ReturnnCatalogue(pt2returnn, tmp_path, "batch_of_one")
    for name, (make, sample, size, time_axis, lengths) in MODELS.items():
        torch.manual_seed(5)
        model = make().eval()
        example = sample(size)
        program = torch.export.export(model, (example,), dynamic_shapes=({time_axis: torch.export.Dim.AUTO},))
        torch.export.save(program, str(tmp_path / f"{name}.pt2"))
        catalogue.add(name, tmp_path / f"{name}.pt2", model, example, time_axis, lengths, sample)
    catalogue.check()


class RowsAsOutput(nn.Module):
    """The rows [T, F] of the one sequence returned as they are: no axis of the output for the batch."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 5)

    def forward(self, x):
        return self.proj(x.reshape(-1, x.size(-1)))


def test_an_output_without_the_hidden_batch_is_refused_naming_the_fix(pt2returnn, tmp_path):
    import subprocess
    model, example = RowsAsOutput().eval(), torch.randn(1, 20, 8)
    program = torch.export.export(model, (example,), dynamic_shapes=({1: torch.export.Dim.AUTO},))
    torch.export.save(program, str(tmp_path / "rows.pt2"))
    run = subprocess.run([pt2returnn, "convert", str(tmp_path / "rows.pt2"), "-o", str(tmp_path / "out")],
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert "the program's output has no axis for the batch" in run.stderr and ".unsqueeze(0)" in run.stderr, run.stderr
    assert not (tmp_path / "out").exists()
