// The JS side of the WebAssembly build, shared by the browser page (web/) and the npm package
// (node/): bytes in, bytes and text out. No Node or DOM APIs here: callers read files and pass
// the module factory (build-wasm/pt2returnn_wasm.js) and, in Node, the .wasm bytes.

const OUTPUTS = ['configPy', 'configJson', 'index', 'data', 'reportJson', 'reportText', 'layerPy', 'layerJson'];
const STATUS_NAMES = ['ok', 'verify', 'input', 'unsupported', 'io', 'memory', 'internal'];

export class Pt2Error extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
    this.kind = STATUS_NAMES[status] ?? 'internal';
    // The CLI's exit codes: 1 a verification failed, 2 bad input, unsupported or I/O, 3 internal or memory.
    this.exitCode = status === 1 ? 1 : status === 2 || status === 3 || status === 4 ? 2 : 3;
  }
}

const NPY_TYPES = {
  '<f4': [Float32Array, 'float32'], '<f8': [Float64Array, 'float64'], '<i8': [BigInt64Array, 'int64'],
  '<i4': [Int32Array, 'int32'], '<i2': [Int16Array, 'int16'], '|i1': [Int8Array, 'int8'], '|u1': [Uint8Array, 'uint8'],
  '|b1': [Uint8Array, 'bool'],
};

/** A .npy file (C order, as the core writes it) as { dtype, shape, data: TypedArray }. */
export function decodeNpy(bytes) {
  if (bytes.length < 10 || bytes[0] !== 0x93 || String.fromCharCode(...bytes.subarray(1, 6)) !== 'NUMPY')
    throw new Error('not a .npy file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [headerStart, headerLength] = bytes[6] === 1 ? [10, view.getUint16(8, true)] : [12, view.getUint32(8, true)];
  const header = new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!NPY_TYPES[descr] || /'fortran_order':\s*True/.test(header)) throw new Error(`unsupported .npy header ${header.trim()}`);
  const [Type, dtype] = NPY_TYPES[descr];
  const start = headerStart + headerLength;
  const count = shape.reduce((n, d) => n * d, 1);
  // A copy, aligned for the typed array.
  const data = new Type(bytes.slice(start, start + count * Type.BYTES_PER_ELEMENT).buffer);
  return { dtype, shape, data };
}

// Relaxed SIMD, for the GEMM's fused multiply-add (f32x4.relaxed_madd): this module, one
// function computing relaxed_madd of three zero vectors, validates where the engine has it
// (Chromium 114 and later, Node 22; Node 20 with --experimental-wasm-relaxed-simd).
const V128_ZERO = [0xfd, 0x0c, ...new Array(16).fill(0)];
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, // header
  1, 4, 1, 0x60, 0, 0, // types: () -> ()
  3, 2, 1, 0, // one function of that type
  10, 62, 1, 60, 0, ...V128_ZERO, ...V128_ZERO, ...V128_ZERO, 0xfd, 0x85, 0x02, 0x1a, 0x0b, // its code
]);

export function relaxedSimdSupported() {
  return WebAssembly.validate(RELAXED_SIMD_PROBE);
}

function readLeb(bytes, at) {
  let value = 0;
  for (let shift = 0; ; shift += 7) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, at];
  }
}

/** The module for an engine without relaxed SIMD: each relaxed_madd (listed by the build in the
 * custom section pt2.relaxed_madd, see wasm/relaxed_simd_opcodes.py) becomes v128.bitselect and
 * nop, the same stack shape and length, so the module validates; those functions (the fused GEMM
 * kernel and dot) are then never called, as the core is told (pt2_wasm_set_fused(0)). */
