/** A model, checkpoint, input or reference: a path, bytes, or a File/Blob (its name is used in messages). */
export type Source = string | URL | Uint8Array | ArrayBuffer | ArrayBufferView | Blob;

export interface CheckpointSpec {
  /** A torch.save file or .safetensors: bytes, or give `path` or `file` instead. */
  bytes?: Uint8Array | ArrayBuffer;
  path?: string;
  file?: Blob;
  /** Its name, used in messages and the report. */
  name?: string;
  /** Where the state dict sits in a torch.save file, e.g. "model.generator". */
  key?: string;
}
/** Kept for compatibility with 0.1's name. */
export type CheckpointSource = CheckpointSpec;

export interface InspectOptions { name?: string; json?: boolean; checkpointKey?: string; }

export interface RunOptions {
  /** The model's name in messages when it is given as bytes. */
  name?: string;
  checkpoint?: Source | CheckpointSpec | null;
  checkpointKey?: string;
  /** One .npy per user input; default: the archive's example inputs. float64 and integer arrays
   * are cast to the export's dtype when nothing is lost or float64 is given for float32. */
  inputs?: Source[];
  /** Run this many more times and report their mean forward time. */
  repeat?: number;
  /** Default true: a checkpoint key missing from the checkpoint or the model is an error naming every one. */
  strict?: boolean;
  /** Threads for the kernels (default 1; 1..64): each more is a worker thread, started on first
   * use and kept for later calls (it does not keep the process alive). The results' bits are the
   * same at every count. */
  threads?: number;
}

export interface RunOutput {
  name: string;
  dtype: 'float32' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';
  shape: number[];
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
  /** The same output as .npy bytes. */
  npy: Uint8Array;
}
export interface RunResult {
  outputs: RunOutput[];
  /** One line per output (name, dtype, shape, min, max, mean), as the CLI prints. */
  summary: string;
  /** One line per input that was cast, e.g. "input 'x' (x.npy): float64 cast to float32, lossless". */
  notes: string;
  /** The run's time in seconds, or with `repeat` the mean of the further runs. */
  forwardSeconds: number;
  /** The run's time in seconds, or with `repeat` the fastest of the further runs. */
  forwardSecondsBest: number;
}

export interface ConvertOptions {
  name?: string;
  checkpoint?: Source | CheckpointSpec | null;
  checkpointKey?: string;
  /** A .npy input instead of the archive's example input. */
  input?: Source | null;
  /** PyTorch's output for it (.npy or a torch.save'd tensor), compared with the reference run.
   * Without it, the reference step checks the output's shape only. */
  reference?: Source | null;
  atol?: number;
  rtol?: number;
  /** Emit the model as one subnetwork layer of this name (variables under NAME/). */
  asLayer?: string;
  /** Default true: a checkpoint key missing from the checkpoint or the model is an error naming
   * every one (load_state_dict(strict=True)); false keeps the archive's values for missing keys.
   * report.checkpoint_keys lists them either way. */
  strict?: boolean;
  /** Called as each step starts and ends. */
  onProgress?: ((step: string, message: string) => void) | null;
  /** Threads for the kernels (default 1; 1..64): each more is a worker thread, started on first
   * use and kept for later calls (it does not keep the process alive). The results' bits are the
   * same at every count. */
  threads?: number;
}

export interface StepReport {
  step: string; what: string; passed: boolean; max_abs?: number; max_rel?: number;
  /** The worst |ours - torch| / (atol + rtol*|torch|): passed means <= 1. */
  worst_ratio?: number;
  /** The reference step: "values" against PyTorch's outputs, or "shapes" without them. */
  checked?: 'values' | 'shapes';
}
export interface LayerReport {
  layer: string; class: string; module_path: string; op: string; source_line: string | null;
  max_abs: number | null; max_rel: number | null; worst_ratio: number | null; passed: boolean;
}
/** One of the program's outputs (a program may have several: a tuple, a dict, a dataclass), with
 * its figures in each step that compares outputs. */
export interface OutputReport {
  name: string; layer: string; shape: number[];
  steps: { step: string; max_abs?: number | null; max_rel?: number | null; worst_ratio?: number | null; passed: boolean }[];
}
export interface CheckpointKeys { strict: boolean; loaded: number; missing: string[]; unexpected: string[]; }
export interface Report {
  tool: 'pt2returnn'; model: string; checkpoint: string | null; checkpoint_keys?: CheckpointKeys; atol: number; rtol: number;
  passed: boolean; failed_step: string | null; num_layers: number; num_variables: number; steps: StepReport[]; layers: LayerReport[];
  /** Every output of the program, in its order: the first is RETURNN's "output" layer. */
  outputs: OutputReport[];
}

export interface ConvertResult {
  configPy: string;
  configJson: string;
  checkpoint: { index: Uint8Array; data: Uint8Array };
  report: Report;
  reportJson: string;
  reportText: string;
  /** With asLayer: the layer dict alone. */
  layerPy: string | null;
  layerJson: string | null;
  /** null when every check passed. */
  failedStep: string | null;
}

/** Bad input, unsupported ops (all listed) or an internal error; exitCode as the CLI's. */
export class Pt2Error extends Error { status: number; kind: string; exitCode: number; }

/** A .npy file as { dtype, shape, data }. */
export function decodeNpy(bytes: Uint8Array): { dtype: RunOutput['dtype']; shape: number[]; data: RunOutput['data'] };

export function inspect(file: Source, options?: InspectOptions): Promise<string>;
export function run(model: Source, options?: RunOptions): Promise<RunResult>;
export function convert(model: Source, options?: ConvertOptions): Promise<ConvertResult>;
