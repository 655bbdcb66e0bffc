#!/usr/bin/env python3
"""Benchmark of `convert` (not a test): the whole conversion (load, reference run, per-layer
checks, emit, reload) as a multiple of one PyTorch forward of the same model on the same input,
measured in the same run, natively (1 thread, as PyTorch) and in WebAssembly under Node; with
the peak memory against the weights' bytes.

    .venv/bin/python bench/bench_convert.py [--repeat K] [--no-wasm] [--families] [--scale] [--scale-only]

Models: MelGAN-style generators with 384 and 512 channels (100 mel frames -> 25600 samples) and
a Transformer encoder layer (d=256, 4 heads, ff=2048, T=500). --families adds other families
(a BLSTM acoustic model, a 2-D convolutional front end, transformers' BERT encoder), whose layers
the interpreter runs through other code (recurrent units, 2-D convs, dot). --scale adds Transformer encoders
generated here (never committed): one of about 300M parameters (24 layers, d=1024, ff=4096,
T=64) natively, and under Node the largest of a ladder of sizes that converts.

Each conversion runs --repeat times, each run followed at once by PyTorch's forward, and the
ratios are the medians of those pairs (this machine's speed drifts by up to a third between
minutes, which a ratio of two separate measurements would carry). Wall time moves with the
machine's load (printed first), so the CPU time of each side is printed beside it (the
conversion runs on one thread; PyTorch is pinned to one). Then the same at 2 threads: native
`convert --threads 2` against PyTorch at 2 threads, and the WebAssembly threads build under Node
with one worker, against PyTorch's forward at 1 thread and at 2.
Under Node both the CLI as a process and the conversion call alone (in a process that has started
and loaded the WebAssembly module already) are printed. The call alone runs in a Node started with
--experimental-wasm-relaxed-simd, which Node 22 and Chromium have on by default (the library leaves
the flags of its process alone, and without relaxed SIMD its GEMM multiplies and adds unfused); the
CLI sets it in its own process. A second call in that process is printed too: V8 runs each
function's first calls as its baseline compiler made them and compiles the hot ones again while
the first conversion runs, so the second shows the conversion's cost apart from the engine's.
Memory: the peak resident size (GNU time) and the peak convert reports, against the weights'
bytes plus the largest set of values alive at once (report.json's peak_values_bytes).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_reference_run import BINARY, NODE_CLI, MelGANGenerator, median  # noqa: E402


def child(command):
    """Runs a command; returns (wall seconds, CPU seconds, peak resident bytes, output). The
    figures are the command's own: GNU time reports them (a child forked from this Python
    process would count torch's pages in its peak)."""
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "BENCH %U %S %M"] + command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    lines = result.stderr.strip().splitlines()
    if result.returncode != 0 or not lines or not lines[-1].startswith("BENCH "):
        raise RuntimeError(f"{' '.join(command[:3])} failed: {lines[-2:]}")
    user, system, peak_kib = lines[-1].split()[1:]
    return wall, float(user) + float(system), int(peak_kib) * 1024, result.stdout + "\n".join(lines[:-1])


def torch_forward(model, x, repeat, threads=1):
    """One forward at `threads` threads: best wall time and CPU time of `repeat` after a warm-up."""
    torch.set_num_threads(threads)
    walls, cpus = [], []
    with torch.no_grad():
        model(x)
        for _ in range(repeat):
            start, cpu = time.perf_counter(), time.process_time()
            model(x)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def export(model, x, time_axis, directory, name, exporter=None):
    pt2, x_path = os.path.join(directory, f"{name}.pt2"), os.path.join(directory, f"{name}.x.npy")
    shapes = ({time_axis: torch.export.Dim("time", min=4, max=4096)},)
    ep = (exporter or torch.export.export)(model, (x,), dynamic_shapes=shapes)
    torch.export.save(ep, pt2)
    np.save(x_path, x.numpy())
    return pt2, x_path


def steps(output):
    """Seconds of each step from the progress lines ("[layers] passed in 1.234s ...")."""
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"\[([\w-]+)\] (?:done|passed|FAILED) in ([0-9.]+)s", output)}


