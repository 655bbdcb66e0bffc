// The conversion runs here, off the page's thread, so the page never freezes. Messages in:
// {type: 'convert', model: {name, bytes}, checkpoint: {name, bytes, key} | null, input: {name, bytes} | null,
//  reference: {name, bytes} | null, strict, atol, rtol}.
// Messages out: {type: 'progress', step, message}, {type: 'done', result, tree, seconds, threads}, {type: 'error', message}.
import { loadPt2Returnn, threadsSupported } from './pt2.js';

async function load() {
  // A page served cross-origin isolated (COOP and COEP headers, as scripts/web.sh serves it) has
  // shared memory: the threads build, on every core up to 8. Otherwise the single-threaded one.
  const threads = threadsSupported() ? Math.min(navigator.hardwareConcurrency || 1, 8) : 1;
  const name = threads > 1 ? 'pt2returnn_wasm_threads' : 'pt2returnn_wasm';
  const { default: createModule } = await import(`./${name}.js`);
  // The bytes are fetched here and handed over, so any static server will do (no wasm MIME type needed).
  const wasmBinary = new Uint8Array(await (await fetch(new URL(`./${name}.wasm`, import.meta.url))).arrayBuffer());
  const converter = await loadPt2Returnn(createModule, { wasmBinary });
  await converter.useThreads(threads);
  return converter;
}

let loading = null;

/** The converter, loaded once (again after a load that failed). */
function ready() {
  loading ??= load().catch((error) => {
    loading = null;
    throw error;
  });
  return loading;
}

// The module, and its workers, load as the page opens (app.js starts this worker with the page),
// not when the first conversion asks; a failure is reported by the conversion that needs them.
ready().catch(() => {});

self.onmessage = async (event) => {
  const request = event.data;
  if (request.type !== 'convert') return;
  try {
    const pt2 = await ready();
    const started = performance.now();
    const result = pt2.convert(request.model.bytes, {
      name: request.model.name,
      checkpoint: request.checkpoint,
      input: request.input?.bytes ?? null,
      inputName: request.input?.name,
      reference: request.reference?.bytes ?? null,
      referenceName: request.reference?.name,
      strict: request.strict ?? true,
      atol: request.atol,
      rtol: request.rtol,
      onProgress: (step, message) => self.postMessage({ type: 'progress', step, message }),
    });
    const seconds = (performance.now() - started) / 1000;
    const tree = JSON.parse(pt2.inspect(request.model.bytes, { name: request.model.name, json: true })).modules;
    self.postMessage({ type: 'done', result, tree, seconds, threads: pt2.threads }, [result.checkpoint.index.buffer, result.checkpoint.data.buffer]);
  } catch (error) {
    self.postMessage({ type: 'error', message: error.message, kind: error.kind ?? 'internal' });
  }
};
