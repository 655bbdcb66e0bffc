// pt2returnn for Node: the WebAssembly build of the C core (dist/, the same artifact the browser
// page loads) behind an async API. Bytes in, bytes and text out; the CLI (bin/) reads and writes files.
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dist');
let loading = null;

async function converter() {
  loading ??= (async () => {
    const { loadPt2Returnn } = await import(pathToFileURL(path.join(dist, 'pt2.mjs')).href);
    const { default: createModule } = await import(pathToFileURL(path.join(dist, 'pt2returnn_wasm.js')).href);
    // Debian's emscripten mistakes Node's global fetch for a browser: hand over the bytes.
    return loadPt2Returnn(createModule, { wasmBinary: await readFile(path.join(dist, 'pt2returnn_wasm.wasm')) });
  })();
  return loading;
}

const bytesOf = (value) => (value == null ? null : value instanceof Uint8Array ? value : new Uint8Array(value));

/** The inspect report of a .pt2, torch.save or safetensors file (text, or JSON text). */
export async function inspect(bytes, { name = 'model.pt2', json = false, checkpointKey = '' } = {}) {
  return (await converter()).inspect(bytesOf(bytes), { name, json, checkpointKey });
}

/** The reference run with PyTorch semantics: { outputs: [npy bytes], forwardSeconds }. */
export async function run(bytes, { name = 'model.pt2', checkpoint = null, inputs = [], repeat = 0 } = {}) {
  return (await converter()).run(bytesOf(bytes), {
    name, repeat, inputs: inputs.map(bytesOf),
    checkpoint: checkpoint && { ...checkpoint, bytes: bytesOf(checkpoint.bytes) },
  });
}

/** Every step of the conversion: { configPy, configJson, checkpoint: {index, data}, report, reportText, failedStep }. */
export async function convert(modelBytes, { name = 'model.pt2', checkpoint = null, input = null, reference = null,
  atol = 1e-4, rtol = 1e-4, asLayer = '', onProgress = null } = {}) {
  const pt2 = await converter();
  await Promise.resolve(); // async like the rest: callers await it the same way
  return pt2.convert(bytesOf(modelBytes), {
    name, atol, rtol, asLayer, onProgress, input: bytesOf(input), reference: bytesOf(reference),
    checkpoint: checkpoint && { ...checkpoint, bytes: bytesOf(checkpoint.bytes) },
  });
}
