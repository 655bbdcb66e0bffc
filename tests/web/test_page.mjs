// The page in a real browser: Debian's chromium driven by playwright-core opens build/web/
// (scripts/web.sh --build-only), converts a bundled example in the playground and a fixture
// picked from disk on the converter page, checks the steps, the per-layer table against the
// native CLI's report, that every downloaded file equals the native CLI's output byte for byte
// (the native CLI run with --portable: the kernels the WASM build runs), and that a bad file
// gives its error. Screenshots go to build/test-output/web/.
//   node --test tests/web/test_page.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(root, 'web', 'package.json'));
const { chromium } = require('playwright-core');
const webDir = path.join(root, 'build', 'web');
const shots = path.join(root, 'build', 'test-output', 'web');
const native = path.join(root, 'build', 'pt2returnn');
const fixtures = process.env.PT2_FIXTURES_DIR ?? path.join(root, 'build', 'fixtures');
const temp = (prefix) => mkdtempSync(path.join(tmpdir(), prefix));
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };

let server, browser, base;

before(async () => {
  mkdirSync(shots, { recursive: true });
  // A plain static server; under /isolated/ the same files cross-origin isolated (COOP and COEP
  // headers, as scripts/web.sh serves them), where the page has shared memory and threads.
  server = createServer((request, response) => {
    let pathname = decodeURIComponent(new URL(request.url, 'http://x').pathname);
    const isolated = pathname.startsWith('/isolated/');
    if (isolated) pathname = pathname.slice('/isolated'.length);
    const file = path.join(webDir, pathname);
    try {
      const body = readFileSync(file.endsWith(path.sep) ? path.join(file, 'index.html') : file);
      response.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        ...(isolated ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {}) });
      response.end(body);
    } catch {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  server?.close();
});

function nativeConvert(model, extra = []) {
  const out = mkdtempSync(path.join(tmpdir(), 'pt2-native-'));
  execFileSync(native, ['convert', model, '-o', out, '--portable', ...extra], { stdio: 'pipe' });
  return out;
}

async function downloads(page) {
  const files = {};
  for (const link of await page.locator('#downloads a').all()) {
    const name = await link.getAttribute('download');
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    files[name] = readFileSync(await download.path());
  }
  return files;
}

async function checkAgainstNative(page, outDir, modelName) {
  const report = JSON.parse(readFileSync(path.join(outDir, 'report.json'), 'utf8'));
  for (const step of ['load', 'reference', 'layers', 'emit', 'reload'])
    assert.equal(await page.locator(`#steps li[data-step="${step}"]`).getAttribute('class'), 'passed', step);
  const rows = await page.locator('#layers tbody tr').all();
  assert.equal(rows.length, report.layers.length);
  for (let i = 0; i < rows.length; i++) {
    const cells = await rows[i].locator('td').allTextContents();
    assert.equal(cells[0], report.layers[i].layer);
    assert.equal(cells[3], report.layers[i].op);
    assert.equal(cells[4], report.layers[i].max_abs.toExponential(2), `max abs of ${cells[0]}`);
    const ratio = report.layers[i].worst_ratio;
    assert.equal(cells[6], ratio === 0 ? '0' : ratio.toPrecision(2), `ratio of ${cells[0]}`);
    assert.equal(cells[7], 'pass');
  }
  const files = await downloads(page);
  for (const name of readdirSync(outDir)) {
    let expected = readFileSync(path.join(outDir, name));
    if (!name.startsWith('model.001')) // the page names the model by its file name, the CLI by its path
      expected = Buffer.from(expected.toString().replaceAll(report.model, modelName));
    assert.ok(files[name], `the page offers ${name}`);
    if (name.startsWith('report.')) {
      // The conversion's peak memory is the build's own (WASM has 32-bit pointers and other kernels):
      // every other byte of the reports is the same.
      const build = (text) => text.replace(/"peak_memory_bytes": \d+/, '"peak_memory_bytes": N').replace(/memory: peak [\d.]+ MiB/, 'memory: peak N MiB');
      assert.equal(build(files[name].toString()), build(expected.toString()), `${name} equals the native CLI's but for the peak memory`);
      assert.match(files[name].toString(), /peak/, `${name} reports the peak memory`);
    } else {
      assert.ok(files[name].equals(expected), `${name} equals the native CLI's`);
    }
  }
  assert.ok(files['pt2returnn-output.zip'].subarray(0, 4).equals(Buffer.from('PK\x03\x04')));
}

test('playground: the bundled MelGAN-style example with its checkpoint, one click', async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/playground.html`);
  await page.locator('.examples button').first().click();
  await page.locator('#results').waitFor({ state: 'visible', timeout: 60000 });
  await page.screenshot({ path: path.join(shots, 'playground-melgan.png'), fullPage: true });
  const out = nativeConvert(path.join(root, 'examples', 'tiny_melgan.pt2'),
    ['--checkpoint', path.join(root, 'examples', 'tiny_melgan.checkpoint.pkl'), '--checkpoint-key', 'model.generator']);
  // The page names files as the playground fetched them.
  const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
  for (const name of ['report.json', 'report.txt', 'returnn.config.py']) {
    const text = readFileSync(path.join(out, name), 'utf8').replaceAll(report.checkpoint, 'examples/tiny_melgan.checkpoint.pkl');
    writeFileSync(path.join(out, name), text);
  }
  await checkAgainstNative(page, out, 'examples/tiny_melgan.pt2');
  // Sorting and filtering.
  await page.fill('#filter', 'conv_transpose1d');
  const transposed = report.layers.filter((l) => `${l.layer} ${l.module_path} ${l.op} ${l.class}`.includes('conv_transpose1d'));
  assert.ok(transposed.length >= 2, 'the example has transposed convs');
  assert.equal(await page.locator('#layers tbody tr').count(), transposed.length);
  await page.fill('#filter', '');
  await page.close();
});

test('converter page: a fixture picked from disk', async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/index.html`);
  const model = path.join(fixtures, 'with_buffers.pt2');
  await page.setInputFiles('#model', model);
  await page.click('#convert');
  await page.locator('#results').waitFor({ state: 'visible', timeout: 60000 });
  await page.screenshot({ path: path.join(shots, 'converter-with-buffers.png'), fullPage: true });
  await checkAgainstNative(page, nativeConvert(model), 'with_buffers.pt2');
  // Not cross-origin isolated: no shared memory, the single-threaded build.
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), false);
  assert.match(await page.locator('#summary').textContent(), /, 1 thread\)/);
  await page.close();
});