function withoutRelaxedSimd(wasm) {
  const bytes = new Uint8Array(wasm);
  for (let at = 8; at < bytes.length;) {
    const id = bytes[at];
    const [size, start] = readLeb(bytes, at + 1);
    at = start + size;
    if (id !== 0) continue;
    const [nameLength, nameStart] = readLeb(bytes, start);
    if (new TextDecoder().decode(bytes.subarray(nameStart, nameStart + nameLength)) !== 'pt2.relaxed_madd') continue;
    const patched = bytes.slice();
    const offsets = new DataView(bytes.buffer, bytes.byteOffset + nameStart + nameLength, at - nameStart - nameLength);
    for (let i = 0; i < offsets.byteLength; i += 4) {
      const offset = offsets.getUint32(i, true);
      if (patched[offset] !== 0xfd || patched[offset + 1] !== 0x85 || patched[offset + 2] !== 0x02)
        throw new Error(`pt2returnn_wasm.wasm: no relaxed_madd at offset ${offset}, which its section pt2.relaxed_madd lists`);
      patched.set([0xfd, 0x52, 0x01], offset);
    }
    return patched;
  }
  return bytes; // a module built without the fused kernel
}

/** Whether this engine can run the threads build (pt2returnn_wasm_threads.js, a shared memory):
 * Node can; a page only when served cross-origin isolated (COOP and COEP headers). */
export function threadsSupported() {
  return typeof SharedArrayBuffer !== 'undefined' && globalThis.crossOriginIsolated !== false;
}

/** The converter over the module `createModule` (build-wasm/pt2returnn_wasm.js) makes. With
 * moduleOptions.wasmBinary (the .wasm bytes) it runs on any engine with SIMD128: the GEMM fuses
 * its multiply-adds where the engine has relaxed SIMD (one rounding per term on a CPU with FMA,
 * the bits of the native CLI's --portable there), else, or with fused: false, it multiplies and
 * adds (the same bits on every CPU). */
