import type { ArchiveLimits } from './layer/nested.js';

export type Severity = 'critical' | 'high' | 'medium' | 'low';
export const SEVERITIES: readonly Severity[] = ['critical', 'high', 'medium', 'low'];

/** Where in the image a secret was seen. */
export type FindingSource = 'file' | 'env' | 'label' | 'history' | 'config';

export type ImageFormat = 'docker-archive' | 'oci-archive' | 'oci-layout' | 'docker-daemon' | 'registry';

/** Whether a bare image reference may be fetched from its registry: see the README. */
export type PullPolicy = 'never' | 'missing' | 'always';
export const PULL_POLICIES: readonly PullPolicy[] = ['never', 'missing', 'always'];

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface LayerInfo {
  index: number;
  diffId: string;
  /** Digest of the blob as stored (compressed), when the archive addresses layers by digest. */
  digest: string | null;
  createdBy: string | null;
  /** Size in bytes of the layer blob as stored. */
  size: number;
  /** Set (true) only when the layer is inherited from a base image (`--skip-layers`, `--base`). */
  base?: boolean;
}

export interface ImageInfo {
  format: ImageFormat;
  reference: string | null;
  digest: string | null;
  platform: string;
  layers: LayerInfo[];
}

export interface LayerRef {
  index: number;
  diffId: string;
  createdBy: string | null;
  /** Set (true) only when the layer is inherited from a base image (`--skip-layers`, `--base`). */
  base?: boolean;
}

export interface Occurrence {
  source: FindingSource;
  layerIndex: number | null;
  path: string | null;
  line: number | null;
  column: number | null;
  key: string | null;
  inFinalImage: boolean;
}

export interface Finding {
  ruleId: string;
  title: string;
  severity: Severity;
  source: FindingSource;
  layer: LayerRef | null;
  path: string | null;
  line: number | null;
  column: number | null;
  key: string | null;
  inFinalImage: boolean;
  removedBy: { index: number; createdBy: string | null } | null;
  /** The identifier this secret is used with (an AWS key id, a Twilio account SID), found beside it. */
  pairedWith: PairedIdentifier | null;
  redacted: string;
  secretHash: string;
  /** Present only with showSecrets. */
  secret?: string;
  /**
   * Present only for a catch-all rule (generic-api-key, generic-password, …) whose setting names a
   * service: ZENDESK_API_KEY → "Zendesk". Where to revoke; the rule itself names no provider.
   */
  provider?: string;
  alsoIn: Occurrence[];
  remediation: string;
  url: string | null;
  /** Present only when the scan ran with live verification (`--verify`). */
  verification?: Verification;
}

export type VerificationStatus = 'valid' | 'invalid' | 'unknown';

/** The outcome of asking the provider whether a secret still works (opt-in, `--verify`). */
export interface Verification {
  status: VerificationStatus;
  /** One line for people: what the provider answered, never the secret. */
  detail: string;
}

export interface PairedIdentifier {
  ruleId: string;
  title: string;
  redacted: string;
  secretHash: string;
  line: number | null;
  key: string | null;
  /** Present only with showSecrets. */
  secret?: string;
}

export interface ScanStats {
  layers: number;
  files: number;
  bytes: number;
  durationMs: number;
  /** Files not scanned, by reason (binary, too large, ...). */
  skipped: Record<string, number>;
  /** Matches dropped by the built-in allowlist of known example secrets (detectors/allowlist.yaml). */
  allowlisted: number;
  /** Layers whose results came from the layer cache (their blobs were hashed, not decompressed or walked). */
  cachedLayers?: number;
}

export interface ScanReport {
  schemaVersion: 1;
  tool: { name: 'stratascan'; version: string };
  target: string;
  image: ImageInfo;
  findings: Finding[];
  stats: ScanStats;
}

export interface ScanProgress {
  layersDone: number;
  layersTotal: number;
  files: number;
  bytes: number;
  findings: number;
}

export interface ScanOptions {
  /** os/arch[/variant]; defaults to linux/amd64 when an index offers it. */
  platform?: string;
  /** Choose one image in an archive that holds several (repo:tag). */
  image?: string;
  /** Include raw secret values in the report. */
  showSecrets?: boolean;
  /** Detection worker threads; 0 runs detection on the calling thread. */
  jobs?: number;
  /** Directory of detector rule files; defaults to the shipped `detectors/`. */
  detectorsDir?: string;
  /** Read the image from this stream instead of opening `target` (used for `-`). */
  stdin?: NodeJS.ReadableStream;
  onProgress?: (progress: ScanProgress) => void;
  /**
   * Cancels the scan: detection workers are terminated, layer streams (and `stdin`) destroyed, and
   * scanImage rejects with a ScanAbortedError (`name` "AbortError", `cause` the signal's reason).
   */
  signal?: AbortSignal;
  /** Reuse and store per-layer results in the layer cache (default true; see README "Performance"). */
  cache?: boolean;
  /** Layer cache directory; default $XDG_CACHE_HOME/stratascan or ~/.cache/stratascan. */
  cacheDir?: string;
  /** Bare references: never = daemon only, missing (default) = daemon, else registry, always = registry. */
  pull?: PullPolicy;
  /** Registry credentials; otherwise STRATASCAN_REGISTRY_USERNAME/PASSWORD, then ~/.docker/config.json. */
  registryAuth?: RegistryCredentials;
  /** Registry hosts (host[:port]) that may be reached over plain HTTP or with an unverified certificate. */
  insecureRegistries?: string[];
  /** Notes worth one line to the user that do not stop the scan (a credential helper missing, anonymous access tried). */
  onNote?: (message: string) => void;
  /**
   * Archives inside layers (zip, jar, war, whl, tar, tar.gz, .gz) are opened and their members
   * scanned as `archive!/member`; `false` leaves them closed, an object adjusts the bounds.
   */
  archives?: Partial<ArchiveLimits> | false;
  /**
   * Live verification (off by default: it sends each secret to its provider): after the scan,
   * each distinct secret is checked once with the provider's cheapest read-only call and
   * `finding.verification` is set. Like showSecrets, it reads no layer from the cache (the
   * cache keeps no raw values) and never stores a verification in it.
   */
  verify?: boolean;
  /** Base URL per provider instead of its documented one (`{ github: 'https://ghe.example/api/v3' }`). */
  verifyEndpoints?: Readonly<Record<string, string>>;
  /** How long one provider check may take, in ms (default 5000). */
  verifyTimeoutMs?: number;
}
