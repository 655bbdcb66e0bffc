// WebAssembly threads in Node (the threads build, node/dist/pt2returnn_wasm_threads.*): with
// --threads N the kernels split over N - 1 worker threads and the caller's, and every result is
// the same bits as at one thread: run's outputs, convert's files and every check's figures. The
// workers are real threads of the process, and they do not keep it alive once the work is done.
//   node --test tests/node/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const nodeCli = path.join(root, 'node', 'bin', 'pt2returnn.js');
const fixtures = process.env.PT2_FIXTURES_DIR ?? path.join(root, 'build', 'fixtures');
const temp = (prefix) => mkdtempSync(path.join(tmpdir(), prefix));

function cli(args) {
  const result = spawnSync(process.execPath, [nodeCli, ...args], { encoding: 'utf8', timeout: 120000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const MODELS = [
  { label: 'tiny_encoder (attention, linear, layer norm)', model: path.join(root, 'examples', 'tiny_encoder.pt2'), input: [] },
  { label: 'conv_stack (convolutions)', model: path.join(fixtures, 'conv_stack.pt2'),
    input: ['--input', path.join(fixtures, 'conv_stack.input_alt.npy')] },
];

for (const { label, model, input } of MODELS) {
  test(`run --threads N gives one thread's bytes: ${label}`, () => {
    const dir = temp('pt2-threads-run-');
    const outputs = {};
    for (const threads of ['1', '3', '2']) {
      const out = path.join(dir, `t${threads}.npy`);
      const r = cli(['run', model, ...input, '--output', out, '--threads', threads]);
      assert.equal(r.code, 0, r.stderr);
      outputs[threads] = readFileSync(out);
    }
    assert.ok(outputs['3'].equals(outputs['1']), '3 threads differ from 1');
    assert.ok(outputs['2'].equals(outputs['1']), '2 threads differ from 1');
  });

  test(`convert --threads 2 writes one thread's files and figures: ${label}`, () => {
    const one = temp('pt2-threads-1-'), two = temp('pt2-threads-2-');
    const a = cli(['convert', model, ...input, '-o', one, '--threads', '1']);
    const b = cli(['convert', model, ...input, '-o', two, '--threads', '2']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const names = readdirSync(one).sort();
    assert.deepEqual(readdirSync(two).sort(), names);
    for (const name of names.filter((n) => !n.startsWith('report')))
      assert.ok(readFileSync(path.join(one, name)).equals(readFileSync(path.join(two, name))), `${name} differs`);
    const figures = (dir) => {
      const report = JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8'));
      const strip = (o) => Object.fromEntries(Object.entries(o).filter(([k]) => !k.includes('seconds')));
      return { steps: report.steps.map(strip), layers: report.layers.map(strip) };
    };
    const f1 = figures(one);
    assert.ok(f1.steps.every((s) => s.passed), JSON.stringify(f1.steps));
    assert.ok(f1.layers.length > 0);
    assert.deepEqual(figures(two), f1);
  });
}

test('the workers are threads of the process and do not keep it alive', () => {
  // A script that converts at 3 threads, counts the process's threads (Linux) before and after,
  // and then just returns: the process must end on its own.
  const script = `
    import { readdirSync } from 'node:fs';
    import { convert } from ${JSON.stringify(pathToFileURL(path.join(root, 'node', 'index.js')).href)};
    const threads = () => readdirSync('/proc/self/task').length;
    const model = ${JSON.stringify(path.join(root, 'examples', 'tiny_encoder.pt2'))};
    const before = threads();
    await convert(model, { threads: 1 });
    const single = threads();
    const result = await convert(model, { threads: 3 });
    console.log(JSON.stringify({ before, single, after: threads(), passed: result.report.steps.every((s) => s.passed) }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.signal, null, 'the process did not end on its own');
  assert.equal(r.status, 0, r.stderr);
  const { single, after, passed } = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.ok(passed);
  assert.ok(after >= single + 2, `3 threads: ${after} threads in the process, ${single} at one`);
});

test('--threads out of range is a usage error', () => {
  for (const bad of ['0', '65', 'two']) {
    const r = cli(['run', path.join(root, 'examples', 'tiny_encoder.pt2'), '--threads', bad]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`--threads expects 1\\.\\.64, got '${bad}'`));
  }
});
