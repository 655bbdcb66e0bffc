"""Normalisations the op matrix does not reach: group norm with G groups of several channels
each (the channels split into groups, masked statistics, merged back), on 1-D and 2-D data with a
dynamic time, and the norms of a decomposed program (`ExportedProgram.run_decompositions()`, as
users run it for other backends): native_group_norm, native_layer_norm and
_native_batch_norm_legit_no_training. Each model converts with every per-layer check passing,
and matches PyTorch in real RETURNN with both configs at two lengths and on a padded batch (each
sequence against PyTorch on it alone); all RETURNN runs in one process."""
import torch
import torch.nn as nn

from conftest import ReturnnCatalogue


class Groups1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(6, 16, 3, padding=1)
        self.norm = nn.GroupNorm(4, 16)
        with torch.no_grad():  # not the identity affine of a fresh GroupNorm
            self.norm.weight.uniform_(0.5, 1.5)
            self.norm.bias.uniform_(-0.5, 0.5)

    def forward(self, x):
        return self.norm(self.conv(x) * 3 + 1)


class Groups2d(nn.Module):
    """[B, C, H, T] (a spectrogram's frequency H), two groups of 4 channels, no affine."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.norm = nn.GroupNorm(2, 8, affine=False)

    def forward(self, x):
        return self.norm(self.conv(x.unsqueeze(1)))


class ConvNorms(nn.Module):
    """Batch norm in eval, group norm, layer norm: decomposed, their native forms."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(6, 16, 3, padding=1)
        self.batch_norm = nn.BatchNorm1d(16)
        self.group_norm = nn.GroupNorm(8, 16)
        self.layer_norm = nn.LayerNorm(16)
        with torch.no_grad():
            self.batch_norm.running_mean.normal_()
            self.batch_norm.running_var.uniform_(0.5, 2.0)
            self.batch_norm.weight.uniform_(0.5, 1.5)

    def forward(self, x):
        y = torch.relu(self.batch_norm(self.conv(x)))
        return self.layer_norm(self.group_norm(y).transpose(1, 2))


# name: (model, example [batch, ..., time], time axis, decompose, ops the exported graph must contain)
MODELS = {
    "group_norm_4_of_16_channels": (Groups1d, (2, 6, 30), 2, False, ["aten.group_norm.default"]),
    "group_norm_2d_2_groups_no_affine": (Groups2d, (2, 5, 30), 2, False, ["aten.group_norm.default"]),
    "decomposed_batch_group_layer_norm": (ConvNorms, (2, 6, 30), 2, True,
                                          ["aten._native_batch_norm_legit_no_training.default",
                                           "aten.native_group_norm.default", "aten.native_layer_norm.default"]),
}


def test_norms_convert_and_match_pytorch_in_real_returnn(pt2returnn, tmp_path):
    catalogue = ReturnnCatalogue(pt2returnn, tmp_path, "norms")
    for name, (make, shape, time_axis, decompose, ops) in MODELS.items():
        torch.manual_seed(1)
        model = make().eval()
        example = torch.randn(*shape)
        program = torch.export.export(model, (example,),
                                      dynamic_shapes=({time_axis: torch.export.Dim("time", min=4, max=300)},))
        if decompose:
            program = program.run_decompositions()
        targets = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
        assert set(ops) <= targets, (name, sorted(targets))
        torch.export.save(program, str(tmp_path / f"{name}.pt2"))
        catalogue.add(name, tmp_path / f"{name}.pt2", model, example, time_axis, (30, 47))
    catalogue.check()
