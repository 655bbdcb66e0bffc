// The conversion runs here, off the page's thread, so the page never freezes. Messages in:
// {type: 'convert', model: {name, bytes}, checkpoint: {name, bytes, key} | null, input: {name, bytes} | null,
//  reference: {name, bytes} | null, strict, atol, rtol}.
// Messages out: {type: 'progress', step, message}, {type: 'done', result, tree, seconds, threads}, {type: 'error', message}.
import { loadPt2Returnn, threadsSupported } from './pt2.js';

let converter = null;

async function ready() {
  if (!converter) {
    // A page served cross-origin isolated (COOP and COEP headers, as scripts/web.sh serves it) has
    // shared memory: the threads build, on every core up to 8. Otherwise the single-threaded one.
    const threads = threadsSupported() ? Math.min(navigator.hardwareConcurrency || 1, 8) : 1;
    const name = threads > 1 ? 'pt2returnn_wasm_threads' : 'pt2returnn_wasm';
    const { default: createModule } = await import(`./${name}.js`);
    // The bytes are fetched here and handed over, so any static server will do (no wasm MIME type needed).
    const wasmBinary = new Uint8Array(await (await fetch(new URL(`./${name}.wasm`, import.meta.url))).arrayBuffer());
    converter = await loadPt2Returnn(createModule, { wasmBinary });
    await converter.useThreads(threads);
  }
  return converter;
}

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
