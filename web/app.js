// The converter page (index.html) and the docs playground (playground.html) share this: pick or
// drop a .pt2 (and a checkpoint), convert in a Web Worker, watch the steps, read the per-layer
// table, the plot, the module tree, the net dict and the report, and download every file.
import { makeZip } from './zip.js';

const STEPS = [
  ['load', 'load the archive and the checkpoint'],
  ['reference', 'reference run with PyTorch semantics'],
  ['layers', 'naming, lowering, each layer checked on PyTorch\'s inputs'],
  ['emit', 'RETURNN configs and TF checkpoint'],
  ['reload', 'reload the JSON config and checkpoint, run them'],
  ['padded-batch', 'the reloaded network on a padded batch of sequences of different lengths'],
];

const $ = (selector) => document.querySelector(selector);

/* The steps, the error box and the results: the same on the converter page and the playground. */
const RESULTS = `
<section id="progress" hidden>
  <h2>Steps</h2>
  <p id="summary"></p>
  <ol id="steps"></ol>
</section>
<div id="error" hidden></div>
<section id="results" hidden>
  <h2>Files</h2>
  <div id="downloads"></div>
  <h2>Outputs</h2>
  <ul id="outputs"></ul>
  <h2>Every layer, run with RETURNN's semantics on PyTorch's own inputs</h2>
  <label>filter <input type="search" id="filter" placeholder="layer, module or op"></label>
  <label><input type="checkbox" id="failed-only"> failed only</label> <span id="layer-count"></span>
  <div class="table-box"><table id="layers">
    <thead><tr><th data-key="layer">layer</th><th data-key="class">class</th><th data-key="module_path">module</th>
      <th data-key="op">torch op</th><th data-key="max_abs">max abs</th><th data-key="max_rel">max rel</th>
      <th data-key="worst_ratio" title="the worst |ours - torch| / (atol + rtol·|torch|): a layer passes when it is ≤ 1">ratio</th>
      <th data-key="passed">result</th></tr></thead>
    <tbody></tbody>
  </table></div>
  <h2>Difference per layer (max abs, log scale)</h2>
  <div class="plot-box"><canvas id="plot" width="1000" height="300"></canvas></div>
  <h2>Module tree</h2>
  <ul id="tree"></ul>
  <h2>Net dict (returnn.config.json)</h2>
  <pre id="netdict"></pre>
  <h2>Report</h2>
  <pre id="report"></pre>
</section>`;

export function mountResults() {
  document.querySelector('#results-root').innerHTML = RESULTS;
}
// The conversion's worker starts with the page: it loads the module (and its threads) while the
// user picks files, not when the first conversion asks.
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let files = {};

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

function resetSteps() {
  const list = $('#steps');
  list.replaceChildren(...STEPS.map(([name, what]) =>
    element('li', { 'data-step': name, class: 'pending' }, element('b', {}, name), ' ', what, element('span', { class: 'detail' }))));
}

function setStep(name, state, detail) {
  const item = document.querySelector(`#steps li[data-step="${name}"]`);
  if (!item) return;
  item.className = state;
  item.querySelector('.detail').textContent = detail ? ` — ${detail}` : '';
}

function showError(message) {
  $('#progress').hidden = false;
  const box = $('#error');
  box.hidden = false;
  // Unsupported ops come as one line, "N nodes use ops ...: a (node ...); b (node ...)": list them.
  const unsupported = /\d+ nodes? uses? ops /.test(message);
  const [head, list] = unsupported ? message.split(/:\s(?=aten\.|[a-z_]+\.)/, 2) : [message];
  box.replaceChildren(element('p', {}, head));
  if (list) box.append(element('ul', {}, ...list.split('; ').map((entry) => element('li', {}, entry))));
}

function format(value) {
  return value === null || value === undefined ? '' : Number(value).toExponential(2);
}

/* The margin: a check passes when its ratio is at most 1. */
function formatRatio(value) {
  return value === null || value === undefined ? '' : Number(value) === 0 ? '0' : Number(value).toPrecision(2);
}

function renderTable(layers) {
  const body = $('#layers tbody');
  const filter = $('#filter').value.toLowerCase();
  const failedOnly = $('#failed-only').checked;
  const key = body.dataset.sortKey ?? 'index';
  const direction = Number(body.dataset.sortDirection ?? 1);
  const rows = layers.map((layer, index) => ({ ...layer, index }))
    .filter((l) => !failedOnly || !l.passed)
    .filter((l) => !filter || `${l.layer} ${l.module_path} ${l.op} ${l.class}`.toLowerCase().includes(filter));
  rows.sort((a, b) => (a[key] > b[key] ? 1 : a[key] < b[key] ? -1 : 0) * direction);
  body.replaceChildren(...rows.map((l) => element('tr', { class: l.passed ? 'pass' : 'fail' },
    element('td', {}, l.layer), element('td', {}, l.class), element('td', {}, l.module_path || '(root)'),
    element('td', { title: l.source_line ?? '' }, l.op), element('td', { class: 'number' }, format(l.max_abs)),
    element('td', { class: 'number' }, format(l.max_rel)), element('td', { class: 'number' }, formatRatio(l.worst_ratio)),
    element('td', {}, l.passed ? 'pass' : 'FAIL'))));
  $('#layer-count').textContent = `${rows.length} of ${layers.length} layers`;
}

