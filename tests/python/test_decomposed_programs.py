"""Programs after `ExportedProgram.run_decompositions()` (the core ATen opset, as users prepare a
program for other backends): linear becomes view -> addmm/mm -> view with the batch and the time
merged into one axis, batched matmul becomes expand -> view -> bmm -> view with the batch and the
heads merged. RETURNN cannot merge the batch with another axis, but the ops never needed it:
core/graph/recompose.c gives them back as linear/matmul on the unmerged values. transformers'
Whisper encoder layer and BERT layer, and an MLP, decomposed, convert with every per-layer check
passing and match PyTorch in real RETURNN with both configs at two lengths and on a padded batch;
all RETURNN runs in one process."""
import torch
import torch.nn as nn

from conftest import ReturnnCatalogue


class FirstOutput(nn.Module):
    """A transformers layer called as its model calls it, its hidden states returned."""

    def __init__(self, layer, **kwargs):
        super().__init__()
        self.layer = layer
        self.kwargs = kwargs

    def forward(self, x):
        y = self.layer(x, **self.kwargs)
        return y[0] if isinstance(y, tuple) else y


def whisper_layer():
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoderLayer
    return FirstOutput(WhisperEncoderLayer(WhisperConfig(d_model=32, encoder_attention_heads=2, encoder_ffn_dim=64)),
                       attention_mask=None)


def bert_layer():
    from transformers import BertConfig
    from transformers.models.bert.modeling_bert import BertLayer
    return FirstOutput(BertLayer(BertConfig(hidden_size=32, num_attention_heads=4, intermediate_size=64)))


def mlp():
    return nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 8, bias=False))


# name: (model, example [batch, time, features], ops the decomposed graph must contain)
MODELS = {
    "whisper_encoder_layer": (whisper_layer, (1, 24, 32), ["aten.addmm.default", "aten.mm.default", "aten.bmm.default"]),
    "bert_layer": (bert_layer, (1, 24, 32), ["aten.addmm.default"]),
    "mlp": (mlp, (2, 24, 16), ["aten.addmm.default", "aten.mm.default"]),
}


def test_decomposed_programs_convert_and_match_pytorch_in_real_returnn(pt2returnn, tmp_path):
    catalogue = ReturnnCatalogue(pt2returnn, tmp_path, "decomposed")
    for name, (make, shape, ops) in MODELS.items():
        torch.manual_seed(2)
        model = make().eval()
        example = torch.randn(*shape)
        program = torch.export.export(model, (example,), dynamic_shapes=({1: torch.export.Dim("time", min=4, max=300)},))
        program = program.run_decompositions()
        targets = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
        assert set(ops) <= targets and "aten.view.default" in targets, (name, sorted(targets))
        torch.export.save(program, str(tmp_path / f"{name}.pt2"))
        catalogue.add(name, tmp_path / f"{name}.pt2", model, example, 1, (24, 37))
    catalogue.check()
