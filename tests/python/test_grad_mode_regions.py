"""Programs with a region that changes the grad mode: `with torch.no_grad():` in a forward, a
forward decorated with @torch.no_grad() (as transformers' sinusoidal position embeddings are), a
region with grad on inside one with grad off (which torch.export writes as two calls). torch.export keeps each region as a call of
torch.ops.higher_order.wrap_with_set_grad_enabled whose graph the archive holds inline; the core
reads the region's nodes in place of the call (core/load/pt2_archive.c, "subgraphs"). Each model
converts with every per-layer check passing and matches PyTorch in real RETURNN with both configs
at two lengths and on a padded batch; all RETURNN runs in one process."""
import torch
import torch.nn as nn

from conftest import ReturnnCatalogue


class NoGradBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(16, 16), nn.Linear(16, 16)

    def forward(self, x):
        h = self.a(x)
        with torch.no_grad():
            g = torch.tanh(self.b(h)) * 2
        return h + g


class SinusoidalPositions(nn.Module):
    """Sine and cosine of each frame's index at a range of frequencies, computed without grad."""

    def __init__(self, dim):
        super().__init__()
        self.register_buffer("inverse_frequency", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)))

    @torch.no_grad()
    def forward(self, x):
        positions = torch.arange(x.shape[1], dtype=torch.float32)
        angles = positions[:, None] * self.inverse_frequency[None, :]
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class WithPositions(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj, self.positions = nn.Linear(16, 16), SinusoidalPositions(16)

    def forward(self, x):
        return self.proj(x) + self.positions(x)


class NestedRegions(NoGradBlock):
    """A region with grad on inside one with grad off: the export ends the outer region where the
    inner begins and calls it again after, values of the first call read by the second."""

    def forward(self, x):
        h = self.a(x)
        with torch.no_grad():
            g = self.b(h)
            with torch.enable_grad():
                g = torch.sigmoid(g) * g
            g = g - h
        return h + g


# name: (model, how many grad-mode calls the exported graph has at its top)
MODELS = {"no_grad_block": (NoGradBlock, 1), "sinusoidal_positions": (WithPositions, 1), "nested_regions": (NestedRegions, 2)}


def test_grad_mode_regions_convert_and_match_pytorch_in_real_returnn(pt2returnn, tmp_path):
    catalogue = ReturnnCatalogue(pt2returnn, tmp_path, "grad_mode")
    for name, (make, calls) in MODELS.items():
        torch.manual_seed(3)
        model = make().eval()
        example = torch.randn(2, 24, 16)
        program = torch.export.export(model, (example,), dynamic_shapes=({1: torch.export.Dim("time", min=4, max=300)},))
        targets = [str(n.target) for n in program.graph.nodes if n.op == "call_function"]
        assert targets.count("wrap_with_set_grad_enabled") == calls, (name, targets)
        torch.export.save(program, str(tmp_path / f"{name}.pt2"))
        report = catalogue.add(name, tmp_path / f"{name}.pt2", model, example, 1, (24, 37))
        if report is not None:  # every op of the region was lowered and checked
            torch_ops = [layer["op"] for layer in report["layers"]]
            assert "aten.linear.default" in torch_ops, (name, torch_ops)
    catalogue.check()
