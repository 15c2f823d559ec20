import type { Finding, ImageFormat, LayerInfo } from '../types.js';

/** One image of an audit: its findings exactly as `stratascan scan` of that image alone reports them. */
export interface AuditImage {
  /** The reference as listed or given (`docker://host/repo:tag`, a path, `docker-daemon:…`). */
  reference: string;
  /** Manifest digest, when the source names one. */
  digest: string | null;
  /** Where the image was read from (as the scan report's image.format); null when it could not be read. */
  format: ImageFormat | null;
  /** os/arch[/variant]; null when the image could not be read. */
  platform: string | null;
  status: 'scanned' | 'error';
  /** One line (redacted) when status is 'error', else null. */
  error: string | null;
  /** The scan report's findings (empty for an image in error). */
  findings: Finding[];
  /** The image's layers as in the scan report (empty for an image in error). */
  layers: LayerInfo[];
}

export interface AuditLayerStats {
  /** Distinct layers (by diff_id) across every image read. */
  unique: number;
  /** Layers scanned by this audit (in process or by queue workers). */
  scanned: number;
  /** Layers whose results were already stored (layer cache or Redis) before this audit. */
  fromCache: number;
}

export interface AuditReport {
  schemaVersion: 1;
  kind: 'audit';
  tool: { name: 'stratascan'; version: string };
  images: AuditImage[];
  layers: AuditLayerStats;
  stats: {
    images: number;
    /** Uncompressed bytes of the unique layers, each counted once. */
    bytes: number;
    durationMs: number;
  };
}