// Bars on a log axis from 1e-12 to 1, labelled with the layer names below; a layer whose
// difference is exactly 0 is drawn as a short bar at the axis floor (and its label says "= 0"),
// so every layer is visible.
function plot(layers, atol) {
  const canvas = $('#plot');
  const context = canvas.getContext('2d');
  const width = canvas.width, height = canvas.height;
  const left = 64, top = 16, bottom = 110, floorBar = 3;
  context.clearRect(0, 0, width, height);
  const low = -12, high = 0;
  const log = (v) => Math.log10(Math.max(v, 10 ** low));
  const plotHeight = height - top - bottom;
  const y = (v) => top + plotHeight - ((log(v) - low) / (high - low)) * plotHeight;
  context.strokeStyle = '#ddd';
  context.fillStyle = '#333';
  context.font = '11px sans-serif';
  context.textAlign = 'right';
  for (let e = low; e <= high; e += 2) {
    context.fillText(`1e${e}`, left - 4, y(10 ** e) + 4);
    context.beginPath(); context.moveTo(left, y(10 ** e)); context.lineTo(width, y(10 ** e)); context.stroke();
  }
  context.textAlign = 'left';
  context.save();
  context.translate(14, top + plotHeight / 2);
  context.rotate(-Math.PI / 2);
  context.textAlign = 'center';
  context.fillText('max abs difference', 0, -2);
  context.restore();
  const step = (width - left) / Math.max(layers.length, 1);
  // Label every bar when there is room, else every k-th (the table lists them all).
  const every = Math.max(1, Math.ceil(12 / step));
  layers.forEach((layer, i) => {
    const value = layer.max_abs ?? 1;
    const zero = value === 0;
    context.fillStyle = layer.passed ? (zero ? '#7c9' : '#2a7') : '#c33';
    const barTop = zero ? top + plotHeight - floorBar : y(value);
    const x = left + i * step;
    context.fillRect(x, barTop, Math.max(step - 1, 1), top + plotHeight - barTop);
    if (i % every === 0) {
      context.save();
      context.fillStyle = '#333';
      context.translate(x + Math.max(step - 1, 1) / 2 + 3, top + plotHeight + 4);
      context.rotate(-Math.PI / 3);
      context.textAlign = 'right';
      const label = `${layer.layer}${zero ? ' = 0' : ''}`;
      context.fillText(label.length > 22 ? `${label.slice(0, 21)}…` : label, 0, 0);
      context.restore();
    }
  });
  context.strokeStyle = '#c33';
  context.beginPath(); context.moveTo(left, y(atol)); context.lineTo(width, y(atol)); context.stroke();
  context.fillStyle = '#c33';
  context.fillText(`atol ${atol}`, width - 70, y(atol) - 4);
  canvas.dataset.bars = String(layers.length);
  canvas.dataset.zeroBars = String(layers.filter((l) => l.max_abs === 0).length);
}

function renderTree(tree) {
  const list = $('#tree');
  list.replaceChildren();
  if (!tree) return;
  const entries = Array.isArray(tree) ? tree : Object.values(tree);
  for (const module of entries) {
    const path = module.path ?? '';
    const depth = path ? path.split('.').length : 0;
    list.append(element('li', { style: `margin-left:${depth * 1.2}em` }, element('b', {}, path || '(root)'), ' ',
      module.type ?? '', module.ops !== undefined ? ` (${module.ops} ops)` : ''));
  }
}

function download(name, bytes) {
  const url = URL.createObjectURL(new Blob([bytes]));
  return element('a', { href: url, download: name, class: 'download' }, name);
}

/* Each output of the program (several for a tuple, a dict or a dataclass) with its RETURNN layer,
 * its shape and its figures in every step that compared it. */
function renderOutputs(outputs) {
  $('#outputs').replaceChildren(...outputs.map((output) => {
    const figures = output.steps.map((step) => `${step.step} ${step.passed ? '' : 'FAILED '}`
      + (step.max_abs !== undefined ? `max abs ${format(step.max_abs)}` : 'not compared'));
    return element('li', { 'data-layer': output.layer },
      `${output.name} (layer ${output.layer}, shape [${output.shape.join(', ')}])${figures.length ? ': ' : ''}${figures.join('; ')}`);
  }));
}

