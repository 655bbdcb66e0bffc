#!/usr/bin/env python3
"""Benchmark of the reference run (not a test): forward time of pt2returnn's native executor
(XNNPACK, and the portable kernels the WASM build runs) against PyTorch CPU eager on the same
input and thread count, as ratios measured in the same run; at 1 thread also as CPU time, which
the machine's load moves less than wall time (the load average is printed first).

    .venv/bin/python bench/bench_reference_run.py [--repeat K] [--rounds R]

Each figure is the median of R rounds (default 3), a round being our run and PyTorch's right
after it, and the ratio taken round by round: this 2-core machine's speed drifts by up to a third
between minutes, which a ratio of two measurements minutes apart would carry. The range of the
rounds' ratios is printed beside the median. Within a round each side's figure is its fastest
of K forwards (`run --repeat K` prints it as forward_seconds_best): the machine is shared, and
for stretches of a few hundred milliseconds a forward takes up to twice as long (PyTorch's
Transformer layer 12.7 to 25 ms, forward after forward); a slowdown only ever adds, so the
fastest forward is each side's undisturbed speed, where a mean carries whichever stretch it met.

Then (c) the GEMM alone on the Transformer layer's products (build/bench_gemm, one thread, against
torch.mm in the same rounds): how much of (b)'s gap is the matrix product's.

Models: (a) a MelGAN-style generator (384 channels, upsampling 8x8x2x2, residual stacks with
dilations 1/3/9, reflection padding; 100 mel frames -> 25600 samples); (b) a Transformer
encoder layer (d=256, 4 heads, feed-forward 2048 as PyTorch's default, T=500).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(os.environ.get("PT2_BUILD_DIR", os.path.join(ROOT, "build")), "pt2returnn")


class ResidualStack(nn.Module):
    def __init__(self, channels, dilation):
        super().__init__()
        self.stack = nn.Sequential(nn.LeakyReLU(0.2), nn.ReflectionPad1d(dilation),
                                   nn.Conv1d(channels, channels, 3, dilation=dilation), nn.LeakyReLU(0.2),
                                   nn.Conv1d(channels, channels, 1))
        self.skip = nn.Conv1d(channels, channels, 1)

    def forward(self, x):
        return self.stack(x) + self.skip(x)


class MelGANGenerator(nn.Module):
    def __init__(self, mels=80, channels=384, scales=(8, 8, 2, 2)):
        super().__init__()
        layers = [nn.ReflectionPad1d(3), nn.Conv1d(mels, channels, 7)]
        for scale in scales:
            layers += [nn.LeakyReLU(0.2), nn.ConvTranspose1d(channels, channels // 2, scale * 2, stride=scale,
                                                             padding=scale // 2 + scale % 2, output_padding=scale % 2)]
            channels //= 2
            layers += [ResidualStack(channels, d) for d in (1, 3, 9)]
        layers += [nn.LeakyReLU(0.2), nn.ReflectionPad1d(3), nn.Conv1d(channels, 1, 7), nn.Tanh()]
        self.melgan = nn.Sequential(*layers)

    def forward(self, mel):
        return self.melgan(mel)


def torch_seconds(model, x, threads, repeat):
    """The fastest of `repeat` forwards after a warm-up one."""
    torch.set_num_threads(threads)
    best = None
    with torch.no_grad():
        model(x)
        for _ in range(repeat):
            start = time.perf_counter()
            model(x)
            seconds = time.perf_counter() - start
            best = seconds if best is None else min(best, seconds)
    return best


def torch_cpu_seconds(model, x, repeat):
    """CPU time of one forward at 1 thread: on a loaded machine wall time also counts the time
    other processes hold the core, CPU time does not."""
    torch.set_num_threads(1)
    with torch.no_grad():
        model(x)
        start = time.process_time()
        for _ in range(repeat):
            model(x)
    return (time.process_time() - start) / repeat


def our_cpu_seconds(pt2, x_path, repeat, portable):
    """CPU time of one forward at 1 thread: the CPU of a run with 1 + repeat forwards minus that
    of one with 1 + 1, over repeat - 1 (GNU time reports each process's own)."""
    cpu = []
    for r in (1, repeat):
        cmd = ["/usr/bin/time", "-f", "BENCH %U %S", BINARY, "run", pt2, "--input", x_path, "--repeat", str(r)]
        result = subprocess.run(cmd + (["--portable"] if portable else []), capture_output=True, text=True)
        line = result.stderr.strip().splitlines()[-1]
        if result.returncode != 0 or not line.startswith("BENCH"):
            return None
        cpu.append(float(line.split()[1]) + float(line.split()[2]))
    return (cpu[1] - cpu[0]) / (repeat - 1)


def our_seconds(pt2, x_path, threads, repeat, portable):
    time.sleep(1.0)  # let PyTorch's OpenMP workers stop spinning before we measure
    cmd = [BINARY, "run", pt2, "--input", x_path, "--threads", str(threads), "--repeat", str(repeat)]
    result = subprocess.run(cmd + (["--portable"] if portable else []), capture_output=True, text=True)
    if result.returncode != 0:
        return None, result.stderr.strip().splitlines()[-1][:160]
    return float(re.search(r"forward_seconds_best: ([0-9.e-]+)", result.stdout).group(1)), None


NODE_CLI = os.path.join(ROOT, "node", "bin", "pt2returnn.js")


def wasm_seconds(pt2, x_path, repeat, threads=1):
    """The WebAssembly build's forward time under Node (the npm package's CLI: the threads build,
    portable kernels with SIMD128, on `threads` threads)."""
    time.sleep(1.0)
    result = subprocess.run(["node", NODE_CLI, "run", pt2, "--input", x_path, "--repeat", str(repeat),
                             "--threads", str(threads)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return None, result.stderr.strip().splitlines()[-1][:160]
    return float(re.search(r"forward_seconds_best: ([0-9.e-]+)", result.stdout).group(1)), None


GEMM_DRIVER = os.path.join(os.path.dirname(BINARY), "bench_gemm")
# The Transformer layer's products, each with its count in one forward: (m, n, k, b read transposed).
LAYER_PRODUCTS = (((500, 768, 256, True), 1, "in-projection"), ((500, 256, 256, True), 1, "out-projection"),
                  ((500, 2048, 256, True), 1, "feed-forward 1"), ((500, 256, 2048, True), 1, "feed-forward 2"),
                  ((500, 500, 64, True), 4, "q k^T per head"), ((500, 64, 500, False), 4, "weights v per head"))


def gemm_seconds(repeat):
    """Our GEMM's fastest of `repeat` products per shape (build/bench_gemm), or (None, error)."""
    specs = [f"{m}x{n}x{k}" + ("t" if t else "") for (m, n, k, t), _, _ in LAYER_PRODUCTS]
    result = subprocess.run([GEMM_DRIVER, str(repeat)] + specs, capture_output=True, text=True)
    if result.returncode != 0:
        return None, (result.stderr.strip().splitlines() or ["bench_gemm failed"])[-1][:160]
    return [float(line.split()[3]) for line in result.stdout.splitlines()], None


def torch_gemm_seconds(repeat):
    """torch.mm's fastest of `repeat` products per shape at 1 thread (the second operand a
    transposed view where ours reads it transposed, as F.linear has its weight)."""
    torch.set_num_threads(1)
    times = []
    for (m, n, k, transposed), _, _ in LAYER_PRODUCTS:
        a, b = torch.rand(m, k) - 0.5, torch.rand(n, k) - 0.5 if transposed else torch.rand(k, n) - 0.5
        other, out = (b.t() if transposed else b), torch.empty(m, n)
        torch.mm(a, other, out=out)
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            torch.mm(a, other, out=out)
            best = min(best, time.perf_counter() - start)
        times.append(best)
    return times


def print_gemm(rounds_count, repeat):
    """(c): per product GFLOP/s, ours and PyTorch's, the median of the rounds' ratios; then the
    layer's products together, each weighted by its count in one forward."""
    print("(c) GEMM alone, the Transformer layer's products (1 thread; build/bench_gemm vs torch.mm)")
    rounds = []
    for _ in range(rounds_count):
        time.sleep(1.0)
        ours, error = gemm_seconds(repeat)
        if ours is None:
            print(f"  not measured ({error})")
            return
        rounds.append((ours, torch_gemm_seconds(repeat)))
    for i, ((m, n, k, transposed), count, label) in enumerate(LAYER_PRODUCTS):
        flops = 2.0 * m * n * k
        ours, theirs = median([r[0][i] for r in rounds]), median([r[1][i] for r in rounds])
        print(f"  {label:20s} {m}x{n}x{k}{' (b^T)' if transposed else '      '} x{count}: ours {flops / ours * 1e-9:6.1f} GFLOP/s, "
              f"PyTorch {flops / theirs * 1e-9:6.1f} GFLOP/s = {ratios([(r[0][i], r[1][i]) for r in rounds])}")
    totals = [(sum(c * o for (_, c, _), o in zip(LAYER_PRODUCTS, ours)),
               sum(c * t for (_, c, _), t in zip(LAYER_PRODUCTS, theirs))) for ours, theirs in rounds]
    print(f"  the layer's products together: ours {median([o for o, _ in totals]) * 1e3:6.2f} ms, "
          f"PyTorch {median([t for _, t in totals]) * 1e3:6.2f} ms = {ratios(totals)}")


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else None


def ratios(pairs):
    """The median of the rounds' ratios ours / PyTorch's, and their range."""
    values = sorted(ours / theirs for ours, theirs in pairs)
    return f"{median(values):5.2f}x PyTorch ({values[0]:.2f}-{values[-1]:.2f})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20, help="forwards per measurement, the fastest taken (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of ours then PyTorch, figures their medians (default 3)")
    args = parser.parse_args()
    print("machine:", " ".join(open("/proc/loadavg").read().split()[:3]), "load average,", os.cpu_count(), "cores")
    torch.manual_seed(0)
    cases = {
        "(a) MelGAN generator, 100 frames -> 25600 samples": (MelGANGenerator().eval(), torch.randn(1, 80, 100), 2),
        "(b) Transformer encoder layer d=256 h=4 ff=2048 T=500": (
            nn.TransformerEncoderLayer(d_model=256, nhead=4, batch_first=True).eval(), torch.randn(1, 500, 256), 1),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for title, (model, x, time_axis) in cases.items():
            ep = torch.export.export(model, (x,), dynamic_shapes=({time_axis: torch.export.Dim("time", min=4, max=4096)},))
            pt2, x_path = os.path.join(tmp, "model.pt2"), os.path.join(tmp, "x.npy")
            torch.export.save(ep, pt2)
            np.save(x_path, x.numpy())
            print(title)
            for threads in (1, 2):
                rounds = []
                for _ in range(args.rounds):
                    # Ours first: PyTorch's OpenMP workers keep spinning for a while after a forward
                    # and would steal the CPU from a process started right after them.
                    ours = {label: our_seconds(pt2, x_path, threads, args.repeat, portable)
                            for label, portable in (("native", False), ("portable", True))}
                    rounds.append((ours, torch_seconds(model, x, threads, args.repeat)))
                reference = median([r for _, r in rounds])
                line = f"  threads={threads}: PyTorch {reference * 1e3:8.2f} ms"
                for label in ("native", "portable"):
                    error = next((o[label][1] for o, _ in rounds if o[label][0] is None), None)
                    if error:
                        line += f" | {label}: not runnable yet ({error})"
                        break
                    seconds = median([o[label][0] for o, _ in rounds])
                    line += f" | {label} {seconds * 1e3:8.2f} ms = {ratios([(o[label][0], r) for o, r in rounds])}"
                print(line)
                if threads == 1:
                    single = reference, median([o["native"][0] for o, _ in rounds if o["native"][0]])
                    cpu_repeat = max(args.repeat, 11)  # GNU time counts in 10 ms steps
                    mine = {label: our_cpu_seconds(pt2, x_path, cpu_repeat, portable)
                            for label, portable in (("native", False), ("portable", True))}
                    theirs = torch_cpu_seconds(model, x, cpu_repeat)
                    print(f"  CPU time, threads=1 (one round): PyTorch {theirs * 1e3:8.2f} ms" + "".join(
                        f" | {label} {v * 1e3:8.2f} ms = {v / theirs:5.2f}x PyTorch" if v else f" | {label}: failed"
                        for label, v in mine.items()))
            for threads in (1, 2):
                rounds = []
                for _ in range(args.rounds):
                    seconds, error = wasm_seconds(pt2, x_path, args.repeat, threads)
                    if seconds is None:
                        break
                    rounds.append((seconds, torch_seconds(model, x, 1, args.repeat), torch_seconds(model, x, 2, args.repeat)))
                if not rounds:
                    print(f"  WASM under Node ({threads} threads): not measured ({error})")
                    continue
                seconds = median([w for w, _, _ in rounds])
                line = (f"  WASM under Node ({threads} {'thread' if threads == 1 else 'threads'}): {seconds * 1e3:8.2f} ms = "
                        f"{ratios([(w, one) for w, one, _ in rounds])}")
                if threads == 1:
                    line += f", {seconds / single[1]:5.2f}x native" if single[1] else ""
                else:  # against PyTorch at 1 thread (above), and at the same thread count
                    line += f"; against PyTorch at 2 threads {ratios([(w, two) for w, _, two in rounds])}"
                print(line)
    print_gemm(args.rounds, args.repeat)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
