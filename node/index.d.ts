export interface CheckpointSource {
  /** A torch.save file or .safetensors. */
  bytes: Uint8Array | ArrayBuffer;
  /** Its name, used in messages and the report. */
  name?: string;
  /** Where the state dict sits in a torch.save file, e.g. "model.generator". */
  key?: string;
}

export interface InspectOptions { name?: string; json?: boolean; checkpointKey?: string; }

export interface RunOptions {
  name?: string;
  checkpoint?: CheckpointSource | null;
  /** One .npy per user input; default: the archive's example inputs. */
  inputs?: Array<Uint8Array | ArrayBuffer>;
  /** Run this many more times and report the mean forward time. */
  repeat?: number;
}

export interface RunResult { outputs: Uint8Array[]; forwardSeconds: number; }

export interface ConvertOptions {
  name?: string;
  checkpoint?: CheckpointSource | null;
  /** A .npy input instead of the archive's example input. */
  input?: Uint8Array | ArrayBuffer | null;
  /** PyTorch's output for it (.npy or a torch.save'd tensor), compared with the reference run. */
  reference?: Uint8Array | ArrayBuffer | null;
  atol?: number;
  rtol?: number;
  /** Emit the model as one subnetwork layer of this name (variables under NAME/). */
  asLayer?: string;
  /** Called as each step starts and ends. */
  onProgress?: ((step: string, message: string) => void) | null;
}

export interface StepReport { step: string; what: string; passed: boolean; max_abs?: number; max_rel?: number; }
export interface LayerReport {
  layer: string; class: string; module_path: string; op: string; source_line: string | null;
  max_abs: number | null; max_rel: number | null; passed: boolean;
}
export interface Report {
  tool: 'pt2returnn'; model: string; checkpoint: string | null; atol: number; rtol: number; passed: boolean;
  failed_step: string | null; num_layers: number; num_variables: number; steps: StepReport[]; layers: LayerReport[];
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

export function inspect(bytes: Uint8Array | ArrayBuffer, options?: InspectOptions): Promise<string>;
export function run(bytes: Uint8Array | ArrayBuffer, options?: RunOptions): Promise<RunResult>;
export function convert(modelBytes: Uint8Array | ArrayBuffer, options?: ConvertOptions): Promise<ConvertResult>;