function showResult(message) {
  const { result, tree } = message;
  const encoder = new TextEncoder();
  files = {
    'returnn.config.py': encoder.encode(result.configPy),
    'returnn.config.json': encoder.encode(result.configJson),
    'model.001.index': result.checkpoint.index,
    'model.001.data-00000-of-00001': result.checkpoint.data,
    'report.json': encoder.encode(result.reportJson),
    'report.txt': encoder.encode(result.reportText),
  };
  for (const step of result.report.steps) {
    const detail = step.max_abs !== undefined ? `max abs ${format(step.max_abs)}, ratio ${formatRatio(step.worst_ratio)} of the tolerance`
      : step.checked === 'shapes' ? 'shapes only: no PyTorch output given to compare values with' : 'done';
    setStep(step.step, step.passed ? 'passed' : 'failed', detail);
  }
  $('#summary').textContent = result.failedStep
    ? `The ${result.failedStep} check failed; the files are still offered below.`
    : `Every check passed: ${result.report.num_layers} RETURNN layers, ${result.report.num_variables} checkpoint variables (${message.seconds.toFixed(2)} s, ${message.threads} ${message.threads === 1 ? 'thread' : 'threads'}).`;
  renderOutputs(result.report.outputs ?? []);
  const layers = result.report.layers;
  $('#results').hidden = false;
  $('#layers tbody').dataset.sortKey = 'index';
  renderTable(layers);
  $('#filter').oninput = () => renderTable(layers);
  $('#failed-only').onchange = () => renderTable(layers);
  document.querySelectorAll('#layers th[data-key]').forEach((th) => {
    th.onclick = () => {
      const body = $('#layers tbody');
      body.dataset.sortDirection = body.dataset.sortKey === th.dataset.key ? -Number(body.dataset.sortDirection ?? 1) : 1;
      body.dataset.sortKey = th.dataset.key;
      renderTable(layers);
    };
  });
  plot(layers, result.report.atol);
  renderTree(tree);
  $('#netdict').textContent = result.configJson;
  $('#report').textContent = result.reportText;
  const zip = makeZip(Object.entries(files).map(([name, bytes]) => ({ name, bytes })));
  $('#downloads').replaceChildren(...Object.entries(files).map(([name, bytes]) => download(name, bytes)),
    download('pt2returnn-output.zip', zip));
}

/** Converts in the worker. model, checkpoint, input, reference: { name, bytes } or null. */
export function convert({ model, checkpoint = null, key = '', input = null, reference = null, strict = true }) {
  $('#error').hidden = true;
  $('#results').hidden = true;
  $('#progress').hidden = false;
  $('#summary').textContent = 'Converting…';
  resetSteps();
  worker.onmessage = ({ data }) => {
    if (data.type === 'progress') {
      const done = /^(done|passed|FAILED)/.test(data.message);
      setStep(data.step, done ? (data.message.startsWith('FAILED') ? 'failed' : 'passed') : 'running', data.message);
    } else if (data.type === 'done') {
      showResult(data);
    } else {
      $('#summary').textContent = 'The conversion stopped.';
      document.querySelectorAll('#steps li.running').forEach((li) => { li.className = 'failed'; });
      showError(data.message);
    }
  };
  worker.postMessage({
    type: 'convert', model, atol: Number($('#atol').value), rtol: Number($('#rtol').value),
    checkpoint: checkpoint ? { ...checkpoint, key } : null, input, reference, strict,
  });
}

async function readFile(file) {
  return file ? { name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) } : null;
}

/* The optional fields beside the model: checkpoint, key path, strictness, input and reference .npy. */
async function pickedExtras() {
  return {
    checkpoint: await readFile($('#checkpoint').files[0]),
    key: $('#key').value.trim(),
    strict: $('#strict').checked,
    input: await readFile($('#input').files[0]),
    reference: await readFile($('#reference').files[0]),
  };
}

export function setUpPicker() {
  const start = async () => {
    const model = await readFile($('#model').files[0]);
    if (!model) return showError('Choose a .pt2 file (torch.export.save) first.');
    convert({ model, ...await pickedExtras() });
  };
  $('#convert').addEventListener('click', start);
  const zone = $('#drop');
  zone.addEventListener('dragover', (event) => { event.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', async (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    const dropped = [...event.dataTransfer.files];
    const model = dropped.find((f) => f.name.endsWith('.pt2')) ?? dropped[0];
    const checkpoint = dropped.find((f) => f !== model);
    convert({ ...await pickedExtras(), model: await readFile(model), checkpoint: await readFile(checkpoint) });
  });
}
