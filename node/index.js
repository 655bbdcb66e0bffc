// pt2returnn for Node: the WebAssembly build of the C core (dist/, the same artifact the browser
// page loads) behind an async API. A model, checkpoint, input or reference may be given as a path,
// as bytes (Uint8Array, Buffer, ArrayBuffer) or as a File/Blob; the CLI (bin/) is built on this.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { Pt2Error, decodeNpy } from './dist/pt2.mjs';

export { Pt2Error, decodeNpy };

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dist');
let loading = null;

async function converter() {
  loading ??= (async () => {
    const { loadPt2Returnn } = await import(pathToFileURL(path.join(dist, 'pt2.mjs')).href);
    // The threads build (Node has SharedArrayBuffer); at one thread, the default, it starts no worker.
    const { default: createModule } = await import(pathToFileURL(path.join(dist, 'pt2returnn_wasm_threads.js')).href);
    // Debian's emscripten mistakes Node's global fetch for a browser: hand over the bytes.
    return loadPt2Returnn(createModule, {
      wasmBinary: await readFile(path.join(dist, 'pt2returnn_wasm_threads.wasm')),
      locateFile: (file) => path.join(dist, file.replace(/\.worker\.js$/, '.worker.cjs')),
    });
  })();
  return loading;
}

/* The converter, its kernels split over `threads` threads (workers started on first use; a count
 * out of 1..64 is refused there, as bad input). */
async function converterWithThreads(threads) {
  const pt2 = await converter();
  await pt2.useThreads(threads);
  return pt2;
}

/* Bad input in the CLI's sense (exit code 2), for what the caller passed rather than what a file holds. */
function inputError(message) {
  return new Pt2Error(2, message);
}

/* The message for a file that cannot be read, as the native CLI words it. */
function cannotOpen(file, error) {
  const reason = error.code === 'ENOENT' ? 'No such file or directory' : error.code === 'EISDIR' ? 'not a regular file' : error.message;
  return inputError(`${file}: cannot open: ${reason}`);
}

/* A file read when the converter wants its bytes, straight into the memory it gives (the
 * WebAssembly heap): a model is then held once, where a Buffer read first and copied in held it
 * twice at the peak. Its size is taken now, so a missing file fails before any work. */
function fileSource(file) {
  let size;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
    size = stat.size;
  } catch (error) {
    throw cannotOpen(file, error);
  }
  return {
    length: size,
    readInto(view) {
      let fd;
      try {
        fd = openSync(file, 'r');
        if (fstatSync(fd).size !== size) throw new Error('its size changed while it was being read');
        for (let at = 0; at < size;) {
          const read = readSync(fd, view, at, size - at, at);
          if (!read) throw new Error('it ended early while it was being read');
          at += read;
        }
      } catch (error) {
        throw cannotOpen(file, error);
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
    },
  };
}

/**
 * { bytes, name } of a path, bytes or a File/Blob. `what` names the argument in errors; `fallback`
 * is the name given to bare bytes (the `name` option).
 */
async function resolveSource(value, what, fallback, { inPlace = false } = {}) {
  if (value == null) return null;
  if (typeof value === 'string' || value instanceof URL) {
    const file = value instanceof URL ? fileURLToPath(value) : value;
    // A model or checkpoint is read where the converter holds it (fileSource); small files now.
    if (inPlace) return { bytes: fileSource(file), name: file };
    try {
      const bytes = await readFile(file); // a view of the Buffer (a Uint8Array already): not a copy of the file
      return { bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), name: file };
    } catch (error) {
      throw cannotOpen(file, error);
    }
  }
  if (value instanceof Uint8Array) return { bytes: value, name: fallback };
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value))
    return { bytes: value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength), name: fallback };
  if (typeof Blob !== 'undefined' && value instanceof Blob)
    return { bytes: new Uint8Array(await value.arrayBuffer()), name: value.name || fallback };
  throw inputError(`${what}: expected a path, bytes (Uint8Array, Buffer, ArrayBuffer) or a File/Blob, got ${value === null ? 'null' : typeof value}`);
}

/** A checkpoint: a path, bytes or a File/Blob, or { bytes | path | file, name?, key? }. */
async function resolveCheckpoint(checkpoint, key) {
  if (checkpoint == null) return null;
  const isSpec = typeof checkpoint === 'object' && !(checkpoint instanceof Uint8Array) && !(checkpoint instanceof ArrayBuffer) &&
    !ArrayBuffer.isView(checkpoint) && !(checkpoint instanceof URL) && !(typeof Blob !== 'undefined' && checkpoint instanceof Blob);
  const value = isSpec ? checkpoint.bytes ?? checkpoint.path ?? checkpoint.file : checkpoint;
  const resolved = await resolveSource(value, 'checkpoint', 'checkpoint', { inPlace: true });
  return { bytes: resolved.bytes, name: (isSpec && checkpoint.name) || resolved.name, key: (isSpec && checkpoint.key) || key || '' };
}

/** The inspect report of a .pt2, torch.save or safetensors file (text, or JSON text). */
export async function inspect(file, { name = 'model.pt2', json = false, checkpointKey = '' } = {}) {
  const source = await resolveSource(file, 'file', name, { inPlace: true });
  return (await converter()).inspect(source.bytes, { name: source.name, json, checkpointKey });
}

/**
 * The reference run with PyTorch semantics: { outputs: [{ name, dtype, shape, data, npy }], summary,
 * notes, forwardSeconds, forwardSecondsBest }.
 */
export async function run(model, { name = 'model.pt2', checkpoint = null, checkpointKey = '', inputs = [], repeat = 0,
  strict = true, threads = 1 } = {}) {
  const source = await resolveSource(model, 'model', name, { inPlace: true });
  const resolvedInputs = await Promise.all(inputs.map((input, i) => resolveSource(input, `inputs[${i}]`, `input ${i}`)));
  return (await converterWithThreads(threads)).run(source.bytes, {
    name: source.name, repeat, strict, inputs: resolvedInputs.map((i) => i.bytes), inputNames: resolvedInputs.map((i) => i.name),
    checkpoint: await resolveCheckpoint(checkpoint, checkpointKey),
  });
}

/** Every step of the conversion: { configPy, configJson, checkpoint: {index, data}, report, reportText, failedStep }. */
export async function convert(model, { name = 'model.pt2', checkpoint = null, checkpointKey = '', input = null,
  reference = null, atol = 1e-4, rtol = 1e-4, asLayer = '', strict = true, onProgress = null, threads = 1 } = {}) {
  const source = await resolveSource(model, 'model', name, { inPlace: true });
  const inputSource = await resolveSource(input, 'input', 'input');
  const referenceSource = await resolveSource(reference, 'reference', 'reference');
  const resolvedCheckpoint = await resolveCheckpoint(checkpoint, checkpointKey);
  const pt2 = await converterWithThreads(threads);
  return pt2.convert(source.bytes, {
    name: source.name, atol, rtol, asLayer, onProgress, strict,
    input: inputSource?.bytes ?? null, inputName: inputSource?.name,
    reference: referenceSource?.bytes ?? null, referenceName: referenceSource?.name,
    checkpoint: resolvedCheckpoint,
  });
}