def mib(n):
    return f"{n / 2**20:7.1f} MiB"


_AT_REST = []


def resident_at_rest():
    """Peak resident bytes of the CLI that converts nothing (`pt2returnn --help`: its code, the
    shared libraries it maps, its stack), measured once: a floor under every conversion's peak,
    which for a model of a few MiB is a large part of it."""
    if not _AT_REST:
        _AT_REST.append(child([BINARY, "--help"])[2])
    return _AT_REST[0]


def print_memory(report, rss, indent="    "):
    """Peak memory against the goal's bound: weight bytes + the largest set of values alive at once
    (convert's reference run counts it, releasing each value after its last reader). The resident
    peak also above the process's own at rest."""
    weights, live, peak = report["weight_bytes"], report["peak_values_bytes"], report["peak_memory_bytes"]
    bound = weights + live
    rest = resident_at_rest()
    print(f"{indent}memory: weights {mib(weights)}, largest set of values alive at once {mib(live)}; "
          f"peak resident {mib(rss)} = {rss / bound:4.2f}x (weights + values alive), {rss / weights:4.2f}x the weights; "
          f"above the CLI's own at rest ({mib(rest).strip()}, `pt2returnn --help`) {mib(rss - rest)} = "
          f"{(rss - rest) / bound:4.2f}x; "
          f"peak reported by convert {mib(peak)} = {peak / bound:4.2f}x (weights + values alive)")


