// The npm package's API and CLI tell the truth (issue 19, and strict checkpoints / the honest
// reference step of issue 15): every class it declares is exported, a path, bytes or a Blob is
// taken wherever a file is, run() decodes its outputs and times itself, the tarball has a README,
// and the CLI's run summary, casts and strictness match the native CLI's. Expected values come
// from PyTorch's outputs (the fixtures) or from the native CLI, never from the code under test.
//   node --test tests/node/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pt2Error, convert, inspect, run } from '../../node/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const native = path.join(process.env.PT2_BUILD_DIR ?? path.join(root, 'build'), 'pt2returnn');
const nodeCli = path.join(root, 'node', 'bin', 'pt2returnn.js');
const fixtures = process.env.PT2_FIXTURES_DIR ?? path.join(root, 'build', 'fixtures');
const python = path.join(root, '.venv', 'bin', 'python');
const temp = (prefix) => mkdtempSync(path.join(tmpdir(), prefix));
const fixture = (name) => path.join(fixtures, name);

function cli(command, args) {
  const result = command === 'node' ? spawnSync(process.execPath, [nodeCli, ...args], { encoding: 'utf8' })
    : spawnSync(native, args, { encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** { shape, values } of a float32 .npy, read here rather than by the package. */
function npyFloats(file) {
  const bytes = readFileSync(file);
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString();
  const shape = /'shape': \(([^)]*)\)/.exec(header)[1].split(',').filter((s) => s.trim()).map(Number);
  const data = bytes.subarray(10 + headerLength);
  return { shape, values: new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)) };
}

test('Pt2Error is exported and is what the API throws', async () => {
  assert.equal(typeof Pt2Error, 'function');
  await assert.rejects(convert(new Uint8Array([1, 2, 3]), { name: 'junk.pt2' }),
    (error) => error instanceof Pt2Error && error.exitCode === 2 && /junk\.pt2/.test(error.message));
});

test('a path, bytes, an ArrayBuffer or a Blob: the same conversion', async () => {
  const model = fixture('conv_stack.pt2');
  const bytes = readFileSync(model);
  const fromPath = await convert(model);
  assert.equal(fromPath.report.model, model, 'a path names the model in the report');
  for (const source of [bytes, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length), new Blob([bytes])]) {
    const result = await convert(source, { checkpoint: new Blob([readFileSync(fixture('conv_stack.safetensors'))]),
      input: fixture('conv_stack.input.npy'), reference: new Blob([readFileSync(fixture('conv_stack.output_ckpt.npy'))]) });
    assert.equal(result.failedStep, null);
    assert.equal(result.report.steps[1].checked, 'values');
  }
  assert.ok(Buffer.from((await convert(new Blob([bytes]))).checkpoint.data).equals(Buffer.from(fromPath.checkpoint.data)));
  assert.match(await inspect(model), /Dynamic dims:/);
  await assert.rejects(convert(path.join(fixtures, 'no-such.pt2')),
    (error) => error instanceof Pt2Error && error.message.includes('no-such.pt2: cannot open'));
  // A path is read where the converter holds it: a directory, or a checkpoint path that is one,
  // is refused as bad input before any work.
  await assert.rejects(convert(fixtures), (error) => error instanceof Pt2Error && error.exitCode === 2 &&
    error.message === `${fixtures}: cannot open: not a regular file`);
  await assert.rejects(convert(model, { checkpoint: fixtures }), (error) => error instanceof Pt2Error &&
    error.exitCode === 2 && error.message === `${fixtures}: cannot open: not a regular file`);
  await assert.rejects(convert(42), (error) => error instanceof Pt2Error &&
    /model: expected a path, bytes \(Uint8Array, Buffer, ArrayBuffer\) or a File\/Blob, got number/.test(error.message));
});

test('run() returns decoded arrays with their names and a real forwardSeconds', async () => {
  const expected = npyFloats(fixture('conv_stack.output_alt.npy')); // PyTorch's output for input_alt
  const result = await run(fixture('conv_stack.pt2'), { inputs: [fixture('conv_stack.input_alt.npy')] });
  assert.equal(result.outputs.length, 1);
  const [out] = result.outputs;
  assert.equal(out.dtype, 'float32');
  assert.deepEqual(out.shape, expected.shape);
  assert.ok(out.data instanceof Float32Array && out.data.length === expected.values.length);
  for (let i = 0; i < out.data.length; i++) assert.ok(Math.abs(out.data[i] - expected.values[i]) <= 1e-5, `element ${i}`);
  assert.ok(result.forwardSeconds > 0, `forwardSeconds ${result.forwardSeconds}`);
  const timed = await run(fixture('conv_stack.pt2'), { inputs: [fixture('conv_stack.input_alt.npy')], repeat: 4 });
  assert.ok(timed.forwardSecondsBest > 0 && timed.forwardSecondsBest <= timed.forwardSeconds,
    `repeat 4: the fastest run ${timed.forwardSecondsBest} s against the mean ${timed.forwardSeconds} s`);
  assert.ok(out.npy instanceof Uint8Array && out.npy[0] === 0x93);
  const native = cli('native', ['run', fixture('conv_stack.pt2'), '--input', fixture('conv_stack.input_alt.npy')]);
  assert.equal(result.summary.replace(/-?\d+(\.\d+)?(e[-+]\d+)?/g, 'N'), native.stdout.replace(/-?\d+(\.\d+)?(e[-+]\d+)?/g, 'N'));
  assert.ok(native.stdout.startsWith(`output '${out.name}': float32`));
});