test('cross-origin isolated, the page runs the threads build on the cores, with the same files', async () => {
  const cores = (await import('node:os')).availableParallelism();
  const page = await browser.newPage();
  // The module loads as the page opens, before any conversion asks for it.
  const moduleFetched = page.waitForRequest((request) => request.url().endsWith('/pt2returnn_wasm_threads.wasm'),
    { timeout: 30000 });
  await page.goto(`${base}/isolated/index.html`);
  await moduleFetched;
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true);
  const threads = Math.min(await page.evaluate(() => navigator.hardwareConcurrency), 8);
  assert.ok(threads >= Math.min(cores, 2), `the browser reports ${threads} cores`);
  // The Transformer-style example: attention, linear and layer norm, split over the threads.
  const model = path.join(root, 'examples', 'tiny_encoder.pt2');
  await page.setInputFiles('#model', model);
  await page.click('#convert');
  await page.locator('#results').waitFor({ state: 'visible', timeout: 60000 });
  assert.match(await page.locator('#summary').textContent(), new RegExp(`, ${threads} threads?\\)`));
  await page.screenshot({ path: path.join(shots, 'converter-threads.png'), fullPage: false });
  await checkAgainstNative(page, nativeConvert(model), 'tiny_encoder.pt2');
  await page.close();
});

test('the flagship (MB-MelGAN + PQMF, weight-norm checkpoint) converts in the page', async (t) => {
  const work = path.join(root, 'build', 'flagship');
  const model = path.join(work, 'mb_melgan.pt2');
  if (!readdirSync(path.dirname(work)).includes('flagship')) return t.skip('run examples/flagship/make_mb_melgan.py first');
  const page = await browser.newPage();
  await page.goto(`${base}/index.html`);
  await page.setInputFiles('#model', model);
  await page.setInputFiles('#checkpoint', path.join(work, 'mb_melgan.checkpoint.pkl'));
  await page.fill('#key', 'model.generator');
  await page.click('#convert');
  await page.locator('#results').waitFor({ state: 'visible', timeout: 240000 });
  await page.screenshot({ path: path.join(shots, 'converter-flagship.png'), fullPage: false });
  const out = nativeConvert(model, ['--checkpoint', path.join(work, 'mb_melgan.checkpoint.pkl'), '--checkpoint-key', 'model.generator']);
  for (const step of ['load', 'reference', 'layers', 'emit', 'reload'])
    assert.equal(await page.locator(`#steps li[data-step="${step}"]`).getAttribute('class'), 'passed', step);
  const files = await downloads(page);
  for (const name of ['returnn.config.json', 'model.001.index', 'model.001.data-00000-of-00001'])
    assert.ok(files[name].equals(readFileSync(path.join(out, name))), `${name} equals the native CLI's`);
  await page.close();
});

