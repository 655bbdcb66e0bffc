#!/usr/bin/env python3
"""Seed corpora and regression inputs for the fuzz harnesses (tests/fuzz/fuzz_*.c).

    .venv/bin/python tests/fuzz/make_corpus.py FIXTURES_DIR OUTDIR [--pt2returnn BUILD/pt2returnn]

Writes OUTDIR/seeds/<harness>/ from the PyTorch-made fixtures (make_fixtures.py), the hostile
files of make_bad_inputs.py and, given --pt2returnn, files the converter writes (RETURNN JSON
configs and TF checkpoints); and OUTDIR/regressions/<harness>/ from FIXTURES_DIR/bad/
regressions.json, one input per defect of docs/fuzzing.md. Every input is framed the way its
harness reads it. Nothing binary is committed: this script makes them all again.
"""
import argparse
import glob
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zipfile

HARNESSES = ["zip", "torch_save", "pt2_archive", "pt2_entries", "safetensors", "json", "tf_checkpoint", "reload",
             "apply_checkpoint"]


def u32(n):
    return struct.pack("<I", n)


def frame_torch_save(key, data):
    return key.encode() + b"\n" + data


def frame_entries(zip_path, aligned=True):
    """fuzz_pt2_entries: a flags byte, then [u8 name length][name][u32 length][data] per entry."""
    out = bytearray([1 if aligned else 0])
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            name = info.filename.encode()[:255]
            data = z.read(info)
            out += bytes([len(name)]) + name + u32(len(data)) + data
    return bytes(out)


def frame_tf(index, data):
    return u32(len(index)) + index + data


def frame_reload(config, index, data):
    return u32(len(config)) + config + u32(len(index)) + index + data


def frame_apply(model, key, checkpoint):
    return u32(len(model)) + model + u32(len(key)) + key.encode() + checkpoint


def read(path):
    with open(path, "rb") as f:
        return f.read()


def converter_outputs(pt2returnn, fixtures, work):
    """(config JSON, index, data) of `pt2returnn convert` on each fixture model with its checkpoint."""
    outputs = []
    for model in sorted(glob.glob(os.path.join(fixtures, "*.pt2"))):
        stem = os.path.basename(model)[:-4]
        out = os.path.join(work, stem)
        command = [pt2returnn, "convert", model, "-o", out]
        checkpoint = os.path.join(fixtures, stem + ".ckpt.pt")
        if os.path.exists(checkpoint):
            command += ["--checkpoint", checkpoint, "--checkpoint-key", "model.generator"]
        if subprocess.run(command, capture_output=True).returncode != 0:
            continue
        outputs.append((stem, read(os.path.join(out, "returnn.config.json")), read(os.path.join(out, "model.001.index")),
                        read(os.path.join(out, "model.001.data-00000-of-00001"))))
    return outputs


def seeds(fixtures, pt2returnn):
    """{harness: {name: bytes}}"""
    s = {h: {} for h in HARNESSES}
    bad = os.path.join(fixtures, "bad")
    models = sorted(glob.glob(os.path.join(fixtures, "*.pt2")))
    checkpoints = sorted(glob.glob(os.path.join(fixtures, "*.ckpt.pt")))
    tensors = sorted(glob.glob(os.path.join(fixtures, "*.safetensors")))
    bad_files = sorted(p for p in glob.glob(os.path.join(bad, "*")) if not p.endswith(".json"))
    for path in models + checkpoints + [p for p in bad_files if p.endswith((".pt", ".pt2"))]:
        s["zip"][os.path.basename(path)] = read(path)
    for path in models + [p for p in bad_files if p.endswith(".pt2")]:
        s["pt2_archive"][os.path.basename(path)] = read(path)
        if zipfile.is_zipfile(path):
            try:
                s["pt2_entries"][os.path.basename(path)] = frame_entries(path)
                s["pt2_entries"][os.path.basename(path) + ".packed"] = frame_entries(path, aligned=False)
            except (zipfile.BadZipFile, OSError, NotImplementedError):
                pass  # a damaged zip: only its raw bytes make a seed
    for path in checkpoints + [p for p in bad_files if p.endswith(".pt")]:
        name = os.path.basename(path)
        s["torch_save"][name] = frame_torch_save("", read(path))
        s["torch_save"][name + ".key"] = frame_torch_save("model.generator", read(path))
        try:
            with zipfile.ZipFile(path) as z:
                pickle = next(i for i in z.infolist() if i.filename.endswith("data.pkl"))
                s["torch_save"][name + ".pkl"] = frame_torch_save("model", z.read(pickle))
        except (zipfile.BadZipFile, OSError, StopIteration, NotImplementedError):
            pass
    for path in tensors + [p for p in bad_files if p.endswith(".safetensors")]:
        s["safetensors"][os.path.basename(path)] = read(path)
    for path in models:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.filename.endswith(".json"):
                    s["json"][os.path.basename(path) + "." + info.filename.replace("/", "_")] = z.read(info)
    for path in tensors:
        data = read(path)
        (length,) = struct.unpack("<Q", data[:8])
        s["json"][os.path.basename(path) + ".header.json"] = data[8:8 + length]
    for model in models:
        stem = os.path.basename(model)[:-4]
        for checkpoint, key in ((os.path.join(fixtures, stem + ".ckpt.pt"), "model.generator"),
                                (os.path.join(fixtures, stem + ".safetensors"), "")):
            if os.path.exists(checkpoint):
                s["apply_checkpoint"][os.path.basename(checkpoint)] = frame_apply(read(model), key, read(checkpoint))
    if pt2returnn:
        with tempfile.TemporaryDirectory() as work:
            for stem, config, index, data in converter_outputs(pt2returnn, fixtures, work):
                s["json"][stem + ".returnn.config.json"] = config
                s["tf_checkpoint"][stem + ".model.001"] = frame_tf(index, data)
                s["reload"][stem + ".converted"] = frame_reload(config, index, data)
    return s


def regressions(fixtures):
    bad = os.path.join(fixtures, "bad")
    with open(os.path.join(bad, "regressions.json")) as f:
        listed = json.load(f)
    r = {h: {} for h in HARNESSES}
    for name, how in listed.items():
        data = read(os.path.join(bad, name))
        harness = how["harness"]
        if harness == "torch_save":
            data = frame_torch_save(how.get("key", ""), data)
        r[harness][name] = data  # pt2_archive and tf_checkpoint inputs are already in their harness's form
        if harness == "pt2_archive":
            r["pt2_entries"][name] = frame_entries(os.path.join(bad, name), aligned=False)
    return r


def write(tree, root):
    for harness, files in tree.items():
        folder = os.path.join(root, harness)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for name, data in files.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fixtures")
    parser.add_argument("out")
    parser.add_argument("--pt2returnn", help="the native CLI, to add files the converter writes")
    args = parser.parse_args()
    s, r = seeds(args.fixtures, args.pt2returnn), regressions(args.fixtures)
    write(s, os.path.join(args.out, "seeds"))
    write(r, os.path.join(args.out, "regressions"))
    print(f"fuzz corpus: {sum(map(len, s.values()))} seeds, {sum(map(len, r.values()))} regression inputs "
          f"in {args.out}")


if __name__ == "__main__":
    main()