def paired(command, model, x, repeat, threads=1):
    """Each run of `command` followed at once by PyTorch's forward (the least of three): the
    ratio is taken pair by pair, so that the machine's drift (its speed moves by up to a third
    between minutes here) cancels. Returns the pairs' median ratios (wall, CPU), the median
    run's figures and the median forward."""
    pairs = []
    for _ in range(repeat):
        run = child(command)
        forward = torch_forward(model, x, 3, threads)
        pairs.append((run, forward))
    ratio_wall = median([run[0] / forward[0] for run, forward in pairs])
    ratio_cpu = median([run[1] / forward[1] for run, forward in pairs])
    run = sorted((run for run, _ in pairs), key=lambda r: r[1])[len(pairs) // 2]
    forward = (median([f[0] for _, f in pairs]), median([f[1] for _, f in pairs]))
    return ratio_wall, ratio_cpu, run, forward


def node_start(repeat, environment=None):
    """Wall seconds of Node starting and stopping with nothing to do (`node -e 0`), the least of
    `repeat`: a fixed part of the WebAssembly CLI's time that no conversion can shorten."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(["node", "-e", "0"], check=True, env=environment)
        best = min(best, time.perf_counter() - start)
    return best


def print_node_start(repeat):
    """Node's own start, and what NODE_EXTRA_CA_CERTS adds to it where the environment sets it (Node
    reads and parses that certificate bundle at every start, before any script runs)."""
    plain = node_start(repeat)
    line = f"Node's own start (node -e 0): {plain:.3f} s"
    if os.environ.get("NODE_EXTRA_CA_CERTS"):
        environment = {k: v for k, v in os.environ.items() if k != "NODE_EXTRA_CA_CERTS"}
        line += (f", of which NODE_EXTRA_CA_CERTS (set here: Node parses that bundle at start) "
                 f"{plain - node_start(repeat, environment):.3f} s")
    print(line)
    return plain


def convert_case(title, model, x, time_axis, tmp, repeat, wasm, exporter=None, node_seconds=None):
    pt2, x_path = export(model, x, time_axis, tmp, "model", exporter)
    out = os.path.join(tmp, "out")
    ratio_wall, ratio_cpu, (wall, cpu, rss, output), (forward_wall, forward_cpu) = paired(
        [BINARY, "convert", pt2, "--input", x_path, "-o", out], model, x, repeat)
    report = json.load(open(os.path.join(out, "report.json")))
    print(title + f" (medians of {repeat} runs, each paired with PyTorch's forward right after it)")
    print(f"  PyTorch forward (1 thread): {forward_wall * 1e3:8.1f} ms wall, {forward_cpu * 1e3:8.1f} ms CPU")
    s = steps(output)
    print(f"  native convert: {wall:6.2f} s wall = {ratio_wall:5.1f} forwards | "
          f"{cpu:6.2f} s CPU = {ratio_cpu:5.1f} forwards (CPU)")
    print("    steps (wall): " + ", ".join(f"{k} {v:.2f} s" for k, v in s.items()))
    print_memory(report, rss)
    ratio_wall2, _, (wall2, _, _, output2), (forward_wall2, _) = paired(
        [BINARY, "convert", pt2, "--input", x_path, "-o", out, "--threads", "2"], model, x, repeat, threads=2)
    print(f"  native convert --threads 2: {wall2:6.2f} s wall = {ratio_wall2:5.1f} forwards of PyTorch at 2 threads "
          f"({forward_wall2 * 1e3:.1f} ms); steps (wall): " + ", ".join(f"{k} {v:.2f} s" for k, v in steps(output2).items()))
    if wasm:
        try:
            ratio_wall, ratio_cpu, (wall_w, cpu_w, rss_w, _), _ = paired(
                ["node", NODE_CLI, "convert", pt2, "--input", x_path, "-o", os.path.join(tmp, "wasm")], model, x, repeat)
            print(f"  WASM under Node convert (the CLI, a process): {wall_w:6.2f} s wall = {ratio_wall:5.1f} forwards | "
                  f"{cpu_w:6.2f} s CPU = {ratio_cpu:5.1f} forwards (CPU); peak resident {mib(rss_w)}")
            if node_seconds is not None:
                print(f"    of which Node's own start {node_seconds:.3f} s = {node_seconds / forward_wall:4.1f} forwards")
            load, wall_c, cpu_c, wall_2, cpu_2 = min((wasm_in_process(pt2, x_path) for _ in range(repeat)),
                                                     key=lambda r: r[1])
            forward_wall, forward_cpu = torch_forward(model, x, 3)
            print(f"  WASM under Node, the conversion call (module loaded, {load:.2f} s before; relaxed SIMD on): {wall_c:6.2f} s wall = "
                  f"{wall_c / forward_wall:5.1f} forwards | {cpu_c:6.2f} s CPU = {cpu_c / forward_cpu:5.1f} forwards (CPU)")
            print(f"    a second call in that process (V8's optimised code by then): {wall_2:6.2f} s wall = "
                  f"{wall_2 / forward_wall:5.1f} forwards | {cpu_2:6.2f} s CPU = {cpu_2 / forward_cpu:5.1f} forwards (CPU)")
            # The threads build at 2 threads (one worker): wall time against PyTorch's forward at 1
            # thread (the WASM figures) and at 2 (the same thread count).
            ratio_wall, _, (wall_w, _, _, _), _ = paired(
                ["node", NODE_CLI, "convert", pt2, "--input", x_path, "-o", os.path.join(tmp, "wasm"), "--threads", "2"],
                model, x, repeat)
            print(f"  WASM under Node, --threads 2: the CLI {wall_w:6.2f} s wall = {ratio_wall:5.1f} forwards (1 thread)")
            load, wall_c, _, wall_2, _ = min((wasm_in_process(pt2, x_path, threads=2) for _ in range(repeat)),
                                             key=lambda r: r[1])
            one, two = torch_forward(model, x, 3)[0], torch_forward(model, x, 3, threads=2)[0]
            print(f"    the call (module loaded {load:.2f} s before; the call starts the worker): {wall_c:6.2f} s wall = "
                  f"{wall_c / one:5.1f} forwards at 1 thread, {wall_c / two:5.1f} at 2 ({two * 1e3:.1f} ms); a second call "
                  f"{wall_2:6.2f} s = {wall_2 / one:5.1f} / {wall_2 / two:5.1f}")
        except RuntimeError as e:
            print(f"  WASM under Node convert: failed ({e})")
    sys.stdout.flush()


# The conversion inside one Node process, the WebAssembly module compiled and instantiated first
# (an inspect of the model): Node's start and the module's compilation are a fixed cost of the
# process (about 0.2 s of CPU), apart from the conversion's own. CPU time by process.cpuUsage.
NODE_IN_PROCESS = """
import { convert, inspect } from %(index)s;
const [model, input] = process.argv.slice(1);
const threads = Number(process.argv[3] ?? 1);
let t = performance.now();
await inspect(model);
const load = (performance.now() - t) / 1e3;
const calls = [];
for (let i = 0; i < 2; i++) {
  const cpu = process.cpuUsage();
  t = performance.now();
  const result = await convert(model, { input, threads });
  const used = process.cpuUsage(cpu);
  calls.push({ wall: (performance.now() - t) / 1e3, cpu: (used.user + used.system) / 1e6, passed: result.passed });
}
console.log(JSON.stringify({ load, calls }));
"""


def wasm_in_process(pt2, x_path, threads=1):
    """(seconds to start Node and load the module, the first conversion's wall and CPU seconds,
    the second's): V8 runs a function's first calls in its baseline compiler (Liftoff) and
    compiles the hot ones again (TurboFan) on another thread while the first call runs, so the
    second call in the process shows what the same code costs once compiled."""
    script = NODE_IN_PROCESS % {"index": json.dumps(os.path.join(os.path.dirname(NODE_CLI), "..", "index.js"))}
    result = subprocess.run(["node", "--experimental-wasm-relaxed-simd", "--input-type=module", "-e", script, pt2, x_path,
                             str(threads)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip().splitlines()[-1][:200] if result.stderr.strip() else "node failed")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    first, second = figures["calls"]
    return figures["load"], first["wall"], first["cpu"], second["wall"], second["cpu"]


class FrontEnd2d(nn.Module):
    """A 2-D convolutional front end on a spectrogram [batch, 1, mels, time] (as a Conformer's
    subsampling or a CRNN has): four 3x3 convolutions, the third with stride 2 over the mels."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(32, 64, 3, padding=1, stride=(2, 1)), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1),
                                 nn.ReLU())

    def forward(self, spectrogram):
        return self.net(spectrogram)


