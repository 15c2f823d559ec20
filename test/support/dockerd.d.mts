// Types for dockerd.mjs.
export { redact } from './exec.mjs';

/** Requirements for describeReal(): root plus the binaries startDockerd() runs. */
export const DOCKERD_BINS: readonly string[];
/** Applets symlinked to /bin/busybox in the image importBusybox() creates. */
export const BUSYBOX_APPLETS: readonly string[];

export interface RunOptions {
  /** Fed to the CLI's stdin (e.g. a tar for `docker import -`). */
  input?: Buffer | string;
  /** Extra environment variables for the docker CLI. */
  env?: Record<string, string>;
  /** Values to scrub from error messages. */
  redact?: readonly string[];
}
export interface BuildOptions {
  /** Passed as --build-arg K=V (values are also redacted from errors). */
  buildArgs?: Record<string, string>;
  /** Build-context files by relative path. */
  files?: Record<string, string | Buffer>;
  redact?: readonly string[];
}
export interface BuildResult {
  /** "sha256:…" */
  imageId: string;
  /** The classic builder's step log; may contain secret values — do not print it. */
  output: string;
}
export interface Dockerd {
  /** DOCKER_HOST value, unix://… */
  host: string;
  socketPath: string;
  /** The private temp dir; removed by stop(). */
  dir: string;
  pid: number;
  /** Run the docker CLI against this daemon; rejects (with stderr) on a non-zero exit. */
  run(args: readonly string[], opts?: RunOptions): Promise<{ stdout: Buffer; stderr: string }>;
  /** `docker import` a rootfs of the host's static /bin/busybox plus applet symlinks. */
  importBusybox(tag: string, opts?: { busyboxPath?: string }): Promise<void>;
  /** Classic-builder (DOCKER_BUILDKIT=0) build with --network=none. */
  build(tag: string, dockerfile: string, opts?: BuildOptions): Promise<BuildResult>;
  /** `docker save -o outPath refs…` */
  save(refs: readonly string[], outPath: string): Promise<void>;
  /** Idempotent: stops dockerd and its containerd, removes `dir`. */
  stop(): Promise<void>;
}
export function startDockerd(opts?: { readyTimeoutMs?: number }): Promise<Dockerd>;
/** True if the ELF binary has a PT_INTERP header (needs a dynamic loader / libc). */
export function needsDynamicLoader(elf: Buffer): boolean;
