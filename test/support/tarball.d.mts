// Types for tarball.mjs.
export interface TarEntrySpec {
  /** Path inside the archive, no leading "/". */
  name: string;
  type: 'file' | 'directory' | 'symlink';
  mode?: number;
  data?: Buffer | string;
  linkname?: string;
}
export function packTar(entries: readonly TarEntrySpec[], mtime?: Date): Promise<Buffer>;
export function readTarEntries(
  source: string | Buffer,
  want: (name: string, size: number) => boolean,
): Promise<Map<string, Buffer>>;

/** The subset of a Docker/OCI image config the harness looks at. */
export interface ImageConfig {
  config?: { Env?: string[]; Labels?: Record<string, string> | null; [k: string]: unknown };
  history?: Array<{ created?: string; created_by?: string; empty_layer?: boolean; comment?: string }>;
  rootfs?: { type: string; diff_ids: string[] };
  [k: string]: unknown;
}
export interface DockerArchive {
  manifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }>;
  configName: string;
  config: ImageConfig;
  layerPaths: string[];
}
export function readDockerArchive(path: string): Promise<DockerArchive>;

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
export interface OciArchive {
  index: { schemaVersion: number; manifests: OciDescriptor[] };
  manifest: { schemaVersion: number; mediaType?: string; config: OciDescriptor; layers: OciDescriptor[] };
  config: ImageConfig;
  layerMediaTypes: string[];
}
export function readOciArchive(path: string): Promise<OciArchive>;