class BertEncoder(nn.Module):
    """transformers' BertModel encoder as its users build it (4 layers, d=256, 4 heads, ff=1024):
    attention written out as matmuls, which lower to dot layers."""

    def __init__(self):
        super().__init__()
        from transformers import BertConfig, BertModel
        config = BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                            max_position_embeddings=512, vocab_size=100)
        self.encoder = BertModel(config).encoder

    def forward(self, states):
        return self.encoder(states).last_hidden_state


def family_cases(tmp, repeat, wasm, node_seconds=None):
    """Other model families: each converted as the three above, paired with PyTorch's forward."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))
    import pt2returnn
    from bench_recurrent import AcousticBLSTM
    convert_case("BLSTM acoustic model 80 -> 2x bidirectional LSTM 256 -> 40, 300 frames (pt2returnn.export)",
                 AcousticBLSTM().eval(), torch.randn(1, 300, 80), 1, tmp, repeat, wasm, pt2returnn.export, node_seconds)
    convert_case("2-D convolutional front end, 4 convs of 32-64 channels, 80 mels x 200 frames",
                 FrontEnd2d().eval(), torch.randn(1, 1, 80, 200), 3, tmp, repeat, wasm, node_seconds=node_seconds)
    try:
        model = BertEncoder().eval()
    except ImportError as e:
        print(f"transformers' BERT encoder: skipped ({e})")
        return
    convert_case("transformers' BERT encoder, 4 layers d=256 h=4 ff=1024, 256 frames", model, torch.randn(1, 256, 256),
                 1, tmp, repeat, wasm, lambda m, args, dynamic_shapes: torch.export.export(
                     m, args, dynamic_shapes=dynamic_shapes, strict=False), node_seconds)


def encoder(layers, d, ff, heads):
    return nn.TransformerEncoder(nn.TransformerEncoderLayer(d_model=d, nhead=heads, dim_feedforward=ff,
                                                            batch_first=True), num_layers=layers,
                                 enable_nested_tensor=False).eval()


def scale_case(layers, d, ff, heads, frames, tmp, command_prefix, label):
    """Converts a generated encoder; returns (parameters, weight bytes, peak resident, wall) or the error."""
    torch.manual_seed(0)
    model = encoder(layers, d, ff, heads)
    params = sum(p.numel() for p in model.parameters())
    pt2, x_path = export(model, torch.randn(1, frames, d), 1, tmp, "encoder")
    del model
    try:
        wall, _, rss, _ = child(command_prefix + ["convert", pt2, "--input", x_path, "-o", os.path.join(tmp, label)])
        report = json.load(open(os.path.join(tmp, label, "report.json")))
        return params, report["weight_bytes"], rss, wall, report, None
    except RuntimeError as e:
        return params, params * 4, None, None, None, str(e)
    finally:
        os.remove(pt2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5, help="runs of each conversion (default 5)")
    parser.add_argument("--no-wasm", action="store_true", help="native only")
    parser.add_argument("--scale", action="store_true", help="also the generated large Transformer encoders")
    parser.add_argument("--scale-only", action="store_true", help="only the generated large Transformer encoders")
    parser.add_argument("--families", action="store_true",
                        help="also a BLSTM, a 2-D convolutional front end and transformers' BERT encoder")
    args = parser.parse_args()
    print("machine:", " ".join(open("/proc/loadavg").read().split()[:3]), "load average,", os.cpu_count(), "cores")
    torch.set_num_threads(1)  # from the start: no OpenMP workers left spinning beside a conversion
    torch.manual_seed(0)
    wasm = not args.no_wasm and os.path.exists(os.path.join(os.path.dirname(NODE_CLI), "..", "dist", "pt2.mjs"))
    node_seconds = print_node_start(args.repeat) if wasm and not args.scale_only else None
    with tempfile.TemporaryDirectory() as tmp:
        if not args.scale_only:
            for channels in (384, 512):
                convert_case(f"MelGAN-style generator, {channels} channels, 100 frames -> 25600 samples",
                             MelGANGenerator(channels=channels).eval(), torch.randn(1, 80, 100), 2, tmp, args.repeat, wasm,
                             node_seconds=node_seconds)
            convert_case("Transformer encoder layer d=256 h=4 ff=2048 T=500",
                         nn.TransformerEncoderLayer(d_model=256, nhead=4, batch_first=True).eval(),
                         torch.randn(1, 500, 256), 1, tmp, args.repeat, wasm, node_seconds=node_seconds)
            if args.families:
                family_cases(tmp, args.repeat, wasm, node_seconds)
        if args.scale or args.scale_only:
            print("scale: generated Transformer encoders (T=64), converted natively")
            params, weights, rss, wall, report, error = scale_case(24, 1024, 4096, 16, 64, tmp, [BINARY], "native")
            if error:
                print(f"  {params / 1e6:.0f}M parameters: failed ({error})")
            else:
                print(f"  {params / 1e6:.0f}M parameters, weights {mib(weights)}: {wall:.1f} s, peak resident {mib(rss)} "
                      f"= {rss / weights:.2f}x the weights")
                print_memory(report, rss)
            if wasm:
                print("scale: under Node (WebAssembly), largest that converts")
                largest = None
                for layers, d, ff, heads in ((4, 512, 2048, 8), (8, 768, 3072, 12), (12, 1024, 4096, 16),
                                             (24, 1024, 4096, 16)):
                    params, weights, rss, wall, report, error = scale_case(layers, d, ff, heads, 64, tmp, ["node", NODE_CLI],
                                                                   "wasm")
                    if error:
                        print(f"  {params / 1e6:.0f}M parameters ({layers} layers, d={d}): failed ({error[:120]})")
                        break
                    largest = params
                    print(f"  {params / 1e6:.0f}M parameters ({layers} layers, d={d}): {wall:.1f} s, peak resident "
                          f"{mib(rss)} = {rss / weights:.2f}x the weights")
                print(f"  largest converting under Node: {largest / 1e6:.0f}M parameters" if largest else
                      "  none converted under Node")


if __name__ == "__main__":
    main()
