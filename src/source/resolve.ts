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

async function readJson<T>(container: ImageContainer, name: string, what: string): Promise<T> {
  const bytes = await container.read(name);
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    throw new ScanError(`${container.label}: ${what} (${name}) is not valid JSON`);
  }
}

async function readBlobJson<T>(container: ImageContainer, digest: string, what: string): Promise<T> {
  const name = blobPath(digest);
  if (!container.has(name)) throw new ScanError(`${container.label}: the ${what} names blob ${digest}, which is missing`);
  const bytes = await container.read(name);
  const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (digest.startsWith('sha256:') && actual !== digest) {
    throw new ScanError(`${container.label}: ${what} blob ${digest} does not match its digest (got ${actual})`);
  }
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    throw new ScanError(`${container.label}: ${what} ${digest} is not valid JSON`);
  }
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
  const createdBy: (string | null)[] = new Array(layerCount).fill(null);
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
  const manifest = await readJson<DockerManifestEntry[]>(container, 'manifest.json', 'the docker save manifest');
  if (!Array.isArray(manifest) || manifest.length === 0) throw new ScanError(`${container.label}: manifest.json lists no image`);
  let entry = manifest[0]!;
  if (options.image) {
    const wanted = manifest.find((m) => m.RepoTags?.includes(options.image!));
    if (!wanted) throw new ScanError(`${container.label} has no image ${options.image}; it has ${listTags(manifest)}`);
    entry = wanted;
  } else if (manifest.length > 1) {
    throw new ScanError(`${container.label} holds ${manifest.length} images; choose one with --image (${listTags(manifest)})`);
  }
  if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers)) {
    throw new ScanError(`${container.label}: manifest.json entry lacks Config or Layers`);
  }
  if (!container.has(entry.Config)) throw new ScanError(`${container.label}: manifest.json names config ${entry.Config}, which is missing`);
  const config = await readJson<ImageConfig>(container, entry.Config, 'the image config');
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
  const manifests = index.manifests ?? [];
  const tag = entry.RepoTags?.[0];
  const named = manifests.find((m) => tag && m.annotations?.['io.containerd.image.name']?.endsWith(tag));
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
  const config = await readBlobJson<ImageConfig>(container, manifest.config.digest, 'image config');
  const diffIds = diffIdsOf(config, container.label);
  if (diffIds.length !== manifest.layers.length) {
    throw new ScanError(`${container.label}: the config lists ${diffIds.length} diff_ids but the manifest lists ${manifest.layers.length} layers`);
  }
  const { createdBy, steps } = pairHistory(config, diffIds.length);
  const layers = manifest.layers.map((d, index): ResolvedLayer => {
    if (typeof d.digest !== 'string') throw new ScanError(`${container.label}: layer ${index} has no digest`);
    const blob = blobPath(d.digest);
    if (!container.has(blob)) throw new ScanError(`${container.label}: the manifest names layer blob ${d.digest}, which is missing`);
    return {
      index,
      diffId: diffIds[index]!,
      blob,
      digest: d.digest,
      size: container.size(blob),
      mediaType: d.mediaType ?? null,
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
  for (const d of descriptors) {
    if (typeof d.digest !== 'string') continue;
    const reference = d.annotations?.['io.containerd.image.name'] ?? d.annotations?.['org.opencontainers.image.ref.name'] ?? inheritedRef;
    // BuildKit stores provenance as manifests for platform unknown/unknown: not an image to scan.
    if (d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') continue;
    if (d.platform?.os === 'unknown') continue;
    if (d.mediaType && INDEX_TYPES.has(d.mediaType)) {
      const nested = await readBlobJson<OciIndex>(container, d.digest, 'image index');
      await collectManifests(container, nested.manifests ?? [], reference, out, depth + 1);
      continue;
    }
    const platform = d.platform?.os && d.platform.architecture
      ? [d.platform.os, d.platform.architecture, d.platform.variant].filter(Boolean).join('/')
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
      if (manifest.config?.digest) c.platform = platformOf(await readBlobJson<ImageConfig>(container, manifest.config.digest, 'image config'));
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
