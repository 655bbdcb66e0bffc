// Quick check that the WebAssembly build loads under Node 20 and answers a call.
//   node wasm/wasm_smoke.mjs [BUILD_WASM_DIR]   (default build-wasm)
// Debian's emscripten 3.1.6 mistakes Node's global fetch for a browser, so the .wasm bytes are
// read from disk and handed over as wasmBinary instead of letting the module fetch them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { loadPt2Returnn, relaxedSimdSupported } from './pt2.mjs';

const buildDir = path.resolve(process.argv[2] ?? 'build-wasm');
const { default: createModule } = await import(pathToFileURL(path.join(buildDir, 'pt2returnn_wasm.js')).href);
// Through the loader: without relaxed SIMD (Node 20 without --experimental-wasm-relaxed-simd) it
// patches the fused kernel out, and the module must then still instantiate.
const { module, fusedMultiplyAdd } = await loadPt2Returnn(createModule, { wasmBinary: readFileSync(path.join(buildDir, 'pt2returnn_wasm.wasm')) });
const version = module.ccall('pt2_wasm_version', 'number', [], []);
if (version !== 1) {
  console.error(`wasm smoke: expected pt2_wasm_version() == 1, got ${version}`);
  process.exit(1);
}
console.log(`wasm smoke: module instantiated, pt2_wasm_version() = ${version}; relaxed SIMD ${relaxedSimdSupported() ? 'validated' : 'not validated'}, fused multiply-add ${fusedMultiplyAdd ? 'on' : 'off'}`);