test('recurrent models exported with pt2returnn.export convert in the page, with the native files', async () => {
  const dir = temp('pt2-recurrent-');
  // The models of tests/python/test_recurrent.py, exported there with a dynamic time axis.
  writeFileSync(path.join(dir, 'make.py'), `
import pathlib, sys
sys.path.insert(0, ${JSON.stringify(path.join(root, 'tests', 'python'))})
import test_recurrent
test_recurrent.export_models(pathlib.Path(${JSON.stringify(dir)}))
`);
  execFileSync(path.join(root, '.venv', 'bin', 'python'), [path.join(dir, 'make.py')], { stdio: 'pipe' });
  for (const name of ['blstm', 'time_major_lstm', 'bigru']) {
    const model = path.join(dir, `${name}.pt2`);
    const page = await browser.newPage();
    await page.goto(`${base}/index.html`);
    await page.setInputFiles('#model', model);
    await page.click('#convert');
    await page.locator('#results').waitFor({ state: 'visible', timeout: 240000 });
    for (const step of ['load', 'reference', 'layers', 'emit', 'reload', 'padded-batch'])
      assert.equal(await page.locator(`#steps li[data-step="${step}"]`).getAttribute('class'), 'passed', `${name}: ${step}`);
    const out = nativeConvert(model);
    const files = await downloads(page);
    for (const file of ['returnn.config.py', 'returnn.config.json', 'model.001.index', 'model.001.data-00000-of-00001']) {
      let expected = readFileSync(path.join(out, file));
      // the page names the model by its file name, the CLI by its path
      if (file.startsWith('returnn.')) expected = Buffer.from(expected.toString().replaceAll(model, `${name}.pt2`));
      assert.ok(files[file].equals(expected), `${name}: ${file} equals the native CLI's`);
    }
    if (name === 'blstm') await page.screenshot({ path: path.join(shots, 'converter-blstm.png'), fullPage: false });
    await page.close();
  }
});

