import type { ExecResult } from './exec.mjs';

export const PODMAN_BINS: readonly string[];
export interface Podman {
  /** DOCKER_HOST value, unix://…/podman.sock */
  host: string;
  dir: string;
  /** The podman CLI on this instance's storage. */
  podman(args: string[]): Promise<ExecResult>;
  /** Idempotent. */
  stop(): Promise<void>;
}
export function startPodman(): Promise<Podman>;
