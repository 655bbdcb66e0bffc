// The WebAssembly GEMM's fused multiply-add (relaxed SIMD, wasm/relaxed_simd_opcodes.py and
// loadPt2Returnn in wasm/pt2.mjs): the built module lists where its relaxed_madd instructions are;
// an engine with relaxed SIMD runs the fused kernel and gives the native --portable run's output
// to the bit on a CPU with FMA (V8 fuses there, as the native kernel does); an engine without it
// (Node 20 without --experimental-wasm-relaxed-simd) still instantiates the module, with the
// fused kernel patched out, and matches PyTorch's output (the fixture's). The model compared to the
// bit is the example MelGAN (convolutions, transposed ones, leaky_relu): models with tanh or gelu
// differ in the last bit anyway, where glibc's libm and the WebAssembly build's musl do.
//   node --test tests/node/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const native = path.join(process.env.PT2_BUILD_DIR ?? path.join(root, 'build'), 'pt2returnn');
const fixtures = process.env.PT2_FIXTURES_DIR ?? path.join(root, 'build', 'fixtures');
const dist = path.join(root, 'node', 'dist');
const melgan = path.join(root, 'examples', 'tiny_melgan.pt2');

function floats(file) {
  const bytes = readFileSync(file);
  const headerLength = bytes.readUInt16LE(8);
  const data = bytes.subarray(10 + headerLength);
  return new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
}

/** The reference run of `model` (on `input`, else the archive's example inputs) through the loader
 * in a Node process of its own, with the given flags: { fused, relaxed, output (the floats) }. */
function runInNode(flags, model, input = null) {
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'pt2-relaxed-')), 'out.npy');
  const script = `
    import { readFileSync, writeFileSync } from 'node:fs';
    const { loadPt2Returnn, relaxedSimdSupported } = await import(${JSON.stringify(pathToFileURL(path.join(dist, 'pt2.mjs')).href)});
    const { default: create } = await import(${JSON.stringify(pathToFileURL(path.join(dist, 'pt2returnn_wasm.js')).href)});
    const pt2 = await loadPt2Returnn(create, { wasmBinary: readFileSync(${JSON.stringify(path.join(dist, 'pt2returnn_wasm.wasm'))}) });
    const result = pt2.run(readFileSync(${JSON.stringify(model)}), { inputs: ${input ? `[readFileSync(${JSON.stringify(input)})]` : '[]'} });
    writeFileSync(${JSON.stringify(out)}, result.outputs[0].npy);
    console.log(JSON.stringify({ fused: pt2.fusedMultiplyAdd, relaxed: relaxedSimdSupported() }));`;
  const child = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  return { ...JSON.parse(child.stdout.trim().split('\n').pop()), output: floats(out) };
}

function maxDifference(a, b) {
  assert.equal(a.length, b.length);
  return a.reduce((worst, x, i) => Math.max(worst, Math.abs(x - b[i])), 0);
}

const cpuFlags = (() => {
  try { return readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1].split(/\s+/) ?? []; } catch { return []; }
})();

test('the module lists each relaxed_madd of its fused GEMM kernel in the section pt2.relaxed_madd', () => {
  const bytes = readFileSync(path.join(dist, 'pt2returnn_wasm.wasm'));
  const name = Buffer.from('pt2.relaxed_madd');
  const at = bytes.lastIndexOf(name);
  assert.ok(at > 0, 'the custom section is there');
  const offsets = [];
  for (let i = at + name.length; i + 4 <= bytes.length; i += 4) offsets.push(bytes.readUInt32LE(i));
  assert.ok(offsets.length >= 8, `${offsets.length} offsets`);
  for (const offset of offsets) assert.deepEqual([...bytes.subarray(offset, offset + 3)], [0xfd, 0x85, 0x02], `relaxed_madd at ${offset}`);
});

test('with relaxed SIMD the GEMM fuses, and gives native --portable\'s output (to the bit on a CPU with FMA)', () => {
  const fused = runInNode(['--experimental-wasm-relaxed-simd'], melgan);
  assert.equal(fused.relaxed, true);
  assert.equal(fused.fused, true);
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'pt2-native-')), 'out.npy');
  const nativeRun = spawnSync(native, ['run', melgan, '--output', out, '--portable'], { encoding: 'utf8' });
  assert.equal(nativeRun.status, 0, nativeRun.stderr);
  const difference = maxDifference(fused.output, floats(out));
  if (process.arch === 'x64' && cpuFlags.includes('fma') && cpuFlags.includes('avx2')) assert.equal(difference, 0);
  else assert.ok(difference < 1e-5, `max difference ${difference}`);
});

test('without relaxed SIMD the module still runs, the fused kernel patched out, and matches PyTorch', () => {
  const plain = runInNode([], path.join(fixtures, 'conv_stack.pt2'), path.join(fixtures, 'conv_stack.input.npy'));
  // Node 22 and later validate relaxed SIMD without a flag; Node 20 does not.
  assert.equal(plain.fused, plain.relaxed);
  assert.ok(maxDifference(plain.output, floats(path.join(fixtures, 'conv_stack.output.npy'))) < 1e-4);
});
