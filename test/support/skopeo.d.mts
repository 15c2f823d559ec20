// Types for skopeo.mjs.
export const SKOPEO_BINS: readonly string[];
export interface SkopeoCopyOptions {
  /** Layer compression for the destination (oci/oci-archive/dir). */
  compress?: 'gzip' | 'zstd';
  /** More `skopeo copy` flags, placed before src and dest. */
  extraArgs?: readonly string[];
  /** Values to scrub from error messages. */
  redact?: readonly string[];
}
/** `skopeo copy src dest`, e.g. ("docker-archive:/x.tar", "oci-archive:/y.tar"). */
export function skopeoCopy(src: string, dest: string, opts?: SkopeoCopyOptions): Promise<void>;
