// The npm package's CLI (node/bin/pt2returnn.js, on the WebAssembly build) against the native
// CLI: on every fixture and the examples, convert writes byte-identical configs and checkpoints,
// and reports with the same steps, layers and verdicts (their figures differ in the last digits:
// the native kernels sum in another order than WASM SIMD128), run gives the same outputs within
// 1e-6, and a bad file gives the same error line and exit code. Then `npm pack` installs offline into an empty
// directory and `npx pt2returnn convert` works there.
//   node --test tests/node/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const native = path.join(process.env.PT2_BUILD_DIR ?? path.join(root, 'build'), 'pt2returnn');
const nodeCli = path.join(root, 'node', 'bin', 'pt2returnn.js');
const fixtures = process.env.PT2_FIXTURES_DIR ?? path.join(root, 'build', 'fixtures');
const temp = (prefix) => mkdtempSync(path.join(tmpdir(), prefix));

function cli(command, args) {
  const result = command === 'node' ? spawnSync(process.execPath, [nodeCli, ...args], { encoding: 'utf8' })
    : spawnSync(native, args, { encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const MODELS = [];
for (const name of ['conv_stack', 'linear_ln_gelu', 'with_buffers', 'tied_weights']) {
  MODELS.push({ label: name, args: [path.join(fixtures, `${name}.pt2`)] });
  MODELS.push({ label: `${name} + checkpoint`, args: [path.join(fixtures, `${name}.pt2`), '--checkpoint',
    path.join(fixtures, `${name}.ckpt.pt`), '--checkpoint-key', 'model.generator'] });
  MODELS.push({ label: `${name} + safetensors`, args: [path.join(fixtures, `${name}.pt2`), '--checkpoint',
    path.join(fixtures, `${name}.safetensors`)] });
}
MODELS.push({ label: 'tiny_melgan + checkpoint', args: [path.join(root, 'examples', 'tiny_melgan.pt2'), '--checkpoint',
  path.join(root, 'examples', 'tiny_melgan.checkpoint.pkl'), '--checkpoint-key', 'model.generator'] });
MODELS.push({ label: 'tiny_encoder --as-layer', args: [path.join(root, 'examples', 'tiny_encoder.pt2'), '--as-layer', 'enc'] });

for (const model of MODELS) {
  test(`convert parity: ${model.label}`, () => {
    const ours = temp('pt2-node-'), theirs = temp('pt2-native-'), defaults = temp('pt2-native-default-');
    const a = cli('node', ['convert', ...model.args, '-o', ours]);
    const b = cli('native', ['convert', ...model.args, '-o', theirs, '--portable']);
    const c = cli('native', ['convert', ...model.args, '-o', defaults]);
    assert.equal(a.code, b.code, a.stderr);
    assert.equal(a.code, 0, a.stderr);
    const figures = (text) => text.replace(/-?\d+(\.\d+)?(e[-+]\d+)?/g, 'N').replace(/ +/g, ' ');
    assert.equal(figures(a.stdout.replaceAll(ours, 'OUT')), figures(b.stdout.replaceAll(theirs, 'OUT')));
    const names = readdirSync(theirs).sort();
    assert.deepEqual(readdirSync(ours).sort(), names);
    for (const name of names) {
      if (name.startsWith('report')) continue;
      assert.ok(readFileSync(path.join(ours, name)).equals(readFileSync(path.join(theirs, name))), `${name} is byte-identical`);
      assert.ok(readFileSync(path.join(ours, name)).equals(readFileSync(path.join(defaults, name))), `${name} as with XNNPACK`);
    }
    const report = (dir) => JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8'));
    const r1 = report(ours), r2 = report(theirs);
    assert.deepEqual(r1.steps.map((s) => [s.step, s.passed]), r2.steps.map((s) => [s.step, s.passed]));
    assert.deepEqual(r1.layers.map((l) => [l.layer, l.class, l.module_path, l.op, l.passed]),
      r2.layers.map((l) => [l.layer, l.class, l.module_path, l.op, l.passed]));
    for (const [i, layer] of r1.layers.entries()) assert.ok(Math.abs(layer.max_abs - r2.layers[i].max_abs) <= 1e-5, layer.layer);
  });
}

function npyFloats(file) {
  const bytes = readFileSync(file);
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString();
  assert.match(header, /'descr': '<f4'/);
  const data = bytes.subarray(10 + headerLength);
  return { header, values: new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)) };
}

// Within 1e-6 relative to the value (at least 1e-6 absolute): float32 sums of ~100 terms in another
// order (XNNPACK natively, SIMD128 in WASM) differ by a few units in the last place of the value.
test('run parity: outputs within 1e-6 of the native reference run, on another length too', () => {
  for (const [model, input] of [['conv_stack', 'conv_stack.input_alt.npy'], ['with_buffers', null], ['tied_weights', 'tied_weights.input_alt.npy']]) {
    const dir = temp('pt2-run-');
    const args = [path.join(fixtures, `${model}.pt2`), ...(input ? ['--input', path.join(fixtures, input)] : [])];
    assert.equal(cli('node', ['run', ...args, '--output', path.join(dir, 'node.npy')]).code, 0);
    assert.equal(cli('native', ['run', ...args, '--output', path.join(dir, 'native.npy')]).code, 0);
    const ours = npyFloats(path.join(dir, 'node.npy')), theirs = npyFloats(path.join(dir, 'native.npy'));
    assert.equal(ours.header, theirs.header);
    let worst = 0;
    for (let i = 0; i < ours.values.length; i++)
      worst = Math.max(worst, Math.abs(ours.values[i] - theirs.values[i]) / Math.max(1, Math.abs(theirs.values[i])));
    assert.ok(worst <= 1e-6, `${model}: max difference ${worst} (relative to values above 1)`);
  }
});

test('bad input: the same error line and exit code as native', () => {
  const cases = Object.entries(JSON.parse(readFileSync(path.join(fixtures, 'bad', 'expectations.json'), 'utf8')).cases);
  for (const [name, expected] of cases) {
    const file = path.join(fixtures, 'bad', name);
    for (const command of [['inspect', file], ['convert', file, '-o', path.join(temp('pt2-bad-'), 'out')]]) {
      const a = cli('node', command), b = cli('native', command);
      assert.equal(a.code, b.code, `${name} ${command[0]}: ${a.stderr}`);
      assert.equal(a.code, expected.exit_code, name);
      assert.equal(a.stderr.split('\n').filter((l) => l.startsWith('pt2returnn')).join('\n'),
        b.stderr.split('\n').filter((l) => l.startsWith('pt2returnn')).join('\n'), `${name} ${command[0]}`);
      if (command[0] === 'convert') assert.ok(!existsSync(command[3]), 'nothing written');
    }
  }
  for (const args of [['convert'], ['convert', 'x.pt2'], ['convert', 'x.pt2', '-o', 'o', '--bogus'], ['nope']]) {
    const a = cli('node', args), b = cli('native', args);
    assert.equal(a.code, b.code, args.join(' '));
    assert.equal(a.stderr, b.stderr, args.join(' '));
  }
});

test('npm pack installs offline into an empty directory, and npx pt2returnn converts there', () => {
  const packDir = temp('pt2-pack-');
  const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', packDir], { cwd: path.join(root, 'node'), encoding: 'utf8' }).trim().split('\n').pop();
  const project = temp('pt2-empty-');
  execFileSync('npm', ['init', '-y'], { cwd: project, stdio: 'ignore' });
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', path.join(packDir, tarball)], { cwd: project, stdio: 'pipe' });
  const out = path.join(project, 'out');
  const result = spawnSync('npx', ['--offline', 'pt2returnn', 'convert', path.join(fixtures, 'conv_stack.pt2'), '-o', out], { cwd: project, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.ok(readFileSync(path.join(out, 'model.001.index')).equals(
    (() => { const d = temp('pt2-native-'); cli('native', ['convert', path.join(fixtures, 'conv_stack.pt2'), '-o', d]); return readFileSync(path.join(d, 'model.001.index')); })()));
});