test('unsupported ops are all listed, with their module paths and source lines', async () => {
  const dir = temp('pt2-unsupported-');
  const model = path.join(dir, 'unlowerable.pt2');
  // A script file, so that torch.export records source lines.
  writeFileSync(path.join(dir, 'make.py'), `
import torch
class Unlowerable(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(8, 8)
    def forward(self, x):
        y = torch.sum(self.proj(x))
        return torch.mean(x[:, :, :5]) + y
torch.export.save(torch.export.export(Unlowerable().eval(), (torch.randn(2, 5, 8),)), ${JSON.stringify(model)})
`);
  execFileSync(path.join(root, '.venv', 'bin', 'python'), [path.join(dir, 'make.py')], { stdio: 'pipe' });
  const page = await browser.newPage();
  await page.goto(`${base}/index.html`);
  await page.setInputFiles('#model', model);
  await page.click('#convert');
  await page.locator('#error li').first().waitFor({ timeout: 30000 });
  const items = await page.locator('#error li').allTextContents();
  assert.equal(items.length, 2, items.join(' | '));
  assert.match(items[0], /^aten\.sum\.default \(node 'sum_1' in the root module at make\.py:\d+ .*torch\.sum/);
  assert.match(items[1], /^aten\.mean\.default \(node 'mean' in the root module at make\.py:\d+ .*torch\.mean/);
  await page.screenshot({ path: path.join(shots, 'unsupported-ops.png'), fullPage: true });
  await page.close();
});

test('a bad file gives its error, naming the file', async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/index.html`);
  await page.setInputFiles('#model', { name: 'not-a-model.pt2', mimeType: 'application/octet-stream', buffer: Buffer.from('hello') });
  await page.click('#convert');
  await page.locator('#error').waitFor({ state: 'visible', timeout: 30000 });
  const text = await page.locator('#error').textContent();
  assert.match(text, /not-a-model\.pt2/);
  const nativeError = (() => {
    const bad = path.join(mkdtempSync(path.join(tmpdir(), 'pt2-bad-')), 'not-a-model.pt2');
    writeFileSync(bad, 'hello');
    try { execFileSync(native, ['convert', bad, '-o', bad + '.out'], { stdio: 'pipe' }); } catch (e) { return e.stderr.toString(); }
    return '';
  })();
  // The same message as the native CLI's, but for the path.
  assert.ok(nativeError.includes(text.replace(/^.*not-a-model\.pt2/, '').trim().slice(0, 40)), `${text} vs ${nativeError}`);
  await page.screenshot({ path: path.join(shots, 'bad-file.png'), fullPage: true });
  await page.close();
});

// ---------------------------------------------------------------- issue 19: the page feels finished

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** A page that records every failed request (a missing favicon is a 404). */
async function openPage(url, viewport) {
  const page = await browser.newPage({ viewport });
  const failures = [];
  page.on('response', (response) => { if (response.status() >= 400) failures.push(`${response.status()} ${response.url()}`); });
  await page.goto(url);
  await page.waitForLoadState('networkidle');
  return { page, failures };
}

test('before any conversion: no empty Steps heading, a favicon, no failed request (desktop and phone)', async () => {
  for (const [label, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    for (const file of ['index.html', 'playground.html']) {
      const { page, failures } = await openPage(`${base}/${file}`, viewport);
      assert.deepEqual(failures, [], `${file}: failed requests`);
      assert.equal(await page.locator('h2', { hasText: 'Steps' }).isVisible(), false, `${file}: no Steps heading yet`);
      assert.equal(await page.locator('link[rel="icon"]').count(), 1, `${file}: a favicon`);
      assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `${file} fits ${label}`);
      await page.screenshot({ path: path.join(shots, `after-${file.replace('.html', '')}-empty-${label}.png`), fullPage: true });
      await page.close();
    }
  }
});

/** Bars visible in the plot: the most runs of bar-coloured pixels along one row (every bar reaches the floor). */
async function plotFacts(page) {
  return page.evaluate(() => {
    const canvas = document.querySelector('#plot');
    const { width, height } = canvas;
    const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data;
    const isBar = (r, g, b) => (r === 0x22 && g === 0xaa && b === 0x77) || (r === 0x77 && g === 0xcc && b === 0x99) ||
      (r === 0xcc && g === 0x33 && b === 0x33);
    let bars = 0, floor = 0;
    for (let y = 0; y < height; y++) {
      let runs = 0, inside = false;
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 4;
        const bar = pixels[i + 3] > 0 && isBar(pixels[i], pixels[i + 1], pixels[i + 2]);
        if (bar && !inside) runs++;
        inside = bar;
      }
      if (runs >= bars) { bars = runs; floor = y; }
    }
    // Labels: dark text below the floor, right of the axis labels.
    let labelPixels = 0;
    for (let y = floor + 2; y < height; y++)
      for (let x = 70; x < width; x++) {
        const i = (y * width + x) * 4;
        if (pixels[i + 3] > 0 && pixels[i] < 0x80 && pixels[i + 1] < 0x80 && pixels[i + 2] < 0x80) labelPixels++;
      }
    return { bars, labelPixels };
  });
}

test('the plot labels its bars and draws layers with a difference of 0 at the axis floor; long lines wrap', async () => {
  for (const [label, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    const { page } = await openPage(`${base}/index.html`, viewport);
    await page.setInputFiles('#model', path.join(root, 'examples', 'tiny_melgan.pt2'));
    await page.setInputFiles('#checkpoint', path.join(root, 'examples', 'tiny_melgan.checkpoint.pkl'));
    await page.fill('#key', 'model.generator');
    await page.click('#convert');
    await page.locator('#results').waitFor({ state: 'visible', timeout: 60000 });
    const out = nativeConvert(path.join(root, 'examples', 'tiny_melgan.pt2'),
      ['--checkpoint', path.join(root, 'examples', 'tiny_melgan.checkpoint.pkl'), '--checkpoint-key', 'model.generator']);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    const zero = report.layers.filter((l) => l.max_abs === 0).length;
    assert.ok(zero > 0, 'the example has layers that match exactly (pads)');
    const facts = await plotFacts(page);
    assert.equal(facts.bars, report.layers.length, 'every layer has a visible bar, those with 0 too');
    assert.ok(facts.labelPixels > 500, `labels under the bars (${facts.labelPixels} dark pixels)`);
    const wrap = await page.evaluate(() => {
      const pre = document.querySelector('#netdict');
      return { style: getComputedStyle(pre).whiteSpace, fits: pre.scrollWidth <= pre.clientWidth + 1 };
    });
    assert.equal(wrap.style, 'pre-wrap');
    assert.ok(wrap.fits, 'no net-dict line is clipped');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `the page fits ${label}`);
    const detail = await page.locator('#steps li[data-step="reference"]').textContent();
    assert.match(detail, /shapes only: no PyTorch output given/);
    await page.screenshot({ path: path.join(shots, `after-converter-melgan-${label}.png`), fullPage: true });
    await page.close();
  }
});

test('input and reference .npy files: compared with PyTorch, and a reference of another shape names both', async () => {
  const { page } = await openPage(`${base}/index.html`, DESKTOP);
  await page.setInputFiles('#model', path.join(fixtures, 'conv_stack.pt2'));
  await page.setInputFiles('#input', path.join(fixtures, 'conv_stack.input_alt.npy'));
  await page.setInputFiles('#reference', path.join(fixtures, 'conv_stack.output_alt.npy'));
  await page.click('#convert');
  await page.locator('#results').waitFor({ state: 'visible', timeout: 60000 });
  const out = nativeConvert(path.join(fixtures, 'conv_stack.pt2'), ['--input', path.join(fixtures, 'conv_stack.input_alt.npy'),
    '--reference', path.join(fixtures, 'conv_stack.output_alt.npy')]);
  const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
  const reference = report.steps.find((s) => s.step === 'reference');
  assert.equal(reference.checked, 'values');
  const detail = await page.locator('#steps li[data-step="reference"]').textContent();
  assert.match(detail, /max abs \S+, ratio \S+ of the tolerance/);
  assert.match(await page.locator('#report').textContent(), /against PyTorch's outputs/);
  assert.equal(await page.locator('#layers tbody tr').count(), report.layers.length);
  // Each output of the program with its layer, its shape and its figures per step (here the one output).
  assert.equal(await page.locator('#outputs li').count(), report.outputs.length);
  const outputLine = await page.locator('#outputs li').first().textContent();
  assert.ok(outputLine.includes(`(layer output, shape [${report.outputs[0].shape.join(', ')}])`), outputLine);
  assert.match(outputLine, /reference max abs \S+; reload max abs \S+/);
  await page.screenshot({ path: path.join(shots, 'after-converter-input-reference.png'), fullPage: true });
  // A reference of another shape.
  const wrong = path.join(temp('pt2-wrong-'), 'wrong.npy');
  execFileSync(path.join(root, '.venv', 'bin', 'python'), ['-c', `import numpy as np; np.save(${JSON.stringify(wrong)}, np.zeros((1, 1, 7), np.float32))`]);
  await page.setInputFiles('#reference', wrong);
  await page.click('#convert');
  await page.locator('#error').waitFor({ state: 'visible', timeout: 30000 });
  const text = await page.locator('#error').textContent();
  assert.match(text, /^wrong\.npy: /);
  const header = readFileSync(path.join(fixtures, 'conv_stack.output_alt.npy')).subarray(10, 128).toString();
  const shape = /'shape': \(([^)]*)\)/.exec(header)[1].split(',').filter((v) => v.trim()).map(Number);
  assert.ok(text.includes('[1, 1, 7]') && text.includes(`[${shape.join(', ')}]`), text);
  await page.close();
});

test('strict checkpoint: a checkpoint missing a parameter is refused naming the key; unchecked, it loads', async () => {
  const dir = temp('pt2-strict-page-');
  const partial = path.join(dir, 'partial.pt');
  execFileSync(path.join(root, '.venv', 'bin', 'python'), ['-c', `
import torch
sd = torch.load(${JSON.stringify(path.join(fixtures, 'conv_stack.ckpt.pt'))})["model"]["generator"]
del sd["layers.0.bias"]
torch.save({"model": {"generator": sd}}, ${JSON.stringify(partial)})`]);
  const { page } = await openPage(`${base}/index.html`, DESKTOP);
  await page.setInputFiles('#model', path.join(fixtures, 'conv_stack.pt2'));
  await page.setInputFiles('#checkpoint', partial);
  await page.fill('#key', 'model.generator');
  assert.equal(await page.locator('#strict').isChecked(), true, 'strict by default');
  await page.click('#convert');
  await page.locator('#error').waitFor({ state: 'visible', timeout: 30000 });
  const text = await page.locator('#error').textContent();
  assert.match(text, /^partial\.pt: /);
  assert.match(text, /missing .*'layers\.0\.bias'/);
  await page.screenshot({ path: path.join(shots, 'after-strict-refused.png'), fullPage: true });
  await page.uncheck('#strict');
  await page.click('#convert');
  await page.locator('#results').waitFor({ state: 'visible', timeout: 60000 });
  const files = await downloads(page);
  const keys = JSON.parse(files['report.json'].toString()).checkpoint_keys;
  assert.deepEqual(keys, { strict: false, loaded: 5, missing: ['layers.0.bias'], unexpected: [] });
  await page.close();
});