export async function loadPt2Returnn(createModule, moduleOptions = {}, { fused = true } = {}) {
  const relaxed = relaxedSimdSupported();
  if (!relaxed) {
    if (!moduleOptions.wasmBinary)
      throw new Error('this WebAssembly engine lacks relaxed SIMD: pass the module\'s bytes as wasmBinary to run without it');
    moduleOptions = { ...moduleOptions, wasmBinary: withoutRelaxedSimd(moduleOptions.wasmBinary) };
  }
  const module = await createModule(moduleOptions);
  module.ccall('pt2_wasm_set_fused', null, ['number'], [relaxed && fused ? 1 : 0]);
  const malloc = (n) => module._malloc(Math.max(n, 1));
  // The heap as it is now: in the threads build a view of the shared memory (a thread that grew
  // it leaves this thread's module.HEAPU8 on the old, shorter buffer).
  const heap = () => (module.wasmMemory ? new Uint8Array(module.wasmMemory.buffer) : module.HEAPU8);
  let threads = 1, workersStarted = 0, workersFailed = null;

  // Into the heap 16 MiB at a time: V8 copies into a shared memory (the threads build) by way of a
  // temporary copy of the whole source, which for a model of 218 MiB was 218 MiB more at the peak
  // (a 57M-parameter encoder under Node: 1231 MiB resident, 1007 MiB in pieces, as without threads).
  function copyIn(bytes, pointer) {
    const memory = heap(), piece = 1 << 24;
    for (let at = 0; at < bytes.length; at += piece) memory.set(bytes.subarray(at, at + piece), pointer + at);
  }

  // `source`: bytes, or { length, readInto(view) }, which fills the view itself (Node reads a file
  // named by its path straight into the heap: the model is then held once, not also in a Buffer).
  function withBytes(source, use) {
    const length = source ? source.length : 0;
    const pointer = malloc(length);
    try {
      if (source?.readInto) source.readInto(heap().subarray(pointer, pointer + length));
      else if (length) copyIn(source, pointer);
      return use(pointer, length);
    } finally {
      module._free(pointer);
    }
  }

  function error(status) {
    return new Pt2Error(status, module.UTF8ToString(module.ccall('pt2_wasm_error', 'number', [], [])));
  }

  function outputBytes(which) {
    const pointer = module.ccall('pt2_wasm_convert_output', 'number', ['number'], [which]);
    const length = module.ccall('pt2_wasm_convert_output_length', 'number', ['number'], [which]);
    return heap().slice(pointer, pointer + length);
  }

  return {
    module,
    /** Whether the GEMM fuses its multiply-adds (relaxed SIMD). */
    fusedMultiplyAdd: relaxed && fused,
    /** The threads each later run and conversion uses (1 until useThreads). */
    get threads() { return threads; },
    /** Runs and conversions from now on split their kernels over `count` threads (the results'
     * bits do not depend on it). Needs the threads build; starts the workers the count needs
     * first, as a thread cannot start while the one that asked for it waits. In Node the workers
     * do not keep the process alive. */
    async useThreads(count) {
      // Bad input in the CLI's sense (exit code 2): what the caller passed.
      if (!Number.isInteger(count) || count < 1 || count > 64) throw new Pt2Error(2, `threads: expected an integer 1..64, got ${count}`);
      if (count > 1 && workersFailed) throw workersFailed;
      if (count > 1 && !module.PThread)
        throw new Error('threads: this module is the single-threaded build; load pt2returnn_wasm_threads.js (it needs SharedArrayBuffer)');
      // All of them at once: each worker starts (a thread, the glue, the module) on its own.
      const starting = [];
      for (; workersStarted < count - 1; workersStarted++) {
        module.PThread.allocateUnusedWorker();
        const worker = module.PThread.unusedWorkers[module.PThread.unusedWorkers.length - 1];
        starting.push(new Promise((resolve, reject) => {
          worker.addEventListener?.('error', reject);
          worker.on?.('error', reject);
          module.PThread.loadWasmModuleToWorker(worker, resolve);
        }).then(() => worker.unref?.()));
      }
      try {
        await Promise.all(starting);
      } catch (error) {
        // A worker that did not start may still be handed a thread: no threads from here on.
        workersFailed = new Error(`threads: a worker did not start (${error?.message ?? error})`);
        throw workersFailed;
      }
      threads = count;
      module.ccall('pt2_wasm_set_threads', null, ['number'], [count]);
    },
    /** The inspect report of a .pt2 or checkpoint (text, or JSON when json is set). */
    inspect(bytes, { name = 'model.pt2', json = false, checkpointKey = '' } = {}) {
      return withBytes(bytes, (pointer, length) => {
        const status = module.ccall('pt2_wasm_inspect', 'number', ['number', 'number', 'string', 'number', 'string'],
          [pointer, length, name, json ? 1 : 0, checkpointKey]);
        if (status) throw error(status);
        const result = module.ccall('pt2_wasm_result', 'number', [], []);
        const length2 = module.ccall('pt2_wasm_result_length', 'number', [], []);
        return new TextDecoder().decode(heap().slice(result, result + length2));
      });
    },
    /** The reference run: each output decoded ({ name, dtype, shape, data, npy }), the summary lines
     * the CLI prints, notes on inputs that were cast, and forwardSeconds (the one run's time, or
     * with `repeat` the mean of that many further runs). */
    run(modelBytes, { name = 'model.pt2', checkpoint = null, inputs = [], inputNames = [], repeat = 0, strict = true } = {}) {
      const all = new Uint8Array(inputs.reduce((n, b) => n + b.length, 0));
      let at = 0;
      for (const b of inputs) { all.set(b, at); at += b.length; }
      const lengths = new Uint8Array(new Uint32Array(inputs.map((b) => b.length)).buffer);
      const names = inputs.map((_, i) => inputNames[i] ?? `input ${i}`).join('\n');
      return withBytes(modelBytes, (model, modelLength) =>
        withBytes(checkpoint ? checkpoint.bytes : null, (ckpt, ckptLength) =>
        withBytes(all, (inputPointer) => withBytes(lengths, (lengthPointer) => {
          const status = module.ccall('pt2_wasm_run', 'number',
            ['number', 'number', 'string', 'number', 'number', 'string', 'string', 'number', 'number', 'number', 'string',
              'number', 'number'],
            [model, modelLength, name, ckpt, ckptLength, checkpoint ? (checkpoint.name ?? 'checkpoint') : '',
              checkpoint ? (checkpoint.key ?? '') : '', strict ? 0 : 1, inputPointer, lengthPointer, names, inputs.length,
              repeat]);
          if (status) throw error(status);
          const outputs = [];
          const count = module.ccall('pt2_wasm_run_output_count', 'number', [], []);
          for (let i = 0; i < count; i++) {
            const pointer = module.ccall('pt2_wasm_run_output', 'number', ['number'], [i]);
            const length = module.ccall('pt2_wasm_run_output_length', 'number', ['number'], [i]);
            const npy = heap().slice(pointer, pointer + length);
            const outputName = module.UTF8ToString(module.ccall('pt2_wasm_run_output_name', 'number', ['number'], [i]));
            outputs.push({ name: outputName, ...decodeNpy(npy), npy });
          }
          return {
            outputs,
            summary: module.UTF8ToString(module.ccall('pt2_wasm_run_summary', 'number', [], [])),
            notes: module.UTF8ToString(module.ccall('pt2_wasm_run_notes', 'number', [], [])),
            forwardSeconds: module.ccall('pt2_wasm_run_forward_seconds', 'number', [], []),
            forwardSecondsBest: module.ccall('pt2_wasm_run_forward_seconds_best', 'number', [], []),
          };
        }))));
    },
    /** Every step of the conversion; throws Pt2Error for bad input or unsupported ops. */
    convert(modelBytes, { name = 'model.pt2', checkpoint = null, atol = 1e-4, rtol = 1e-4, asLayer = '',
      input = null, inputName = 'input', reference = null, referenceName = 'reference', strict = true,
      onProgress = null } = {}) {
      module.pt2Progress = onProgress;
      try {
        return withBytes(modelBytes, (model, modelLength) =>
          withBytes(checkpoint ? checkpoint.bytes : null, (ckpt, ckptLength) =>
          withBytes(input, (inputPointer, inputLength) =>
          withBytes(reference, (referencePointer, referenceLength) => {
            const status = module.ccall('pt2_wasm_convert', 'number',
              ['number', 'number', 'string', 'number', 'number', 'string', 'string', 'number', 'number', 'number',
                'string', 'number', 'number', 'string', 'number', 'number', 'string'],
              [model, modelLength, name, ckpt, ckptLength, checkpoint ? (checkpoint.name ?? 'checkpoint') : '',
                checkpoint ? (checkpoint.key ?? '') : '', strict ? 0 : 1, atol, rtol, asLayer ?? '', inputPointer,
                inputLength, inputName ?? 'input', referencePointer, referenceLength, referenceName ?? 'reference']);
            if (status) throw error(status);
            const files = {};
            OUTPUTS.forEach((key, i) => { files[key] = outputBytes(i); });
            const text = (bytes) => new TextDecoder().decode(bytes);
            const failedStep = module.UTF8ToString(module.ccall('pt2_wasm_convert_failed_step', 'number', [], []));
            return {
              configPy: text(files.configPy),
              configJson: text(files.configJson),
              checkpoint: { index: files.index, data: files.data },
              report: JSON.parse(text(files.reportJson)),
              reportJson: text(files.reportJson),
              reportText: text(files.reportText),
              layerPy: asLayer ? text(files.layerPy) : null,
              layerJson: asLayer ? text(files.layerJson) : null,
              failedStep: failedStep || null,
            };
          }))));
      } finally {
        module.pt2Progress = null;
      }
    },
  };
}
