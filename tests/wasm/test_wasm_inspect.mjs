// The WebAssembly build reads files exactly as the native build does: for every fixture,
// `inspect --json` through WASM under Node equals the native CLI's output byte for byte,
// and a hostile file gets the same one-line error.
//   node tests/wasm/test_wasm_inspect.mjs BUILD_WASM_DIR FIXTURES_DIR [NATIVE_BUILD_DIR]
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [wasmDir, fixturesDir, nativeDir = 'build'] = process.argv.slice(2);
const { default: createModule } = await import(pathToFileURL(path.resolve(wasmDir, 'pt2returnn_wasm.js')).href);
const { loadPt2Returnn } = await import(pathToFileURL(path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../wasm/pt2.mjs')).href);
// This emscripten mistakes Node's global fetch for a browser: hand it the bytes directly.
const { module } = await loadPt2Returnn(createModule, { wasmBinary: readFileSync(path.resolve(wasmDir, 'pt2returnn_wasm.wasm')) });

function wasmInspect(file, json) {
  const bytes = readFileSync(file);
  const pointer = module._malloc(bytes.length);
  module.HEAPU8.set(bytes, pointer);
  const status = module.ccall('pt2_wasm_inspect', 'number', ['number', 'number', 'string', 'number', 'string'],
    [pointer, bytes.length, file, json ? 1 : 0, '']);
  module._free(pointer);
  const text = status === 0 ? module.UTF8ToString(module.ccall('pt2_wasm_result', 'number', [], []))
    : module.UTF8ToString(module.ccall('pt2_wasm_error', 'number', [], []));
  return { status, text };
}

function nativeInspect(file, json) {
  try {
    return { status: 0, text: execFileSync(path.join(nativeDir, 'pt2returnn'), ['inspect', file, ...(json ? ['--json'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (error) {
    return { status: error.status, text: error.stderr.toString().replace(/^pt2returnn: /, '').trimEnd() };
  }
}

let failures = 0, checked = 0;
const files = readdirSync(fixturesDir).filter((f) => /\.(pt2|pt|safetensors)$/.test(f)).map((f) => path.join(fixturesDir, f));
const bad = readdirSync(path.join(fixturesDir, 'bad')).filter((f) => f !== 'expectations.json').map((f) => path.join(fixturesDir, 'bad', f));
for (const file of [...files, ...bad]) {
  for (const json of [true, false]) {
    const ours = wasmInspect(file, json), native = nativeInspect(file, json);
    const same = (ours.status === 0) === (native.status === 0) && ours.text === native.text;
    checked++;
    if (!same) {
      failures++;
      console.log(`FAIL ${file} (json=${json}): wasm status ${ours.status}, native exit ${native.status}\n  wasm:   ${ours.text.slice(0, 200)}\n  native: ${native.text.slice(0, 200)}`);
    }
  }
}
if (files.length < 12 || bad.length < 10) { console.log('FAIL: fixtures missing'); failures++; }
console.log(failures ? `wasm inspect: ${failures} of ${checked} differ` : `wasm inspect: ${checked} outputs identical to native`);
process.exit(failures ? 1 : 0);
