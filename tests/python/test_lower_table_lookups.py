"""A constant table (an embedding's weight, a buffer) looked up at indices computed from the
input: learned absolute positions (nn.Embedding over arange(T)), a prediction embedded again
(embedding of an argmax), a buffer indexed by buckets computed from the data (table[idx]), and
transformers' BertModel on token ids (its position_ids buffer sliced to the length, its
token_type_ids buffer gathered at them) and RobertaModel (its position ids counted from the token
ids by a comparison and an integer cumsum) and GPT2Model (learned positions, a causal mask made
from positions), and the M2M100 and Marian encoders (sinusoidal tables under @torch.no_grad(),
M2M100's looked up at flattened ids). The table becomes a variable layer and RETURNN's gather
reads it at the index layer's values. Each
converts with every per-layer check passing and matches PyTorch in real RETURNN with both configs
at two lengths and on a padded batch (each sequence against PyTorch on it alone); all RETURNN
runs in one process."""
import torch
import torch.nn as nn

from conftest import ReturnnCatalogue


class LearnedPositions(nn.Module):
    def __init__(self):
        super().__init__()
        self.positions = nn.Embedding(300, 8)
        self.linear = nn.Linear(8, 8)

    def forward(self, x):
        return self.linear(x) + self.positions(torch.arange(x.shape[1]))


class EmbeddedPrediction(nn.Module):
    def __init__(self):
        super().__init__()
        self.classes = nn.Linear(8, 12)
        self.embedding = nn.Embedding(12, 6)

    def forward(self, x):
        return self.embedding(self.classes(x).argmax(-1))


class BucketedBuffer(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("table", torch.randn(10, 4))
        self.score = nn.Linear(8, 1)

    def forward(self, x):
        buckets = (torch.sigmoid(self.score(x)).squeeze(-1) * 9.99).long()  # [B, T] in 0..9
        return self.table[buckets] * 2


class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        from transformers import BertConfig, BertModel
        config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=64, max_position_embeddings=128)
        self.bert = BertModel(config, add_pooling_layer=False)

    def forward(self, ids):
        return self.bert(input_ids=ids).last_hidden_state


class Roberta(nn.Module):
    """transformers' RobertaModel: its position ids computed from the token ids
    (input_ids.ne(padding_idx) as int, cumsum over the time, times the mask, + padding_idx): a
    comparison of token ids (sparse data, made plain integers) and an integer cumsum (in int64)."""
    def __init__(self):
        super().__init__()
        from transformers import RobertaConfig, RobertaModel
        config = RobertaConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=64, max_position_embeddings=130, pad_token_id=1)
        self.roberta = RobertaModel(config, add_pooling_layer=False)

    def forward(self, ids):
        return self.roberta(input_ids=ids).last_hidden_state


class Gpt2(nn.Module):
    """transformers' GPT2Model: learned positions, its Conv1D projections (addmm with the weight as
    it is, recomposed), a key/value cache that starts empty, and the causal mask made from
    positions (kv_idx <= q_idx) into scaled_dot_product_attention."""
    def __init__(self):
        super().__init__()
        from transformers import GPT2Config, GPT2Model
        config = GPT2Config(vocab_size=50, n_embd=32, n_layer=2, n_head=4, n_positions=128, resid_pdrop=0.0,
                            embd_pdrop=0.0, attn_pdrop=0.0)
        self.gpt2 = GPT2Model(config)

    def forward(self, ids):
        return self.gpt2(input_ids=ids).last_hidden_state


class SinusoidalEncoder(nn.Module):
    """transformers' M2M100 or Marian encoder: sinusoidal positions under @torch.no_grad() (a
    grad-mode region in the export), M2M100's counted from the token ids and looked up as
    weights.index_select(0, ids.view(-1)).view(b, t, -1) (an embedding once recomposed)."""
    def __init__(self, family):
        super().__init__()
        import transformers
        config = getattr(transformers, f"{family}Config")(
            vocab_size=50, d_model=32, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=64,
            max_position_embeddings=130, pad_token_id=1, decoder_start_token_id=1, eos_token_id=2)
        self.encoder = getattr(transformers, f"{family}Model")(config).encoder

    def forward(self, ids):
        return self.encoder(input_ids=ids).last_hidden_state


def token_ids(size):
    return torch.randint(0, 50, size)


# name: (model, ops the export must contain, the input's sampler)
MODELS = {
    "learned_positions": (LearnedPositions, ["aten.embedding.default", "aten.arange.default"], torch.randn),
    "embedded_prediction": (EmbeddedPrediction, ["aten.embedding.default", "aten.argmax.default"], torch.randn),
    "bucketed_buffer": (BucketedBuffer, ["aten.index.Tensor"], torch.randn),
    "transformers_bert_model": (Bert, ["aten.slice.Tensor", "aten.gather.default", "aten.embedding.default"], token_ids),
    "transformers_roberta_model": (Roberta, ["aten.ne.Scalar", "aten.cumsum.default", "aten.embedding.default"],
                                   token_ids),
    "transformers_gpt2_model": (Gpt2, ["aten.addmm.default", "aten.le.Tensor", "aten.embedding.default"], token_ids),
    "transformers_m2m100_encoder": (lambda: SinusoidalEncoder("M2M100"),
                                    ["wrap_with_set_grad_enabled", "aten.embedding.default"], token_ids),
    "transformers_marian_encoder": (lambda: SinusoidalEncoder("Marian"), ["wrap_with_set_grad_enabled", "aten.embedding.default"],
                                    token_ids),
}


def test_table_lookups_convert_and_match_pytorch_in_real_returnn(pt2returnn, tmp_path):
    catalogue = ReturnnCatalogue(pt2returnn, tmp_path, "table_lookups")
    for name, (make, ops, sample) in MODELS.items():
        torch.manual_seed(4)
        model = make().eval()
        example = sample((2, 20, 8) if sample is torch.randn else (2, 20))
        program = torch.export.export(model, (example,), dynamic_shapes=({1: torch.export.Dim("time", min=4, max=128)},))
        targets = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
        assert set(ops) <= targets, (name, sorted(targets))
        torch.export.save(program, str(tmp_path / f"{name}.pt2"))
        report = catalogue.add(name, tmp_path / f"{name}.pt2", model, example, 1, (20, 33), sample)
        assert report is None or any(layer["class"] == "gather" for layer in report["layers"]), name
    catalogue.check()
