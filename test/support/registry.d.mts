// Types for registry.mjs.
export const REGISTRY_BINS: readonly string[];
export interface RegistryOptions {
  /** 'none': anonymous pull and push; 'basic': htpasswd (bcrypt) users. */
  auth?: 'none' | 'basic';
  /** user → password, for auth 'basic'. */
  users?: Record<string, string>;
}
export interface Registry {
  /** "127.0.0.1:PORT" */
  host: string;
  port: number;
  /** "http://127.0.0.1:PORT" */
  url: string;
  /** The private temp dir, removed by stop(). */
  dir: string;
  /** The filesystem storage driver's root directory. */
  storageDir: string;
  pid: number;
  /** Path of a blob's data file inside storageDir. */
  blobPath(digest: string): string;
  /** Idempotent: kills the registry and removes dir. */
  stop(): Promise<void>;
}
export function startRegistry(opts?: RegistryOptions): Promise<Registry>;
export function freePort(): Promise<number>;
