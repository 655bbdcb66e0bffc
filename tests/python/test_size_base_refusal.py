"""Two time dims RETURNN derived along different paths are declared one by reinterpret_data with
size_base, which hands its dynamic axes over one to one (RETURNN asserts equal counts). Where a
mask over one time meets attention scores over the time and the keys' copy of it (transformers'
Speech2Text encoder: a mask made over its conv front end's output), the counts differ: the
lowering refuses that op, naming it and its source line (exit 2, nothing written), where before
the conversion passed every check of ours and real RETURNN refused the layer."""
import subprocess

import torch


class Speech2TextEncoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        from transformers import Speech2TextConfig, Speech2TextModel
        config = Speech2TextConfig(d_model=32, encoder_layers=1, encoder_attention_heads=4, encoder_ffn_dim=64,
                                   input_feat_per_channel=20, conv_channels=32, decoder_layers=1, vocab_size=50)
        self.encoder = Speech2TextModel(config).encoder

    def forward(self, features):
        return self.encoder(features).last_hidden_state


def test_operands_with_different_dynamic_axis_counts_are_refused(pt2returnn, tmp_path):
    torch.manual_seed(0)
    program = torch.export.export(Speech2TextEncoder().eval(), (torch.randn(1, 40, 20),),
                                  dynamic_shapes=({1: torch.export.Dim.AUTO},))
    torch.export.save(program, str(tmp_path / "speech2text.pt2"))
    out = tmp_path / "out"
    result = subprocess.run([pt2returnn, "convert", str(tmp_path / "speech2text.pt2"), "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "with 2 and 1 dynamic axes" in result.stderr and "size_base" in result.stderr, result.stderr
    assert "modeling_speech_to_text.py" in result.stderr, result.stderr
    assert not out.exists()
