#!/usr/bin/env node
// The npm package's CLI: the native CLI's subcommands, flags, outputs and exit codes, on the
// WebAssembly build (portable kernels; --portable is accepted and changes nothing; --threads N
// splits the kernels over N - 1 worker threads and this one). Exit codes: 0 ok, 1 a check failed, 2 bad or unsupported input, 3 internal.
import { realpathSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { convert, inspect, run } from '../index.js';

// V8 compiles a WebAssembly function a second time, with its optimizing compiler, once it has run
// for a while (its "tiering budget"). At the default budget the conversion's one-shot functions
// with a loop (reading the archive, lowering attention, parsing numbers) were compiled again for
// nothing: about 200 ms of a Transformer layer's 500 ms of CPU time went to that on background
// threads. At a hundred times the budget only what runs throughout (the kernels) is, and the wall
// time of a conversion and of a forward is the same or less (bench/bench_convert.py,
// bench/bench_reference_run.py). This process is ours; the library (index.js) leaves the flags of
// the process it is loaded into alone.
v8.setFlagsFromString('--wasm-tiering-budget=180000000');
// Relaxed SIMD (shipped from Node 22 on), for the GEMM's fused multiply-adds: about twice the
// products per second of a multiply and an add (bench/bench_reference_run.py).
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

// Each command's options: those that take a value, and flags. The help test compares these with --help.
export const OPTIONS = {
  inspect: { valued: ['--checkpoint-key'], flags: ['--json'] },
  run: { valued: ['--checkpoint', '--checkpoint-key', '--input', '--output', '--threads', '--repeat'], flags: ['--portable', '--no-strict'] },
  convert: {
    valued: ['-o', '--output-dir', '--checkpoint', '--checkpoint-key', '--input', '--reference', '--atol', '--rtol', '--threads',
      '--as-layer', '--python'],
    flags: ['--json', '--portable', '--returnn', '--no-strict'],
  },
};

const HELP = {
  main: `usage: pt2returnn COMMAND [options]

commands:
  inspect FILE      show what a .pt2, torch.save or .safetensors file holds
  run MODEL.pt2     run the exported program with PyTorch semantics (reference run)
  convert MODEL.pt2 -o DIR   write RETURNN configs and a TF checkpoint, proving each step
                    (reference run, per-layer checks, reload, padded batch)

options:
  -h, --help        show this help
  --version         print the version

'pt2returnn COMMAND --help' describes each command.
exit codes: 0 ok, 1 a verification failed, 2 bad or unsupported input, 3 internal error
`,
  inspect: `usage: pt2returnn inspect FILE [--json] [--checkpoint-key KEY.PATH]

Shows what a .pt2 (torch.export.save), torch.save checkpoint or .safetensors file holds: inputs and
outputs with their dims (which are dynamic, and their ranges), ops, the module tree, every parameter
and buffer; for checkpoints every tensor.
  --json                 the same as JSON
  --checkpoint-key PATH  only the entry at this key path of a torch.save file (e.g. model.generator)
  -h, --help             show this help
`,
  run: `usage: pt2returnn run MODEL.pt2 [--checkpoint FILE [--checkpoint-key KEY.PATH] [--no-strict]]
                      [--input FILE.npy]... [--output OUT.npy] [--repeat K] [--threads N] [--portable]

Runs the exported program with PyTorch semantics (the reference run), on the archive's example
inputs or on .npy inputs (a dynamic axis may take any size the export allows). Without --output
it prints one line per output: its name, dtype, shape, min, max and mean.
  --checkpoint FILE       load weights from a torch.save file or .safetensors first
  --checkpoint-key PATH   where the state dict sits in a torch.save file (e.g. model.generator)
  --no-strict             let the checkpoint lack parameters (the archive's values stay) or have
                          extra ones (ignored); by default either is an error naming every key
  --input FILE.npy        a user input (repeat for several inputs); float64 or integer arrays are
                          cast to the export's dtype when nothing is lost or it is float64 for
                          float32 (numpy's default), and a line on stderr says so
  --output OUT.npy        write the first output there, further ones to OUT.1.npy, OUT.2.npy, ...
  --repeat K              time K more runs (after an untimed one) and print 'forward_seconds: X'
                          (their mean) and 'forward_seconds_best: Y' (the fastest)
  --threads N             threads for the kernels (default 1; 1..64, each more a worker thread)
  --portable              accepted for the native CLI's sake (WebAssembly has the portable kernels only)
  -h, --help              show this help
`,
  convert: `usage: pt2returnn convert MODEL.pt2 -o OUTDIR [--checkpoint FILE [--checkpoint-key KEY.PATH] [--no-strict]]
                          [--input FILE.npy] [--reference REF] [--atol X] [--rtol Y]
                          [--as-layer NAME] [--json] [--threads N] [--portable]

Converts an exported program to RETURNN, proving each step (load, reference run, per-layer checks
with RETURNN's semantics on PyTorch's inputs, emit, reload, padded batch), and writes OUTDIR/returnn.config.py,
returnn.config.json, model.001.index, model.001.data-00000-of-00001, report.json and report.txt
(and NAME.layer.py/.json with --as-layer). Files are written under temporary names and renamed.
Without --reference the reference step checks the outputs' shapes only. A program with several
outputs keeps them all (the first as RETURNN's "output", each further one as output_<name> marked
is_output_layer); every step compares each, and report.json lists each output's figures. Each row shows the worst
ratio |ours - torch| / (atol + rtol * |torch|): a check passes when it is <= 1.
  -o, --output-dir OUTDIR  where to write (created if missing)
  --checkpoint FILE        load weights from a torch.save file or .safetensors first
  --checkpoint-key PATH    where the state dict sits in a torch.save file (e.g. model.generator)
  --no-strict              load a checkpoint that lacks some of the model's parameters (they keep the
                           archive's values) or has extra ones (ignored); by default either is an
                           error naming every such key. report.json lists them either way
  --input FILE.npy         run on this input instead of the archive's example input (float64 or
                           integer arrays are cast to the export's dtype, and the report says so)
  --reference REF          PyTorch's output for it (.npy or a torch.save'd tensor; several outputs:
                           a torch.save'd tuple, list or dict of them, in the program's order)
  --atol X, --rtol Y       tolerances (default 1e-4 each)
  --as-layer NAME          emit the model as one subnetwork layer NAME (variables under NAME/)
  --json                   print report.json to stdout instead of the readable report
  --threads N              threads for the kernels (default 1; 1..64, each more a worker thread)
  --portable               accepted for the native CLI's sake (WebAssembly has the portable kernels only)
  -h, --help               show this help
The native CLI also has --returnn --python PATH (a run in real RETURNN).

exit codes: 0 every step passed; 1 a check failed (files and report are written); 2 bad input or
unsupported ops (all listed; nothing is written); 3 internal error
`,
};

class UsageError extends Error {}

function parse(command, argv) {
  const { valued, flags } = OPTIONS[command];
  const options = { positional: [], lists: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') return { help: true };
    if (valued.includes(a)) {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      const value = argv[++i];
      (options.lists[a] ??= []).push(value);
      options[a] = value;
    } else if (flags.includes(a)) {
      options[a] = true;
    } else if (a.startsWith('-') && a.length > 1) {
      throw new UsageError(`unknown option '${a}'`);
    } else {
      options.positional.push(a);
    }
  }
  return options;
}

/* --threads N: 1 when absent. */
function threadsOption(o) {
  const value = o['--threads'];
  if (value === undefined) return 1;
  if (!/^[0-9]+$/.test(value) || Number(value) < 1 || Number(value) > 64)
    throw new UsageError(`--threads expects 1..64, got '${value}'`);
  return Number(value);
}

function progressPrinter() {
  if (!process.stderr.isTTY) return (step, message) => process.stderr.write(`[${step}] ${message}\n`);
  const steps = ['load', 'reference', 'layers', 'emit', 'reload', 'padded-batch'];
  return (step, message) => {
    const done = Math.max(steps.indexOf(step), 0) + (/^(done|passed|FAILED)/.test(message) ? 1 : 0);
    const bar = '#'.repeat(done * 4).padEnd(steps.length * 4, '.');
    process.stderr.write(`\r[${bar}] ${step}: ${message}`.padEnd(100).slice(0, 100) + (done === steps.length ? '\n' : ''));
  };
}

async function writeOutputs(dir, files) {
  await mkdir(dir, { recursive: true });
  const temporary = Object.keys(files).map((name) => path.join(dir, `.${name}.tmp-${process.pid}`));
  try {
    await Promise.all(Object.values(files).map((bytes, i) => writeFile(temporary[i], bytes)));
  } catch (error) {
    await Promise.all(temporary.map((t) => rm(t, { force: true })));
    throw error;
  }
  // A file of the same name removed first: on ext4 a rename over an existing file makes the kernel
  // allocate and start writing the new file's blocks at once (auto_da_alloc; see pt2_cli_rename_into_place in cli/cli.h).
  for (const [i, name] of Object.keys(files).entries()) {
    await rm(path.join(dir, name), { force: true });
    await rename(temporary[i], path.join(dir, name));
  }
}

const commands = {
  async inspect(argv) {
    const o = parse('inspect', argv);
    if (o.help) return process.stdout.write(HELP.inspect), 0;
    if (o.positional.length !== 1) throw new UsageError(o.positional.length ? `one FILE expected, got '${o.positional[1]}' as well` : 'missing FILE');
    const file = o.positional[0];
    process.stdout.write(await inspect(file, { json: !!o['--json'], checkpointKey: o['--checkpoint-key'] ?? '' }));
    return 0;
  },

  async run(argv) {
    const o = parse('run', argv);
    if (o.help) return process.stdout.write(HELP.run), 0;
    if (!o.positional.length) throw new UsageError('missing MODEL.pt2');
    if (o['--checkpoint-key'] && !o['--checkpoint']) throw new UsageError('--checkpoint-key needs --checkpoint');
    if (o['--no-strict'] && !o['--checkpoint']) throw new UsageError('--no-strict needs --checkpoint');
    const repeat = Number(o['--repeat'] ?? 0);
    const result = await run(o.positional[0], {
      checkpoint: o['--checkpoint'] ?? null, checkpointKey: o['--checkpoint-key'] ?? '', inputs: o.lists['--input'] ?? [],
      repeat, strict: !o['--no-strict'], threads: threadsOption(o),
    });
    process.stderr.write(result.notes);
    if (repeat > 0) {
      process.stdout.write(`forward_seconds: ${result.forwardSeconds.toFixed(6)}\n`);
      process.stdout.write(`forward_seconds_best: ${result.forwardSecondsBest.toFixed(6)}\n`);
    }
    if (!o['--output']) process.stdout.write(result.summary);
    if (o['--output']) {
      for (const [i, { npy: bytes }] of result.outputs.entries()) {
        const base = o['--output'];
        const name = i === 0 ? base : base.endsWith('.npy') ? `${base.slice(0, -4)}.${i}.npy` : `${base}.${i}.npy`;
        await writeOutputs(path.dirname(path.resolve(name)), { [path.basename(name)]: bytes });
      }
    }
    return 0;
  },

  async convert(argv) {
    const o = parse('convert', argv);
    if (o.help) return process.stdout.write(HELP.convert), 0;
    const outDir = o['-o'] ?? o['--output-dir'];
    if (!o.positional.length) throw new UsageError('missing MODEL.pt2');
    if (o.positional.length > 1) throw new UsageError(`one MODEL.pt2 expected, got '${o.positional[1]}' as well`);
    if (!outDir) throw new UsageError('missing -o OUTDIR');
    if (o['--checkpoint-key'] && !o['--checkpoint']) throw new UsageError('--checkpoint-key needs --checkpoint');
    if (o['--no-strict'] && !o['--checkpoint']) throw new UsageError('--no-strict needs --checkpoint');
    if (o['--returnn'] || o['--python']) throw new UsageError('--returnn --python PATH is in the native CLI only');
    for (const flag of ['--atol', '--rtol'])
      if (o[flag] !== undefined && !(Number(o[flag]) >= 0)) throw new UsageError(`${flag} expects a non-negative number, got '${o[flag]}'`);
    const model = o.positional[0];
    const result = await convert(model, {
      checkpoint: o['--checkpoint'] ?? null, checkpointKey: o['--checkpoint-key'] ?? '', strict: !o['--no-strict'],
      input: o['--input'] ?? null,
      reference: o['--reference'] ?? null,
      atol: o['--atol'] !== undefined ? Number(o['--atol']) : 1e-4,
      rtol: o['--rtol'] !== undefined ? Number(o['--rtol']) : 1e-4,
      asLayer: o['--as-layer'] ?? '',
      threads: threadsOption(o),
      onProgress: progressPrinter(),
    });
    const encoder = new TextEncoder();
    const files = {
      'model.001.data-00000-of-00001': result.checkpoint.data,
      'model.001.index': result.checkpoint.index,
      'returnn.config.json': encoder.encode(result.configJson),
      'returnn.config.py': encoder.encode(result.configPy),
      'report.json': encoder.encode(result.reportJson),
      'report.txt': encoder.encode(result.reportText),
    };
    if (o['--as-layer']) {
      files[`${o['--as-layer']}.layer.json`] = encoder.encode(result.layerJson);
      files[`${o['--as-layer']}.layer.py`] = encoder.encode(result.layerPy);
    }
    await writeOutputs(outDir, files);
    if (o['--json']) process.stdout.write(result.reportJson);
    else process.stdout.write(`${result.reportText}written to ${outDir}/\n`);
    if (result.failedStep) {
      process.stderr.write(`pt2returnn: ${model}: the '${result.failedStep}' check failed (see ${outDir}/report.txt)\n`);
      return 1;
    }
    return 0;
  },
};

async function main(argv) {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help' || command === 'help') {
    (command ? process.stdout : process.stderr).write(HELP.main);
    return command ? 0 : 2;
  }
  if (command === '--version') return process.stdout.write('pt2returnn 0.1.0\n'), 0;
  if (!commands[command]) {
    process.stderr.write(`pt2returnn: unknown command '${command}' (see 'pt2returnn --help')\n`);
    return 2;
  }
  try {
    return await commands[command](rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`pt2returnn ${command}: ${error.message} (see 'pt2returnn ${command} --help')\n`);
      return 2;
    }
    process.stderr.write(`pt2returnn: ${error.message}\n`);
    return error.exitCode ?? 3;
  }
}

// Run as the CLI, not when imported (the help test reads OPTIONS).
if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) process.exitCode = await main(process.argv.slice(2));
