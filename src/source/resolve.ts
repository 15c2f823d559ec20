import { createHash } from 'node:crypto';
import { ScanError } from '../errors.js';
import type { ImageFormat } from '../types.js';
import type { ContainerKind, ImageContainer } from './container.js';

/** The parts of an image config stratascan reads. Everything is optional: configs vary by builder. */
export interface ImageConfig {
  os?: string;
  architecture?: string;
  variant?: string;
  config?: {
    Env?: string[] | null;
    Labels?: Record<string, string> | null;
    Cmd?: string[] | null;
    Entrypoint?: string[] | null;
    OnBuild?: string[] | null;
    Healthcheck?: { Test?: string[] | null } | null;
  } | null;
  rootfs?: { type?: string; diff_ids?: string[] };
  history?: { created_by?: string; empty_layer?: boolean; comment?: string }[];
}

export interface ResolvedLayer {
  index: number;
  diffId: string;
  /** Member name of the blob inside the container. */
  blob: string;
  /** Expected digest of the blob bytes, when the layout names blobs by digest. */
  digest: string | null;
  size: number;
  mediaType: string | null;
  createdBy: string | null;
}

export interface HistoryStep {
  createdBy: string;
  /** The layer this step produced; null for steps that only changed metadata. */
  layerIndex: number | null;
  position: number;
}

export interface ResolvedImage {
  format: ImageFormat;
  reference: string | null;
  digest: string | null;
  platform: string;
  config: ImageConfig;
  layers: ResolvedLayer[];
  history: HistoryStep[];
}

export interface ResolveOptions {
  platform?: string;
  /** Pick one image from an archive holding several (repo:tag). */
  image?: string;
  /** How the target was given, to tell an OCI archive from an OCI directory. */
  containerFormat: ContainerKind;
}

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