test('npm CLI run without --output prints the summary, as the native CLI; a float64 input is cast and said', () => {
  const dir = temp('pt2-f64-');
  const f64 = path.join(dir, 'x64.npy');
  execFileSync(python, ['-c', `import numpy as np; np.save(${JSON.stringify(f64)}, np.load(${JSON.stringify(fixture('conv_stack.input_alt.npy'))}).astype(np.float64))`]);
  const a = cli('node', ['run', fixture('conv_stack.pt2'), '--input', f64]);
  const b = cli('native', ['run', fixture('conv_stack.pt2'), '--input', f64]);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /^output '[^']+': float32 \[1, 1, \d+\]  min \S+  max \S+  mean \S+\n$/);
  const numbers = (text) => text.match(/-?\d+\.\d+(e[-+]\d+)?|-?\d+/g).map(Number);
  numbers(a.stdout).forEach((value, i) => assert.ok(Math.abs(value - numbers(b.stdout)[i]) <= 1e-5, a.stdout + b.stdout));
  assert.match(a.stderr, /input 'mel' \(.*x64\.npy\): float64 cast to float32, lossless/);
  assert.equal(a.stderr, b.stderr);
});

test('strict checkpoints: a missing parameter is refused, naming every key; strict: false records them', async () => {
  const dir = temp('pt2-strict-');
  const partial = path.join(dir, 'partial.pt');
  execFileSync(python, ['-c', `
import torch
sd = torch.load(${JSON.stringify(fixture('conv_stack.ckpt.pt'))})["model"]["generator"]
del sd["layers.0.bias"]
sd["extra.weight"] = torch.zeros(2)
torch.save({"model": {"generator": sd}}, ${JSON.stringify(partial)})`]);
  await assert.rejects(convert(fixture('conv_stack.pt2'), { checkpoint: partial, checkpointKey: 'model.generator' }),
    (error) => error instanceof Pt2Error && error.message.startsWith(`${partial}: `) &&
      error.message.includes("'layers.0.bias'") && error.message.includes("'extra.weight'"));
  await assert.rejects(run(fixture('conv_stack.pt2'), { checkpoint: { path: partial, key: 'model.generator' } }),
    (error) => error instanceof Pt2Error && error.message.includes("'layers.0.bias'"));
  const result = await convert(fixture('conv_stack.pt2'), { checkpoint: partial, checkpointKey: 'model.generator', strict: false });
  assert.deepEqual(result.report.checkpoint_keys,
    { strict: false, loaded: 5, missing: ['layers.0.bias'], unexpected: ['extra.weight'] });
  const out = temp('pt2-strict-out-');
  for (const tool of ['node', 'native']) {
    const refused = cli(tool, ['convert', fixture('conv_stack.pt2'), '--checkpoint', partial, '--checkpoint-key', 'model.generator', '-o', out]);
    assert.equal(refused.code, 2, tool);
    assert.match(refused.stderr, /'layers\.0\.bias'/);
    const allowed = cli(tool, ['convert', fixture('conv_stack.pt2'), '--checkpoint', partial, '--checkpoint-key', 'model.generator',
      '--no-strict', '-o', out]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.deepEqual(JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')).checkpoint_keys.missing, ['layers.0.bias']);
  }
});

test('the reference step says it checked shapes only without PyTorch outputs', async () => {
  const result = await convert(fixture('conv_stack.pt2'));
  const step = result.report.steps.find((s) => s.step === 'reference');
  assert.equal(step.checked, 'shapes');
  assert.match(step.what, /shapes only/);
  assert.match(result.reportText, /shapes only/);
  for (const layer of result.report.layers) assert.equal(layer.passed, layer.worst_ratio <= 1, layer.layer);
});

test('a reference of another shape names both shapes and the reference file', async () => {
  const dir = temp('pt2-ref-');
  const ref = path.join(dir, 'wrong.npy');
  execFileSync(python, ['-c', `import numpy as np; np.save(${JSON.stringify(ref)}, np.zeros((1, 1, 7), np.float32))`]);
  const shape = `[${npyFloats(fixture('conv_stack.output.npy')).shape.join(', ')}]`;
  await assert.rejects(convert(fixture('conv_stack.pt2'), { reference: ref }),
    (error) => error instanceof Pt2Error && error.message.startsWith(`${ref}: `) && error.message.includes('[1, 1, 7]') &&
      error.message.includes(shape));
});

test('the npm tarball carries a README that documents the API', () => {
  const listing = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: path.join(root, 'node'), encoding: 'utf8' }));
  const files = listing[0].files.map((f) => f.path);
  assert.ok(files.includes('README.md'), files.join(' '));
  const readme = readFileSync(path.join(root, 'node', 'README.md'), 'utf8');
  for (const name of ['convert', 'run', 'inspect', 'Pt2Error', 'strict', 'Blob']) assert.ok(readme.includes(name), name);
  writeFileSync(path.join(temp('pt2-readme-'), 'seen'), files.join('\n'));
});
