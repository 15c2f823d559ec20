/**
 * Broken and hostile images, generated fresh for each run (nothing hostile is stored in the
 * repository). Tar headers are written by hand here rather than with tar-stream's packer, which
 * refuses most of what an attacker would write: absurd sizes, raw bytes in names, GNU sparse
 * entries, PAX records with nonsense values.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { compress } from '../../fixtures/builder.mjs';
import { makeSecrets, type Secrets } from './leaky-spec.js';

export const BLOCK = 512;

export const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

// ---------------------------------------------------------------------------------------------
// Tar primitives

export interface RawHeader {
  name: string | Buffer;
  size?: number;
  /** The raw 12-byte size field (base-256, garbage), written instead of the octal `size`. */
  sizeField?: Buffer;
  /** Typeflag character: '0' file, '1' hard link, '2' symlink, '5' directory, 'S' GNU sparse, … */
  type?: string;
  linkname?: string | Buffer;
  mode?: number;
  format?: 'ustar' | 'gnu';
  /** Last change before the checksum (GNU sparse maps and the like). */
  patch?: (block: Buffer) => void;
}

export interface RawEntry extends RawHeader {
  data?: Buffer | string;
  /** PAX records written as an 'x' header right before this entry. */
  pax?: Record<string, string | Buffer>;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

export function header(h: RawHeader): Buffer {
  const b = Buffer.alloc(BLOCK);
  const name = Buffer.isBuffer(h.name) ? h.name : Buffer.from(h.name, 'utf8');
  name.copy(b, 0, 0, Math.min(100, name.length));
  b.write(octal(h.mode ?? 0o644, 8), 100, 'latin1');
  b.write(octal(0, 8), 108, 'latin1');
  b.write(octal(0, 8), 116, 'latin1');
  if (h.sizeField) h.sizeField.copy(b, 124, 0, 12);
  else b.write(octal(h.size ?? 0, 12), 124, 'latin1');
  b.write(octal(0, 12), 136, 'latin1');
  b.write(h.type ?? '0', 156, 'latin1');
  if (h.linkname !== undefined) {
    const link = Buffer.isBuffer(h.linkname) ? h.linkname : Buffer.from(h.linkname, 'utf8');
    link.copy(b, 157, 0, Math.min(100, link.length));
  }
  if ((h.format ?? 'ustar') === 'gnu') b.write('ustar  \0', 257, 'latin1');
  else b.write('ustar\x0000', 257, 'latin1');
  h.patch?.(b);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

export function pad(data: Buffer): Buffer {
  const rest = data.length % BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}

/** One PAX record: "<len> key=value\n", where len counts itself. */
export function paxRecord(key: string, value: string | Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8'), Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

export function entryBytes(e: RawEntry): Buffer {
  const parts: Buffer[] = [];
  if (e.pax) {
    const records = Buffer.concat(Object.entries(e.pax).map(([k, v]) => paxRecord(k, v)));
    parts.push(header({ name: 'PaxHeader/entry', type: 'x', size: records.length }), pad(records));
  }
  const data = e.data === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data, 'utf8');
  parts.push(header({ ...e, size: e.size ?? data.length }), pad(data));
  return Buffer.concat(parts);
}

export const END = Buffer.alloc(2 * BLOCK);

export function tarBytes(entries: RawEntry[], { end = true }: { end?: boolean } = {}): Buffer {
  return Buffer.concat([...entries.map(entryBytes), ...(end ? [END] : [])]);
}

/** Byte offset of each entry's header in tarBytes(entries) (PAX headers come before it). */
export function headerOffsets(entries: RawEntry[]): number[] {
  const out: number[] = [];
  let offset = 0;
  for (const e of entries) {
    const bytes = entryBytes(e);
    const paxLength = e.pax ? bytes.length - entryBytes({ ...e, pax: undefined }).length : 0;
    out.push(offset + paxLength);
    offset += bytes.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Images from raw layer tars

export type Compression = 'none' | 'gzip' | 'zstd';

export interface ImageOptions {
  layout?: 'docker-legacy' | 'oci-archive';
  /** Layer blobs for OCI archives (docker-legacy is always uncompressed). */
  compression?: Compression;
  /** created_by per layer (default "ADD layer N"). */
  createdBy?: (string | Buffer)[];
  env?: string[];
  labels?: Record<string, string>;
  os?: string;
  architecture?: string;
  variant?: string;
  reference?: string;
  /** Last change to the config object before it is serialised. */
  config?: (config: Record<string, unknown>) => void;
  /** Config bytes as written, replacing the serialised object. */
  configBytes?: (bytes: Buffer) => Buffer;
  /** Replaces the blob of layer i (after compression; diff_ids still describe the originals). */
  blob?: (index: number, blob: Buffer) => Buffer;
  /** Last change to the outer members (name → bytes) before they are packed. */
  members?: (members: Map<string, Buffer>) => void;
}

export interface BuiltImage {
  /** Outer members in packing order (manifest last, as docker save and skopeo write it). */
  members: Map<string, Buffer>;
  diffIds: string[];
  tar: Buffer;
}

function jsonBuffer(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** Builds an image around raw layer tars; the outer tar is written with `header` too. */
export function image(layers: Buffer[], o: ImageOptions = {}): BuiltImage {
  const layout = o.layout ?? 'docker-legacy';
  const compression = layout === 'docker-legacy' ? 'none' : (o.compression ?? 'gzip');
  const diffIds = layers.map(sha256);
  const blobs = layers.map((l, i) => (o.blob ? o.blob(i, compress(l, compression)) : compress(l, compression)));
  const history = layers.map((_l, i) => {
    const given = o.createdBy?.[i];
    return { created: '1970-01-01T00:00:00Z', created_by: typeof given === 'string' ? given : `ADD layer ${i}` };
  });
  const config: Record<string, unknown> = {
    architecture: o.architecture ?? 'amd64',
    os: o.os ?? 'linux',
    ...(o.variant ? { variant: o.variant } : {}),
    config: { Env: o.env ?? ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'], Labels: o.labels ?? null },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history,
  };
  o.config?.(config);
  let configBytes = jsonBuffer(config);
  // created_by may carry bytes that are not UTF-8: splice them in raw.
  (o.createdBy ?? []).forEach((c, i) => {
    if (!Buffer.isBuffer(c)) return;
    configBytes = Buffer.from(configBytes.toString('latin1').replace(`"ADD layer ${i}"`, `"${c.toString('latin1')}"`), 'latin1');
  });
  if (o.configBytes) configBytes = o.configBytes(configBytes);
  const reference = o.reference ?? 'hostile/fixture:latest';
  const members = new Map<string, Buffer>();
  if (layout === 'docker-legacy') {
    const configName = `${sha256(configBytes).slice(7)}.json`;
    members.set(configName, configBytes);
    const paths = blobs.map((b, i) => {
      const path = `layer${i}/layer.tar`;
      members.set(path, b);
      return path;
    });
    members.set('manifest.json', jsonBuffer([{ Config: configName, RepoTags: [reference], Layers: paths }]));
  } else {
    const media = { none: 'application/vnd.oci.image.layer.v1.tar', gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd' }[compression];
    blobs.forEach((b) => members.set(`blobs/sha256/${sha256(b).slice(7)}`, b));
    members.set(`blobs/sha256/${sha256(configBytes).slice(7)}`, configBytes);
    const manifest = jsonBuffer({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(configBytes), size: configBytes.length },
      layers: blobs.map((b) => ({ mediaType: media, digest: sha256(b), size: b.length })),
    });
    members.set(`blobs/sha256/${sha256(manifest).slice(7)}`, manifest);
    members.set('oci-layout', jsonBuffer({ imageLayoutVersion: '1.0.0' }));
    members.set('index.json', jsonBuffer({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length, annotations: { 'io.containerd.image.name': reference } }],
    }));
  }
  o.members?.(members);
  return { members, diffIds, tar: packMembers(members) };
}

export function packMembers(members: Map<string, Buffer>): Buffer {
  return tarBytes([...members].map(([name, data]) => (Buffer.byteLength(name) > 100 ? { name: 'long', pax: { path: name }, data } : { name, data })));
}

/** Offset of a member's data inside packMembers(members). */
export function memberDataOffset(members: Map<string, Buffer>, wanted: string): number {
  let offset = 0;
  for (const [name, data] of members) {
    const bytes = entryBytes(Buffer.byteLength(name) > 100 ? { name: 'long', pax: { path: name }, data } : { name, data });
    if (name === wanted) return offset + bytes.length - pad(data).length;
    offset += bytes.length;
  }
  throw new Error(`no member ${wanted}`);
}

/** A gzip blob with its CRC-32 trailer changed: every deflate block is valid, the check is not. */
export function badCrc(blob: Buffer): Buffer {
  const copy = Buffer.from(blob);
  copy[copy.length - 8] = copy[copy.length - 8]! ^ 0xff;
  return copy;
}

// ---------------------------------------------------------------------------------------------
// The corpus

export type Input =
  | { path: string }
  /** Standard input: bytes, or a stream made when the case runs. */
  | { stdin: Buffer | (() => Readable) };

export interface HostileCase {
  name: string;
  /** What the case is about, for the table. */
  about: string;
  input: Input;
  /** 2: the image cannot be read as a whole; 0/1: the scan goes on (local problems are skipped). */
  code: 0 | 1 | 2;
  /** Exit 2: what the one error line must say (the layer or file it names). */
  error?: RegExp;
  /** Exit 0/1: the secrets (by name) the report must hold, exactly. */
  secrets?: (keyof Secrets)[];
  /** Exit 0/1: skipped counts the report must hold. */
  skipped?: Record<string, number>;
  /** Exit 0/1: paths that must be among the findings' and alsoIn paths. */
  paths?: string[];
  /** Wall-clock bound for the whole CLI run. */
  timeoutMs: number;
  /** Peak RSS bound, MiB (checked for the cases that are about memory). */
  maxRssMiB?: number;
  /** Extra CLI arguments. */
  args?: string[];
}

export const CORPUS_SEED = 20_240_7;

/** Writes the corpus into `dir` and returns its cases. */
export async function buildCorpus(dir: string): Promise<{ cases: HostileCase[]; secrets: Secrets }> {
  const s = makeSecrets(CORPUS_SEED);
  const cases: HostileCase[] = [];
  const file = (name: string, bytes: Buffer): Input => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return { path };
  };
  const add = (c: HostileCase) => cases.push(c);
  const T = 15_000;

  // A small valid image: one layer with a secret in a file, used as the base of many cases.
  const goodEntries: RawEntry[] = [
    { name: 'etc/', type: '5', mode: 0o755 },
    { name: 'etc/os-release', data: 'ID=hostile\n' },
    { name: 'srv/app/.env', data: `GH_APP_TOKEN=${s.opaqueToken}\nGH_USER_TOKEN=${s.replacement}\n` },
    { name: 'srv/app/notes.txt', data: 'nothing to see\n'.repeat(64) },
  ];
  const goodLayer = tarBytes(goodEntries);
  const second = tarBytes([{ name: 'root/.config/gh', data: `token: ${s.ghConfig}\n` }]);
  const legacy = image([goodLayer, second]);
  const oci = image([goodLayer, second], { layout: 'oci-archive', compression: 'gzip' });
  const legacyOffsets = headerOffsets([...legacy.members].map(([name, data]) => ({ name, data })));

  // --- truncation at chosen places (cli.test.ts cuts at fractions; these aim at structures)
  const layerData = memberDataOffset(legacy.members, 'layer0/layer.tar');
  const gzipData = memberDataOffset(oci.members, `blobs/sha256/${sha256(compress(goodLayer, 'gzip')).slice(7)}`);
  const cuts: [string, Buffer, string][] = [
    ['inside an outer header', legacy.tar.subarray(0, legacyOffsets[1]! + 100), 'docker-legacy'],
    ['inside a layer member', legacy.tar.subarray(0, layerData + 700), 'docker-legacy'],
    ['inside a gzip layer', oci.tar.subarray(0, gzipData + 40), 'oci-archive gzip'],
    ['before the end-of-archive blocks', legacy.tar.subarray(0, legacy.tar.length - 2 * BLOCK), 'docker-legacy'],
  ];
  for (const [where, bytes, layout] of cuts) {
    add({ name: `truncated ${where}`, about: `${layout} cut ${where}`, input: file(`cut-${cases.length}.tar`, bytes), code: 2, error: /truncated|end-of-archive/, timeoutMs: T });
    add({ name: `truncated ${where} (stdin)`, about: `same bytes on standard input`, input: { stdin: bytes }, code: 2, error: /standard input/, timeoutMs: T });
  }

  // --- layers whose own tar is cut; the diff_id describes the cut bytes, so only the walk can tell
  const layerHeaders = headerOffsets(goodEntries);
  const layerCuts: [string, Buffer, RegExp | null][] = [
    ['inside a header', goodLayer.subarray(0, layerHeaders[2]! + 200), /reading layer 0/],
    ['inside a file', goodLayer.subarray(0, layerHeaders[2]! + BLOCK + 20), /reading layer 0/],
    // Ends on a block boundary without the two zero blocks: what a tar reader accepts.
    ['at a header boundary, no end marker', goodLayer.subarray(0, layerHeaders[3]), null],
  ];
  for (const [where, bytes, error] of layerCuts) {
    add({
      name: `layer tar cut ${where}`,
      about: 'the cut layer is the blob the manifest names, digests match',
      input: file(`layer-cut-${cases.length}.tar`, image([bytes]).tar),
      code: error ? 2 : 1,
      ...(error ? { error } : { secrets: ['opaqueToken', 'replacement'] as (keyof Secrets)[] }),
      timeoutMs: T,
    });
  }

  // --- compression
  add({ name: 'gzip layer truncated', about: 'the blob is half a gzip stream; digest matches the cut blob', input: file('gzip-cut.tar', image([goodLayer], { layout: 'oci-archive', blob: (_i, b) => b.subarray(0, b.length >> 1) }).tar), code: 2, error: /reading layer 0.*(unexpected end|Unexpected end)/i, timeoutMs: T });
  add({ name: 'gzip CRC mismatch', about: 'every deflate block valid, the CRC-32 trailer wrong', input: file('gzip-crc.tar', image([goodLayer], { layout: 'oci-archive', blob: (_i, b) => badCrc(b) }).tar), code: 2, error: /reading layer 0.*(check|crc)/i, timeoutMs: T });
  add({ name: 'gzip header garbage', about: 'gzip magic followed by an invalid method byte', input: file('gzip-head.tar', image([goodLayer], { layout: 'oci-archive', blob: () => Buffer.concat([Buffer.from([0x1f, 0x8b, 0x99]), Buffer.alloc(100, 7)]) }).tar), code: 2, error: /reading layer 0/, timeoutMs: T });
  const zstd = compress(goodLayer, 'zstd');
  const zstdFlipped = Buffer.from(zstd);
  for (let i = 12; i < Math.min(zstd.length - 4, 60); i++) zstdFlipped[i] = zstdFlipped[i]! ^ 0x5a;
  add({ name: 'corrupt zstd', about: 'bytes flipped inside the zstd frame', input: file('zstd-corrupt.tar', image([goodLayer], { layout: 'oci-archive', compression: 'zstd', blob: () => zstdFlipped }).tar), code: 2, error: /reading layer 0|diff_id/, timeoutMs: T });
  add({ name: 'truncated zstd', about: 'the zstd frame cut in half', input: file('zstd-cut.tar', image([goodLayer], { layout: 'oci-archive', compression: 'zstd', blob: () => zstd.subarray(0, zstd.length >> 1) }).tar), code: 2, error: /reading layer 0.*zstd/, timeoutMs: T });
  add({ name: 'zstd magic then garbage', about: 'a zstd magic number and random bytes', input: file('zstd-garbage.tar', image([goodLayer], { layout: 'oci-archive', compression: 'zstd', blob: () => Buffer.concat([zstd.subarray(0, 4), Buffer.alloc(300, 0xee)]) }).tar), code: 2, error: /reading layer 0/, timeoutMs: T });
  add({ name: 'layer that is not a tar', about: 'random bytes as a layer (digests and diff_id match)', input: file('layer-random.tar', image([Buffer.from(createHash('sha512').update('x').digest().toString('hex').repeat(40))]).tar), code: 2, error: /reading layer 0/, timeoutMs: T });

  // --- manifests, configs, JSON
  const legacyWith = (edit: (m: Map<string, Buffer>) => void) => image([goodLayer, second], { members: edit }).tar;
  const manifestOf = (m: Map<string, Buffer>) => JSON.parse(m.get('manifest.json')!.toString('utf8'));
  add({ name: 'manifest names a missing config', about: 'docker-legacy manifest.json Config points nowhere', input: file('missing-config.tar', legacyWith((m) => { const mf = manifestOf(m); mf[0].Config = 'nope.json'; m.set('manifest.json', jsonBuffer(mf)); })), code: 2, error: /config nope\.json, which is missing/, timeoutMs: T });
  add({ name: 'manifest names a missing layer', about: 'docker-legacy manifest.json names a layer not in the tar', input: file('missing-layer.tar', legacyWith((m) => m.delete('layer1/layer.tar'))), code: 2, error: /layer layer1\/layer\.tar, which is missing/, timeoutMs: T });
  add({ name: 'manifest names a missing layer (stdin)', about: 'same, streamed', input: { stdin: legacyWith((m) => m.delete('layer1/layer.tar')) }, code: 2, error: /layer1\/layer\.tar, which is missing/, timeoutMs: T });
  add({ name: 'more diff_ids than layers', about: 'the config lists a diff_id the manifest has no layer for', input: file('extra-diffid.tar', image([goodLayer], { config: (c) => (c.rootfs as { diff_ids: string[] }).diff_ids.push(sha256(Buffer.from('x'))) }).tar), code: 2, error: /2 diff_ids but manifest\.json lists 1 layers/, timeoutMs: T });
  add({ name: 'diff_ids swapped', about: 'both layers present, their diff_ids in the wrong order', input: file('swapped-diffid.tar', image([goodLayer, second], { config: (c) => (c.rootfs as { diff_ids: string[] }).diff_ids.reverse() }).tar), code: 2, error: /layer [01] .*does not match the config's diff_id/, timeoutMs: T });
  for (const [what, name, bytes] of [
    ['manifest.json', 'manifest.json', Buffer.from('[{"Config": ')],
    ['image config', 'config', Buffer.from('{"rootfs": {"diff_ids": [}')],
  ] as const) {
    const tar = legacyWith((m) => {
      if (name === 'manifest.json') m.set('manifest.json', bytes);
      else {
        const mf = manifestOf(m);
        m.set(mf[0].Config, bytes);
      }
    });
    add({ name: `invalid JSON: ${what}`, about: `${what} cut mid-document`, input: file(`bad-json-${cases.length}.tar`, tar), code: 2, error: /not valid JSON/, timeoutMs: T });
  }
  add({ name: 'invalid JSON: index.json', about: 'OCI index.json that is not JSON', input: file('bad-index.tar', image([goodLayer], { layout: 'oci-archive', members: (m) => m.set('index.json', Buffer.from('{"manifests": [')) }).tar), code: 2, error: /index\.json.*not valid JSON/, timeoutMs: T });
  // JSON that parses but has the wrong shape: the scanner must say what is wrong, not crash on it.
  const shapes: [string, (m: Map<string, Buffer>) => void][] = [
    ['manifest.json is [null]', (m) => m.set('manifest.json', Buffer.from('[null]')), /manifest\.json entry 1 is not an object/],
    ['manifest.json is an object', (m) => m.set('manifest.json', Buffer.from('{"Config":"a.json"}')), /manifest \(manifest\.json\) is not a JSON array/],
    ['manifest Layers holds a number', (m) => { const mf = manifestOf(m); mf[0].Layers = [7]; m.set('manifest.json', jsonBuffer(mf)); }, /lacks Config or a list of Layers/],
    ['RepoTags is a string', (m) => { const mf = manifestOf(m); mf[0].RepoTags = 'a:1'; m.set('manifest.json', jsonBuffer(mf)); }, /RepoTags that are not a list of strings/],
    ['config is null', (m) => m.set(manifestOf(m)[0].Config, Buffer.from('null')), /image config \(.*\) is not a JSON object/],
    ['config is a string', (m) => m.set(manifestOf(m)[0].Config, Buffer.from('"config"')), /image config \(.*\) is not a JSON object/],
    ['diff_ids is a string', (m) => m.set(manifestOf(m)[0].Config, Buffer.from('{"rootfs":{"diff_ids":"sha256:00"}}')), /has no rootfs\.diff_ids/],
    ['Env is a number', (m) => m.set(manifestOf(m)[0].Config, Buffer.from('{"config":{"Env":5},"rootfs":{"diff_ids":[]}}')), /config\.Env is not a list of strings/],
    ['Labels is a list', (m) => m.set(manifestOf(m)[0].Config, Buffer.from('{"config":{"Labels":["a"]},"rootfs":{"diff_ids":[]}}')), /config\.Labels is not a map of strings/],
    ['a label value is an object', (m) => m.set(manifestOf(m)[0].Config, Buffer.from('{"config":{"Labels":{"a":{}}},"rootfs":{"diff_ids":[]}}')), /config\.Labels is not a map of strings/],
    ['history entry is a number', (m) => m.set(manifestOf(m)[0].Config, Buffer.from('{"history":[5],"rootfs":{"diff_ids":[]}}')), /history\[0\] is not an object/],
    ['created_by is a number', (m) => m.set(manifestOf(m)[0].Config, Buffer.from('{"history":[{"created_by":7}],"rootfs":{"diff_ids":[]}}')), /history\[0\]\.created_by is not a string/],
    ['os is a list', (m) => m.set(manifestOf(m)[0].Config, Buffer.from('{"os":["linux"],"rootfs":{"diff_ids":[]}}')), /config's os is not a string/],
  ];
  for (const [what, edit, error] of shapes) {
    add({ name: `wrong JSON shape: ${what}`, about: 'valid JSON, not what docker would load', input: file(`shape-${cases.length}.tar`, legacyWith(edit)), code: 2, error, timeoutMs: T });
  }
  const ociShapes: [string, (m: Map<string, Buffer>) => void, RegExp][] = [
    ['index manifests hold null', (m) => m.set('index.json', Buffer.from('{"manifests":[null]}')), /index\.json lists no image manifest/],
    ['index manifest digest is a number', (m) => m.set('index.json', Buffer.from('{"manifests":[{"digest":5}]}')), /index\.json lists no image manifest/],
    ['index names a malformed digest', (m) => m.set('index.json', Buffer.from('{"manifests":[{"digest":"sha256:zz"}]}')), /invalid digest "sha256:zz"/],
    ['index is a list', (m) => m.set('index.json', Buffer.from('[]')), /OCI index \(index\.json\) is not a JSON object/],
    ['manifest layers hold null', (m) => {
      const index = JSON.parse(m.get('index.json')!.toString());
      const name = `blobs/sha256/${index.manifests[0].digest.slice(7)}`;
      const manifest = JSON.parse(m.get(name)!.toString());
      manifest.layers = [null];
      const bytes = jsonBuffer(manifest);
      m.delete(name);
      m.set(`blobs/sha256/${sha256(bytes).slice(7)}`, bytes);
      index.manifests[0].digest = sha256(bytes);
      m.set('index.json', jsonBuffer(index));
    }, /layer 0 has no digest/],
  ];
  for (const [what, edit, error] of ociShapes) {
    add({ name: `wrong JSON shape: ${what}`, about: 'OCI JSON of the wrong shape', input: file(`oci-shape-${cases.length}.tar`, image([goodLayer], { layout: 'oci-archive', members: edit }).tar), code: 2, error, timeoutMs: T });
  }
  // Odd but legal: Docker reads these, so must the scanner.
  add({
    name: 'config with nulls and a string Cmd',
    about: 'history entries null, Labels/Env null, Cmd and Entrypoint single strings',
    input: file('odd-config.tar', image([goodLayer], { config: (c) => { c.config = { Env: null, Labels: null, Cmd: 'sh', Entrypoint: `echo ${s.ghEnv}` }; c.history = [null, { created_by: null }]; } }).tar),
    code: 1,
    secrets: ['opaqueToken', 'replacement', 'ghEnv'],
    timeoutMs: T,
  });

  // --- not an image at all
  add({ name: 'empty standard input', about: 'nothing on stdin', input: { stdin: Buffer.alloc(0) }, code: 2, error: /standard input.*(empty|not a tar)/, timeoutMs: T });
  add({ name: 'non-tar on standard input', about: 'text on stdin', input: { stdin: Buffer.from('hello world\n'.repeat(100)) }, code: 2, error: /standard input.*not a tar/, timeoutMs: T });
  add({ name: 'zero blocks on standard input', about: '64 KiB of zeros on stdin', input: { stdin: Buffer.alloc(64 * 1024) }, code: 2, error: /standard input/, timeoutMs: T });
  add({ name: 'a lone gzip stream', about: 'a gzip-compressed image tar given as the image', input: file('image.tar.gz', gzipSync(legacy.tar)), code: 2, error: /not a tar archive/, timeoutMs: T });

  // --- outer archive structure
  add({
    name: 'outer ../ and absolute member names',
    about: 'members /manifest.json, ../../escape, /etc/passwd beside a valid image',
    input: file('outer-paths.tar', tarBytes([
      { name: '../../escape', data: 'x' },
      { name: '/etc/passwd', data: 'root:x:0:0::/root:/bin/sh\n' },
      ...[...legacy.members].map(([name, data]) => ({ name: name === 'manifest.json' ? '/manifest.json' : `./${name}`, data })),
    ])),
    code: 1,
    secrets: ['opaqueToken', 'replacement', 'ghConfig'],
    timeoutMs: T,
  });
  {
    // Tar semantics: the later member of a name wins (here: the manifest that lists both layers).
    const members = [...legacy.members].map(([name, data]) => ({ name, data }));
    const firstManifest = { name: 'manifest.json', data: jsonBuffer([{ Config: 'nope.json', Layers: [] }]) };
    const dup = tarBytes([firstManifest, ...members]);
    add({ name: 'outer duplicate members', about: 'two manifest.json members; the last one wins', input: file('outer-dup.tar', dup), code: 1, secrets: ['opaqueToken', 'replacement', 'ghConfig'], timeoutMs: T });
    add({ name: 'outer duplicate members (stdin)', about: 'same, streamed', input: { stdin: dup }, code: 1, secrets: ['opaqueToken', 'replacement', 'ghConfig'], timeoutMs: T });
  }
  {
    const members = [...legacy.members].map(([name, data]): RawEntry => ({ name, data }));
    const huge = (e: RawEntry): RawEntry[] => [{ name: 'padding.bin', sizeField: e.sizeField, size: e.size }];
    const octalHuge = tarBytes([...members.slice(0, 1), ...huge({ name: '', size: 0o77777777777 })], { end: false });
    add({ name: 'outer member declares 8 GiB', about: 'octal size 77777777777, file ends right after', input: file('outer-huge.tar', octalHuge), code: 2, error: /truncated/, timeoutMs: T });
    add({ name: 'outer member declares 8 GiB (stdin)', about: 'same, streamed', input: { stdin: octalHuge }, code: 2, error: /standard input/, timeoutMs: T });
    const b256 = Buffer.alloc(12);
    b256[0] = 0x80;
    b256.fill(0xff, 1);
    const base256 = tarBytes([...members.slice(0, 1), ...huge({ name: '', sizeField: b256 })], { end: false });
    add({ name: 'outer base-256 size 2^88', about: 'GNU base-256 size field, all ones', input: file('outer-b256.tar', base256), code: 2, error: /invalid member size|truncated/, timeoutMs: T });
    add({ name: 'outer base-256 size 2^88 (stdin)', about: 'same, streamed', input: { stdin: base256 }, code: 2, error: /standard input/, timeoutMs: T });
    for (const [what, value] of [['-1', '-1'], ['1e400', '1e400'], ['abc', 'abc'], ['2^70', '1180591620717411303424']] as const) {
      const tar = tarBytes([{ name: 'manifest.json', pax: { size: value }, data: 'x' }, ...members]);
      add({ name: `outer PAX size=${what}`, about: 'PAX size record with an absurd value', input: file(`outer-pax-${cases.length}.tar`, tar), code: 2, error: /invalid member size|truncated|corrupt/, timeoutMs: T });
      add({ name: `outer PAX size=${what} (stdin)`, about: 'same, streamed', input: { stdin: tar }, code: 2, error: /standard input/, timeoutMs: T });
    }
    const loop = tarBytes([
      ...members.filter((e) => e.name !== 'manifest.json'),
      { name: 'manifest.json', type: '2', linkname: 'a.json' },
      { name: 'a.json', type: '2', linkname: 'b.json' },
      { name: 'b.json', type: '2', linkname: 'manifest.json' },
    ]);
    add({ name: 'outer symlink loop', about: 'manifest.json → a.json → b.json → manifest.json', input: file('outer-loop.tar', loop), code: 2, error: /not a container image|no file/, timeoutMs: T });
    add({ name: 'outer symlink loop (stdin)', about: 'same, streamed', input: { stdin: loop }, code: 2, error: /not a container image|no file/, timeoutMs: T });
    const dangling = tarBytes([
      ...members.filter((e) => e.name !== 'layer1/layer.tar'),
      { name: 'layer1/layer.tar', type: '1', linkname: 'gone/layer.tar' },
    ]);
    add({ name: 'outer hard link to a missing member', about: 'layer1/layer.tar is a hard link to nothing', input: file('outer-dangling.tar', dangling), code: 2, error: /layer1\/layer\.tar, which is missing/, timeoutMs: T });
    add({ name: 'outer hard link to a missing member (stdin)', about: 'same, streamed', input: { stdin: dangling }, code: 2, error: /layer1\/layer\.tar, which is missing/, timeoutMs: T });
    const escape = legacyWith((m) => { const mf = manifestOf(m); mf[0].Layers[1] = '../../../../../../etc/passwd'; m.set('manifest.json', jsonBuffer(mf)); });
    add({ name: 'manifest names ../ outside the archive', about: 'Layers entry ../../../../../../etc/passwd', input: file('escape.tar', escape), code: 2, error: /which is missing|outside/, timeoutMs: T });
  }

  // --- OCI layout directories pointing outside themselves
  {
    const layoutDir = join(dir, 'layout-escape');
    const img = image([goodLayer], { layout: 'oci-archive', compression: 'gzip' });
    for (const [name, data] of img.members) {
      mkdirSync(join(layoutDir, name, '..'), { recursive: true });
      writeFileSync(join(layoutDir, name), data);
    }
    const index = JSON.parse(img.members.get('index.json')!.toString());
    const manifest = JSON.parse(img.members.get(`blobs/sha256/${index.manifests[0].digest.slice(7)}`)!.toString());
    const layerPath = join(layoutDir, 'blobs', 'sha256', manifest.layers[0].digest.slice(7));
    // A blob that is a symlink to an endless device: reading it would never end.
    rmSync(layerPath);
    symlinkSync('/dev/zero', layerPath);
    add({ name: 'layout blob is a symlink to /dev/zero', about: 'OCI layout directory whose layer blob never ends', input: { path: layoutDir }, code: 2, error: /which is missing/, timeoutMs: T });
  }

  // --- inside layers: names, links, duplicates
  add({
    name: 'layer ../ and absolute paths',
    about: 'entries ../../../tmp/x, /abs/y, ./a/../../b holding secrets',
    input: file('layer-paths.tar', image([tarBytes([
      { name: '../../../tmp/x', data: `token: ${s.ghConfig}\n` },
      { name: '/abs/y', data: `token: ${s.ghEnv}\n` },
      { name: './a/../../b', data: `token: ${s.opaqueToken}\n` },
    ])]).tar),
    code: 1,
    secrets: ['ghConfig', 'ghEnv', 'opaqueToken'],
    paths: ['/tmp/x', '/abs/y', '/b'],
    timeoutMs: T,
  });
  add({
    name: 'layer duplicate entries',
    about: 'the same path twice, each with its own secret',
    input: file('layer-dup.tar', image([tarBytes([
      { name: 'etc/app.env', data: `token: ${s.ghConfig}\n` },
      { name: 'etc/app.env', data: `token: ${s.replacement}\n` },
    ])]).tar),
    code: 1,
    secrets: ['ghConfig', 'replacement'],
    timeoutMs: T,
  });
  add({
    name: 'layer symlink loops',
    about: 'a → b → a, self → self, dir symlink to /',
    input: file('layer-loops.tar', image([tarBytes([
      { name: 'a', type: '2', linkname: 'b' },
      { name: 'b', type: '2', linkname: 'a' },
      { name: 'self', type: '2', linkname: 'self' },
      { name: 'root', type: '2', linkname: '/' },
      { name: 'root/etc/app.env', data: `token: ${s.ghConfig}\n` },
    ])]).tar),
    code: 1,
    secrets: ['ghConfig'],
    timeoutMs: T,
  });
  add({
    name: 'layer hard links to missing targets',
    about: 'hard links to nothing, to themselves, and in a chain',
    input: file('layer-hardlinks.tar', image([tarBytes([
      { name: 'gone', type: '1', linkname: 'does/not/exist' },
      { name: 'me', type: '1', linkname: 'me' },
      { name: 'c1', type: '1', linkname: 'c2' },
      { name: 'c2', type: '1', linkname: 'c1' },
      { name: 'real.env', data: `token: ${s.ghConfig}\n` },
      { name: 'copy.env', type: '1', linkname: 'real.env' },
    ])]).tar),
    code: 1,
    secrets: ['ghConfig'],
    paths: ['/real.env', '/copy.env'],
    timeoutMs: T,
  });
  add({
    name: 'layer devices, fifos and unknown types',
    about: 'character/block devices, a fifo, typeflags V and Z with no data',
    input: file('layer-devices.tar', image([tarBytes([
      { name: 'dev/null', type: '3' },
      { name: 'dev/sda', type: '4' },
      { name: 'run/fifo', type: '6' },
      { name: 'volume', type: 'V' },
      { name: 'weird', type: 'Z' },
      { name: 'etc/ok', data: 'ok\n' },
    ])]).tar),
    code: 0,
    timeoutMs: T,
  });
  // Go's archive/tar (what dockerd extracts with) reads no data for links and devices whatever
  // their size says; tar-stream reads it. A symlink with a size can hide a whole file from one of them.
  {
    const hidden = tarBytes([{ name: 'root/.pat', data: `${s.ghArg}\n` }], { end: false });
    add({
      name: 'symlink that declares data',
      about: 'a symlink whose size covers a hidden file entry (tar readers disagree)',
      input: file('symlink-data.tar', image([tarBytes([{ name: 'innocent', type: '2', linkname: 'x', data: hidden }])]).tar),
      code: 2,
      error: /reading layer 0.*innocent/,
      timeoutMs: T,
    });
  }

  // --- absurd sizes and headers inside layers
  {
    const b256 = (bytes: number[]) => Buffer.from([0x80, ...Array(11 - bytes.length).fill(0), ...bytes]);
    // Two's complement -2 (tar-stream reads all-ones, -1, as -0 and so as an empty file).
    const neg = Buffer.alloc(12, 0xff);
    neg[11] = 0xfe;
    const layerCases: [string, Buffer, 0 | 1 | 2, RegExp | null][] = [
      ['file declares 8 GiB, layer ends', tarBytes([{ name: 'big', size: 0o77777777777, data: 'x' }], { end: false }), 2, /reading layer 0/],
      ['file declares 2^62 bytes (base-256)', tarBytes([{ name: 'big', sizeField: b256([0x40, 0, 0, 0, 0, 0, 0, 0]) }], { end: false }), 2, /reading layer 0/],
      ['negative base-256 size', tarBytes([{ name: 'neg', sizeField: neg }]), 2, /reading layer 0/],
      ['PAX size=-1', tarBytes([{ name: 'f', pax: { size: '-1' }, data: 'abc' }]), 2, /reading layer 0/],
      ['PAX size=abc', tarBytes([{ name: 'f', pax: { size: 'abc' }, data: 'abc' }]), 2, /reading layer 0/],
      ['PAX size=2^70', tarBytes([{ name: 'f', pax: { size: '1180591620717411303424' }, data: 'abc' }]), 2, /reading layer 0/],
      ['PAX header of 5 MiB', tarBytes([{ name: 'f', pax: { comment: 'x'.repeat(5 << 20) }, data: 'abc' }]), 2, /reading layer 0/],
      ['PAX record length lies', Buffer.concat([header({ name: 'PaxHeader/f', type: 'x', size: 32 }), pad(Buffer.from('999999999 path=zzz\n-5 a=b\n0 c=d\n')), entryBytes({ name: 'f', data: `token: ${s.ghConfig}\n` }), END]), 1, null],
      ['PAX mtime/uid absurd, path 64 KiB long', tarBytes([{ name: 'f', pax: { mtime: '1e400', uid: '-99999999999999999999', path: `${'d/'.repeat(32 * 1024)}f.env` }, data: `token: ${s.ghConfig}\n` }]), 1, null],
      ['GNU long name of 3 MiB', tarBytes([{ name: '././@LongLink', type: 'L', data: `${'n'.repeat(3 << 20)}\0` }, { name: 'short', data: `token: ${s.ghConfig}\n` }]), 1, null],
    ];
    for (const [what, layer, code, error] of layerCases) {
      add({
        name: `layer: ${what}`,
        about: 'inside a layer tar; digests match the hostile bytes',
        input: file(`layer-abs-${cases.length}.tar`, image([layer]).tar),
        code,
        ...(error ? { error } : { secrets: ['ghConfig'] as (keyof Secrets)[] }),
        timeoutMs: T,
      });
    }
  }

  // --- sparse files: multi-GB as declared, a few bytes as stored
  {
    // A whole block of text: NUL padding would make the segment read as binary.
    const secretLine = Buffer.from(`token: ${s.ghConfig}\n`.padEnd(BLOCK - 1, '#') + '\n');
    // Old GNU format: the sparse map (offset, numbytes) and the real size live in the header.
    const gnuSparse = header({
      name: 'var/lib/sparse.img',
      type: 'S',
      format: 'gnu',
      size: BLOCK,
      patch: (b) => {
        b.write(octal(64 * 2 ** 30 - BLOCK, 12), 386, 'latin1'); // offset of the one data segment
        b.write(octal(BLOCK, 12), 398, 'latin1'); // its length
        b.write(octal(64 * 2 ** 30, 12), 483, 'latin1'); // real size: 64 GiB
      },
    });
    const gnu = Buffer.concat([gnuSparse, pad(secretLine), END]);
    add({ name: 'GNU sparse file of 64 GiB', about: "typeflag 'S', 512 stored bytes with a secret at the end of a 64 GiB hole", input: file('sparse-gnu.tar', image([gnu]).tar), code: 1, secrets: ['ghConfig'], timeoutMs: T });
    // PAX 1.0: the map is the first block of the data; the real name and size are PAX records.
    const map = pad(Buffer.from(`1\n${2 ** 50 - BLOCK}\n${BLOCK}\n`));
    const paxSparse = tarBytes([{
      name: 'GNUSparseFile.0/huge.db',
      pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'var/lib/huge.db', 'GNU.sparse.realsize': String(2 ** 50) },
      data: Buffer.concat([map, pad(secretLine)]),
    }]);
    add({ name: 'PAX sparse file of 1 PiB', about: 'GNU.sparse 1.0 with realsize 2^50 and a one-block map', input: file('sparse-pax.tar', image([paxSparse]).tar), code: 1, secrets: ['ghConfig'], paths: ['/var/lib/huge.db'], timeoutMs: T });
    add({ name: 'PAX sparse map unreadable', about: 'GNU.sparse.realsize=1e999, a map with negative entries: one skipped file', input: file('sparse-absurd.tar', image([tarBytes([{ name: 'GNUSparseFile.0/x', pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'x', 'GNU.sparse.realsize': '1e999' }, data: Buffer.concat([pad(Buffer.from('2\n-1\n-1\n99999999999999999999\n1\n')), pad(secretLine)]) }]), tarBytes([{ name: 'etc/other', data: `token: ${s.ghEnv}\n` }])]).tar), code: 1, secrets: ['ghEnv'], skipped: { 'sparse-map': 1 }, timeoutMs: T });
    add({ name: 'PAX sparse map of 10^20 segments', about: 'a map whose count never ends: bounded, one skipped file', input: file('sparse-endless.tar', image([tarBytes([{ name: 'GNUSparseFile.0/y', pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'y' }, data: Buffer.from(`99999999999999999999\n${'1\n'.repeat(1 << 20)}`) }])]).tar), code: 0, skipped: { 'sparse-map': 1 }, timeoutMs: T });
  }

  // --- scale: many files, big streamed content
  {
    const entries: Buffer[] = [];
    const secretAt = 73_210;
    for (let i = 0; i < 100_000; i++) {
      const data = i === secretAt ? `token: ${s.ghConfig}\n` : `file ${i}\n`;
      entries.push(entryBytes({ name: `many/${(i % 100).toString().padStart(2, '0')}/f${i}.txt`, data }));
    }
    entries.push(END);
    const many = Buffer.concat(entries);
    add({ name: '100,000 tiny files', about: 'one layer (gzip), 100,000 text files, one secret', input: file('many-files.tar', image([many], { layout: 'oci-archive', compression: 'gzip' }).tar), code: 1, secrets: ['ghConfig'], paths: [`/many/10/f${secretAt}.txt`], timeoutMs: 60_000, maxRssMiB: 512 });
  }
  add({ name: '512 MiB file streamed on stdin', about: 'a layer with one 512 MiB file generated lazily, config and manifest after it', input: { stdin: () => hugeStream(512 * 2 ** 20, s) }, code: 1, secrets: ['ghConfig'], timeoutMs: 60_000, maxRssMiB: 512 });

  return { cases, secrets: s };
}

/**
 * A docker save tarball generated on the fly: a layer holding one `size`-byte file of text
 * (a secret near its end), then the config and manifest whose diff_id is hashed on the way.
 */
export function hugeStream(size: number, s: Secrets): Readable {
  const secretLine = Buffer.from(`\ntoken: ${s.ghConfig}\n`);
  const fileHeader = header({ name: 'var/log/huge.log', size });
  const layerSize = BLOCK + size + ((BLOCK - (size % BLOCK)) % BLOCK) + END.length;
  const chunk = Buffer.alloc(1 << 20, 'all quiet on the log front\n');
  async function* generate(): AsyncGenerator<Buffer> {
    const diff = createHash('sha256');
    yield header({ name: 'layer0/layer.tar', size: layerSize });
    const emit = (b: Buffer) => {
      diff.update(b);
      return b;
    };
    yield emit(fileHeader);
    let left = size - secretLine.length;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      yield emit(chunk.subarray(0, n));
      left -= n;
    }
    yield emit(secretLine);
    yield emit(Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK));
    yield emit(END);
    const config = jsonBuffer({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${diff.digest('hex')}`] }, history: [{ created_by: 'ADD huge.log' }] });
    yield entryBytes({ name: 'config.json', data: config });
    yield entryBytes({ name: 'manifest.json', data: jsonBuffer([{ Config: 'config.json', RepoTags: ['huge:1'], Layers: ['layer0/layer.tar'] }]) });
    yield END;
  }
  return Readable.from(generate(), { objectMode: false });
}

// ---------------------------------------------------------------------------------------------
// Strings from the image that try to drive the reader's terminal or forge CI output

/** ESC/CSI/OSC sequences, a C1 CSI, newlines, CR, a workflow command and a bidi override. */
export const EVIL = '\x1b[31m\x1b]0;owned\x07\n::error::forged\r\u009b2J\u202e\u2028';

export function evilImage(s: Secrets, layout: 'docker-legacy' | 'oci-archive' = 'docker-legacy'): BuiltImage {
  const badUtf8 = Buffer.from([0xff, 0xfe, 0xc3]);
  const name = Buffer.concat([Buffer.from(`srv/${EVIL}`, 'utf8'), badUtf8, Buffer.from('.env')]);
  const layer = tarBytes([
    { name, data: `token: ${s.ghConfig}\n` },
    { name: 'srv/link', type: '2', linkname: Buffer.concat([Buffer.from(EVIL), badUtf8]) },
  ]);
  return image([layer], {
    layout,
    createdBy: [Buffer.concat([Buffer.from(`/bin/sh -c echo ${JSON.stringify(EVIL).slice(1, -1)} `), badUtf8])],
    env: ['PATH=/bin', `GH${EVIL}TOKEN=${s.ghEnv}`],
    labels: { [`com.example.clarifai${EVIL}key`]: s.clarifaiLabel },
    os: `linux${EVIL}`,
    architecture: `amd64${EVIL}`,
    variant: EVIL,
    reference: `evil${EVIL}/img:1`,
    members: (m) => {
      if (layout !== 'oci-archive') return;
      const index = JSON.parse(m.get('index.json')!.toString());
      index.manifests[0].platform = { os: `linux${EVIL}`, architecture: `amd64${EVIL}` };
      m.set('index.json', jsonBuffer(index));
    },
  });
}