export async function resolveImage(container: ImageContainer, options: ResolveOptions): Promise<ResolvedImage> {
  if (container.has('manifest.json')) return resolveDockerArchive(container, options);
  if (container.has('index.json')) return resolveOciLayout(container, options);
  throw new ScanError(`${container.label} is not a container image: it has neither manifest.json (docker save) nor index.json (OCI layout)`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// JSON that parses is still only a claim about its shape: checked here, so code further on can
// trust the declared types instead of failing on `null` with a message nobody can act on.
function expectShape(value: unknown, shape: 'object' | 'array', message: () => string): void {
  if (shape === 'object' ? !isObject(value) : !Array.isArray(value)) throw new ScanError(message());
}

async function readJson<T>(container: ImageContainer, name: string, what: string, shape: 'object' | 'array' = 'object'): Promise<T> {
  const bytes = await container.read(name);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ScanError(`${container.label}: ${what} (${name}) is not valid JSON`);
  }
  expectShape(value, shape, () => `${container.label}: ${what} (${name}) is not a JSON ${shape}`);
  return value as T;
}

async function readBlobJson<T>(container: ImageContainer, digest: string, what: string): Promise<T> {
  const name = blobPath(digest);
  if (!container.has(name)) throw new ScanError(`${container.label}: the ${what} names blob ${digest}, which is missing`);
  const bytes = await container.read(name);
  const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (digest.startsWith('sha256:') && actual !== digest) {
    throw new ScanError(`${container.label}: ${what} blob ${digest} does not match its digest (got ${actual})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ScanError(`${container.label}: ${what} ${digest} is not valid JSON`);
  }
  expectShape(value, 'object', () => `${container.label}: ${what} ${digest} is not a JSON object`);
  return value as T;
}

const stringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * Checks the config fields stratascan reads against the types Docker's own decoder accepts (an
 * image that breaks them could not be loaded either), so a hostile config is one clear error.
 */
function checkConfig(config: ImageConfig, label: string): ImageConfig {
  const bad = (field: string, should: string) => new ScanError(`${label}: the image config's ${field} is not ${should}`);
  for (const field of ['os', 'architecture', 'variant'] as const) {
    const value: unknown = config[field];
    if (value === null) delete config[field];
    else if (value !== undefined && typeof value !== 'string') throw bad(field, 'a string');
  }
  const c: unknown = config.config;
  if (c !== undefined && c !== null) {
    if (!isObject(c)) throw bad('config', 'an object');
    // Docker's strslice: Cmd and Entrypoint may be a single string.
    for (const field of ['Cmd', 'Entrypoint'] as const) if (typeof c[field] === 'string') c[field] = [c[field]];
    for (const field of ['Env', 'Cmd', 'Entrypoint', 'OnBuild'] as const) {
      if (c[field] !== undefined && c[field] !== null && !stringList(c[field])) throw bad(`config.${field}`, 'a list of strings');
    }
    const labels = c.Labels;
    if (labels !== undefined && labels !== null && !(isObject(labels) && Object.values(labels).every((v) => typeof v === 'string'))) {
      throw bad('config.Labels', 'a map of strings');
    }
    const health = c.Healthcheck;
    if (health !== undefined && health !== null) {
      if (!isObject(health)) throw bad('config.Healthcheck', 'an object');
      if (health.Test !== undefined && health.Test !== null && !stringList(health.Test)) throw bad('config.Healthcheck.Test', 'a list of strings');
    }
  }
  const history: unknown = config.history;
  if (history !== undefined && history !== null) {
    if (!Array.isArray(history)) throw bad('history', 'a list');
    config.history = history.map((h: unknown, i) => {
      if (h === null) return {};
      if (!isObject(h)) throw bad(`history[${i}]`, 'an object');
      if (h.created_by !== undefined && h.created_by !== null && typeof h.created_by !== 'string') throw bad(`history[${i}].created_by`, 'a string');
      if (h.empty_layer !== undefined && h.empty_layer !== null && typeof h.empty_layer !== 'boolean') throw bad(`history[${i}].empty_layer`, 'true or false');
      return h;
    });
  } else {
    delete config.history;
  }
  return config;
}

/** The report's image.format: where the image came from, and for saved images which layout. */
export function imageFormat(kind: ContainerKind, layout: 'docker' | 'oci'): ImageFormat {
  switch (kind) {
    case 'tar':
    case 'stream':
      return layout === 'docker' ? 'docker-archive' : 'oci-archive';
    case 'directory':
      return layout === 'docker' ? 'docker-archive' : 'oci-layout';
    case 'daemon':
      return 'docker-daemon';
    case 'registry':
      return 'registry';
    default: {
      const never: never = kind;
      throw new Error(`unknown container kind ${String(never)}`);
    }
  }
}

export function blobPath(digest: string): string {
  const m = /^([a-z0-9]+):([a-f0-9]{32,128})$/.exec(digest);
  if (!m) throw new ScanError(`invalid digest ${JSON.stringify(digest).slice(0, 80)}`);
  return `blobs/${m[1]}/${m[2]}`;
}

function platformOf(config: ImageConfig): string {
  return [config.os ?? 'unknown', config.architecture ?? 'unknown', config.variant].filter(Boolean).join('/');
}

function diffIdsOf(config: ImageConfig, label: string): string[] {
  const ids = config.rootfs?.diff_ids;
  if (!Array.isArray(ids) || ids.some((d) => typeof d !== 'string')) {
    throw new ScanError(`${label}: the image config has no rootfs.diff_ids`);
  }
  return ids;
}

/** Pairs history steps with layers: steps marked empty_layer made none. */
export function pairHistory(config: ImageConfig, layerCount: number): { createdBy: (string | null)[]; steps: HistoryStep[] } {
  const createdBy = new Array<string | null>(layerCount).fill(null);
  const steps: HistoryStep[] = [];
  let layer = 0;
  (config.history ?? []).forEach((h, position) => {
    const text = typeof h.created_by === 'string' ? h.created_by : null;
    const producesLayer = h.empty_layer !== true && layer < layerCount;
    const layerIndex = producesLayer ? layer++ : null;
    if (layerIndex !== null) createdBy[layerIndex] = text;
    if (text) steps.push({ createdBy: text, layerIndex, position });
  });
  return { createdBy, steps };
}

interface DockerManifestEntry {
  Config?: string;
  RepoTags?: string[] | null;
  Layers?: string[];
}

async function resolveDockerArchive(container: ImageContainer, options: ResolveOptions): Promise<ResolvedImage> {
  const manifest = await readJson<DockerManifestEntry[]>(container, 'manifest.json', 'the docker save manifest', 'array');
  if (manifest.length === 0) throw new ScanError(`${container.label}: manifest.json lists no image`);
  manifest.forEach((m: unknown, i) => {
    if (!isObject(m)) throw new ScanError(`${container.label}: manifest.json entry ${i + 1} is not an object`);
    if (m.RepoTags !== undefined && m.RepoTags !== null && !stringList(m.RepoTags)) {
      throw new ScanError(`${container.label}: manifest.json entry ${i + 1} has RepoTags that are not a list of strings`);
    }
  });
  let entry = manifest[0]!;
  if (options.image) {
    const wanted = manifest.find((m) => m.RepoTags?.includes(options.image!));
    if (!wanted) throw new ScanError(`${container.label} has no image ${options.image}; it has ${listTags(manifest)}`);
    entry = wanted;
  } else if (manifest.length > 1) {
    throw new ScanError(`${container.label} holds ${manifest.length} images; choose one with --image (${listTags(manifest)})`);
  }
  if (typeof entry.Config !== 'string' || !stringList(entry.Layers)) {
    throw new ScanError(`${container.label}: manifest.json entry lacks Config or a list of Layers`);
  }
  if (!container.has(entry.Config)) throw new ScanError(`${container.label}: manifest.json names config ${entry.Config}, which is missing`);
  const config = checkConfig(await readJson<ImageConfig>(container, entry.Config, 'the image config'), container.label);
  const diffIds = diffIdsOf(config, container.label);
  if (diffIds.length !== entry.Layers.length) {
    throw new ScanError(`${container.label}: the config lists ${diffIds.length} diff_ids but manifest.json lists ${entry.Layers.length} layers`);
  }
  const { createdBy, steps } = pairHistory(config, diffIds.length);
  const layers = entry.Layers.map((blob, index): ResolvedLayer => {
    if (!container.has(blob)) throw new ScanError(`${container.label}: manifest.json names layer ${blob}, which is missing`);
    // Docker 25+ writes an OCI layout beside manifest.json: blobs are then named by digest.
    const byDigest = /^blobs\/(sha256)\/([a-f0-9]{64})$/.exec(blob);
    return {
      index,
      diffId: diffIds[index]!,
      blob,
      digest: byDigest ? `${byDigest[1]}:${byDigest[2]}` : null,
      size: container.size(blob),
      mediaType: null,
      createdBy: createdBy[index] ?? null,
    };
  });
  return {
    format: imageFormat(options.containerFormat, 'docker'),
    reference: entry.RepoTags?.[0] ?? null,
    digest: await dockerArchiveDigest(container, entry),
    platform: platformOf(config),
    config,
    layers,
    history: steps,
  };
}

function listTags(manifest: DockerManifestEntry[]): string {
  return manifest.map((m, i) => m.RepoTags?.join(', ') || `untagged #${i + 1}`).join('; ');
}

async function dockerArchiveDigest(container: ImageContainer, entry: DockerManifestEntry): Promise<string | null> {
  if (!container.has('index.json')) return null;
  const index = await readJson<OciIndex>(container, 'index.json', 'the OCI index');
  const manifests = Array.isArray(index.manifests) ? index.manifests.filter(isObject) : [];
  const tag = entry.RepoTags?.[0];
  const named = manifests.find((m) => {
    const name: unknown = isObject(m.annotations) ? m.annotations['io.containerd.image.name'] : undefined;
    return tag && typeof name === 'string' && name.endsWith(tag);
  });
  const chosen = named ?? (manifests.length === 1 ? manifests[0] : undefined);
  return typeof chosen?.digest === 'string' ? chosen.digest : null;
}

interface Descriptor {
  mediaType?: string;
  digest?: string;
  size?: number;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}
interface OciIndex {
  mediaType?: string;
  manifests?: Descriptor[];
}
interface OciManifest {
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

interface Candidate {
  descriptor: Descriptor;
  platform: string | null;
  reference: string | null;
}

async function resolveOciLayout(container: ImageContainer, options: ResolveOptions): Promise<ResolvedImage> {
  const index = await readJson<OciIndex>(container, 'index.json', 'the OCI index');
  if (!Array.isArray(index.manifests) || index.manifests.length === 0) {
    throw new ScanError(`${container.label}: index.json lists no manifests`);
  }
  const candidates: Candidate[] = [];
  await collectManifests(container, index.manifests, null, candidates, 0);
  const chosen = await choose(container, candidates, options);
  const manifest = await readBlobJson<OciManifest>(container, chosen.descriptor.digest!, 'manifest');
  if (!manifest.config?.digest || !Array.isArray(manifest.layers)) {
    throw new ScanError(`${container.label}: manifest ${chosen.descriptor.digest} has no config or layers`);
  }
  if (typeof manifest.config.digest !== 'string') throw new ScanError(`${container.label}: manifest ${chosen.descriptor.digest} names its config by something that is not a digest`);
  const config = checkConfig(await readBlobJson<ImageConfig>(container, manifest.config.digest, 'image config'), container.label);
  const diffIds = diffIdsOf(config, container.label);
  if (diffIds.length !== manifest.layers.length) {
    throw new ScanError(`${container.label}: the config lists ${diffIds.length} diff_ids but the manifest lists ${manifest.layers.length} layers`);
  }
  const { createdBy, steps } = pairHistory(config, diffIds.length);
  const layers = manifest.layers.map((d: unknown, index): ResolvedLayer => {
    if (!isObject(d) || typeof d.digest !== 'string') throw new ScanError(`${container.label}: layer ${index} has no digest`);
    const blob = blobPath(d.digest);
    if (!container.has(blob)) throw new ScanError(`${container.label}: the manifest names layer blob ${d.digest}, which is missing`);
    return {
      index,
      diffId: diffIds[index]!,
      blob,
      digest: d.digest,
      size: container.size(blob),
      mediaType: typeof d.mediaType === 'string' ? d.mediaType : null,
      createdBy: createdBy[index] ?? null,
    };
  });
  return {
    format: imageFormat(options.containerFormat, 'oci'),
    reference: chosen.reference,
    digest: chosen.descriptor.digest!,
    platform: platformOf(config),
    config,
    layers,
    history: steps,
  };
}

async function collectManifests(
  container: ImageContainer,
  descriptors: Descriptor[],
  inheritedRef: string | null,
  out: Candidate[],
  depth: number,
): Promise<void> {
  if (depth > 4) throw new ScanError(`${container.label}: image indexes nest too deeply`);
  for (const raw of Array.isArray(descriptors) ? (descriptors as unknown[]) : []) {
    if (!isObject(raw) || typeof raw.digest !== 'string') continue;
    const d = raw as Descriptor;
    const annotations: Record<string, unknown> = isObject(d.annotations) ? d.annotations : {};
    const named = [annotations['io.containerd.image.name'], annotations['org.opencontainers.image.ref.name']].find((a) => typeof a === 'string');
    const reference = named ?? inheritedRef;
    // BuildKit stores provenance as manifests for platform unknown/unknown: not an image to scan.
    if (annotations['vnd.docker.reference.type'] === 'attestation-manifest') continue;
    const p: Record<string, unknown> = isObject(d.platform) ? d.platform : {};
    if (p.os === 'unknown') continue;
    if (typeof d.mediaType === 'string' && INDEX_TYPES.has(d.mediaType)) {
      const nested = await readBlobJson<OciIndex>(container, d.digest!, 'image index');
      await collectManifests(container, nested.manifests ?? [], reference, out, depth + 1);
      continue;
    }
    const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
    const platform = text(p.os) && text(p.architecture)
      ? [text(p.os), text(p.architecture), text(p.variant)].filter(Boolean).join('/')
      : null;
    out.push({ descriptor: d, platform, reference });
  }
}

async function choose(container: ImageContainer, candidates: Candidate[], options: ResolveOptions): Promise<Candidate> {
  let pool = candidates;
  if (options.image) {
    pool = pool.filter((c) => c.reference === options.image || c.reference?.endsWith(`:${options.image}`) || c.reference?.endsWith(`/${options.image}`));
    if (pool.length === 0) throw new ScanError(`${container.label} has no image ${options.image}`);
  }
  if (pool.length === 0) throw new ScanError(`${container.label}: index.json lists no image manifest`);
  // Fill in platforms for single-platform manifests that do not declare one.
  for (const c of pool) {
    if (c.platform === null && pool.length > 1) {
      const manifest = await readBlobJson<OciManifest>(container, c.descriptor.digest!, 'manifest');
      if (typeof manifest.config?.digest === 'string') {
        c.platform = platformOf(checkConfig(await readBlobJson<ImageConfig>(container, manifest.config.digest, 'image config'), container.label));
      }
    }
  }
  const wanted = options.platform;
  if (wanted) {
    const hit = pool.find((c) => c.platform === wanted) ?? pool.find((c) => c.platform?.startsWith(`${wanted}/`));
    if (hit) return hit;
    if (pool.length === 1 && pool[0]!.platform === null) return pool[0]!;
    throw new ScanError(`${container.label} has no image for platform ${wanted}; it has ${listPlatforms(pool)}`);
  }
  if (pool.length === 1) return pool[0]!;
  const amd64 = pool.find((c) => c.platform === 'linux/amd64');
  if (amd64) return amd64;
  throw new ScanError(`${container.label} holds several platforms and none is linux/amd64; choose one with --platform (${listPlatforms(pool)})`);
}

function listPlatforms(pool: Candidate[]): string {
  return [...new Set(pool.map((c) => c.platform ?? 'unknown'))].join(', ');
}
