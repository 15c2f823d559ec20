import { createHash, type Hash } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ScanError } from '../errors.js';
import type { RegistryCredentials } from '../types.js';
import type { ImageContainer } from './container.js';
import { basicHeader, findCredentials, parseChallenge, type FoundCredentials } from './registry-auth.js';
import { DOCKER_HUB, hostOf, isLoopbackHost, type ImageReference } from './target.js';
import { proxyAgents, type ProxyAgents } from './proxy.js';

/**
 * An image in a registry, spoken to with the OCI distribution API (no daemon), shown to the
 * pipeline as an OCI layout: `index.json` lists the manifest the reference resolves to, and
 * `blobs/sha256/<hex>` are fetched on demand, `read` for manifests and configs (small, whole),
 * `open` for layers (streamed as they download, their sha256 checked on the way through).
 * resolve.ts then does platform choice, config and history exactly as for an OCI archive.
 */

export interface RegistrySourceOptions {
  credentials?: RegistryCredentials;
  /** host[:port] allowed over plain HTTP or with an unverified certificate. */
  insecureRegistries?: string[];
  env?: NodeJS.ProcessEnv;
  /** One-line notes that do not stop the scan (see ScanOptions.onNote). */
  onNote?: (message: string) => void;
  /** Token scope to ask for instead of pulling the reference's repository (the catalogue: registry:catalog:*). */
  scope?: string;
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];
const MAX_MANIFEST = 4 * 1024 * 1024;
const MAX_CONFIG = 64 * 1024 * 1024;
const MAX_ATTEMPTS = 4;
const MAX_REDIRECTS = 5;
const IDLE_TIMEOUT_MS = 60_000;
const READ_CHUNK = 1024 * 1024;

interface Known {
  digest: string;
  size: number;
  mediaType: string | null;
}

export class RegistryContainer implements ImageContainer {
  readonly kind = 'registry';
  readonly label: string;
  private readonly known = new Map<string, Known>();
  private readonly cache = new Map<string, Buffer>();
  private indexJson: Buffer | null = null;

  private constructor(private readonly client: RegistryClient) {
    this.label = client.ref.familiar;
  }

  /** Resolves the reference to its manifest or index (one request) and returns the layout view. */
  static async open(ref: ImageReference, options: RegistrySourceOptions = {}): Promise<RegistryContainer> {
    const client = new RegistryClient(ref, options);
    const container = new RegistryContainer(client);
    try {
      const root = await client.manifest(ref.digest ?? ref.tag ?? 'latest');
      const digest = root.digest;
      container.remember({ digest, size: root.bytes.length, mediaType: root.mediaType });
      container.cache.set(digest, root.bytes);
      container.learn(root.bytes);
      container.indexJson = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [{
          mediaType: root.mediaType,
          digest,
          size: root.bytes.length,
          annotations: { 'org.opencontainers.image.ref.name': ref.familiar },
        }],
      }));
      return container;
    } catch (err) {
      await client.close();
      throw err;
    }
  }

  private remember(k: Known): void {
    const hex = /^sha256:([a-f0-9]{64})$/.exec(k.digest)?.[1];
    if (hex && !this.known.has(hex)) this.known.set(hex, k);
  }

  /** Registers the blobs a manifest or index names, so has()/size() can answer for them. */
  private learn(bytes: Buffer): void {
    let doc: { manifests?: unknown; config?: unknown; layers?: unknown };
    try {
      doc = JSON.parse(bytes.toString('utf8')) as typeof doc;
    } catch {
      return; // resolve.ts reports invalid JSON with context
    }
    const descriptors: unknown[] = [
      ...(Array.isArray(doc.manifests) ? (doc.manifests as unknown[]) : []),
      ...(doc.config ? [doc.config] : []),
      ...(Array.isArray(doc.layers) ? (doc.layers as unknown[]) : []),
    ];
    for (const raw of descriptors) {
      const d = raw as { digest?: unknown; size?: unknown; mediaType?: unknown } | null;
      if (typeof d?.digest !== 'string') continue;
      this.remember({
        digest: d.digest,
        size: typeof d.size === 'number' ? d.size : -1,
        mediaType: typeof d.mediaType === 'string' ? d.mediaType : null,
      });
    }
  }

  private lookup(name: string): Known | undefined {
    const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
    return m ? this.known.get(m[1]!) : undefined;
  }

  has(name: string): boolean {
    return name === 'index.json' || this.lookup(name) !== undefined;
  }

  size(name: string): number {
    if (name === 'index.json') return this.indexJson?.length ?? 0;
    const k = this.lookup(name);
    if (!k) throw new ScanError(`${this.label} has no blob ${name}`);
    return Math.max(0, k.size);
  }

  async read(name: string, maxBytes = MAX_CONFIG): Promise<Buffer> {
    if (name === 'index.json') return this.indexJson!;
    const k = this.lookup(name);
    if (!k) throw new ScanError(`${this.label} has no blob ${name}`);
    const cached = this.cache.get(k.digest);
    if (cached) return cached;
    let bytes: Buffer;
    if (k.mediaType !== null && MANIFEST_TYPES.includes(k.mediaType)) {
      bytes = (await this.client.manifest(k.digest)).bytes;
      this.learn(bytes);
    } else {
      if (k.size > maxBytes) throw new ScanError(`${this.label}: blob ${k.digest} is too large to be image metadata (${k.size} bytes)`);
      bytes = await this.client.blob(k.digest, Math.min(maxBytes, MAX_CONFIG));
    }
    this.cache.set(k.digest, bytes);
    return bytes;
  }

  open(name: string): Readable {
    const k = this.lookup(name);
    if (!k) throw new ScanError(`${this.label} has no blob ${name}`);
    return this.client.blobStream(k.digest, k.size);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

type Scheme = 'https:' | 'http:';

interface RequestOptions {
  accept?: string;
  /** Resume a blob download from this byte offset. */
  from?: number;
  /** What is being fetched, for error messages. */
  what: string;
}

/** One registry and repository: transport, authentication, retries. */
export class RegistryClient {
  private scheme: Scheme | null = null;
  private authorization: string | null = null;
  private credentials: FoundCredentials | null | undefined;
  private readonly host: string;
  private readonly insecure: boolean;
  private readonly agents: { http: http.Agent; https: https.Agent };
  /** HTTP(S)_PROXY and NO_PROXY, as curl and the docker CLI read them. */
  private readonly proxies: ProxyAgents;

  constructor(
    readonly ref: ImageReference,
    private readonly options: RegistrySourceOptions,
  ) {
    // Docker Hub's API lives on registry-1.docker.io.
    this.host = ref.registry === DOCKER_HUB ? 'registry-1.docker.io' : ref.registry;
    const insecureList = (options.insecureRegistries ?? []).map((h) => h.toLowerCase().replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, ''));
    this.insecure = insecureList.includes(ref.registry) || insecureList.includes(hostOf(ref.registry));
    this.agents = {
      http: new http.Agent({ keepAlive: true, maxSockets: 8 }),
      https: new https.Agent({ keepAlive: true, maxSockets: 8, rejectUnauthorized: !(this.insecure || isLoopbackHost(ref.registry)) }),
    };
    this.proxies = proxyAgents({ keepAlive: true, maxSockets: 8, rejectUnauthorized: !(this.insecure || isLoopbackHost(ref.registry)) });
  }

  /** Plain HTTP (and unverified TLS) only for loopback hosts and --insecure-registry. */
  private get mayDowngrade(): boolean {
    return this.insecure || isLoopbackHost(this.ref.registry);
  }

  private get where(): string {
    return `${this.ref.registry}/${this.ref.repository}`;
  }

  async close(): Promise<void> {
    this.agents.http.destroy();
    this.agents.https.destroy();
    this.proxies.destroy();
  }

  async manifest(reference: string): Promise<{ bytes: Buffer; digest: string; mediaType: string }> {
    const what = reference.startsWith('sha256:') ? `manifest ${reference}` : `${this.ref.familiar}`;
    const { res, bytes } = await this.fetchWhole(`/v2/${this.ref.repository}/manifests/${reference}`, { accept: MANIFEST_TYPES.join(', '), what }, MAX_MANIFEST);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new ScanError(`${this.where}: manifest ${reference} does not match its digest (got ${digest})`);
    }
    const header = headerValue(res, 'docker-content-digest');
    if (header?.startsWith('sha256:') && header !== digest) {
      throw new ScanError(`${this.where}: the registry says ${what} has digest ${header} but its content hashes to ${digest}`);
    }
    let mediaType = (headerValue(res, 'content-type') ?? '').split(';')[0]!.trim();
    try {
      const body = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; schemaVersion?: number; manifests?: unknown };
      if (typeof body.mediaType === 'string') mediaType = body.mediaType;
      else if (!MANIFEST_TYPES.includes(mediaType)) mediaType = Array.isArray(body.manifests) ? MANIFEST_TYPES[0]! : MANIFEST_TYPES[2]!;
      if (body.schemaVersion === 1) throw new ScanError(`${what}: Docker schema 1 manifests are not supported`);
    } catch (err) {
      if (err instanceof ScanError) throw err;
      throw new ScanError(`${what} from ${this.where} is not valid JSON`);
    }
    if (!MANIFEST_TYPES.includes(mediaType)) throw new ScanError(`${what}: unsupported manifest type ${mediaType.slice(0, 100)}`);
    return { bytes, digest, mediaType };
  }

  /**
   * One page of a paginated listing (`/v2/_catalog`, `/v2/NAME/tags/list`): its JSON and the path
   * of the next page from the `Link` header (RFC 5988, as the distribution API sends it), if any.
   */
  async page(path: string, what: string): Promise<{ json: unknown; next: string | null }> {
    const { res, bytes } = await this.fetchWhole(path, { accept: 'application/json', what }, MAX_MANIFEST);
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new ScanError(`${what} from ${this.ref.registry} is not valid JSON`);
    }
    const link = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(headerValue(res, 'link') ?? '');
    let next: string | null = null;
    if (link) {
      const url = new URL(link[1]!, 'http://registry.invalid');
      // Only a path on the same registry: a Link elsewhere would carry our authorization away.
      if (url.host === 'registry.invalid' || url.host === this.host) next = `${url.pathname}${url.search}`;
    }
    return { json, next };
  }

  async blob(digest: string, maxBytes: number): Promise<Buffer> {
    return (await this.fetchWhole(`/v2/${this.ref.repository}/blobs/${digest}`, { what: `blob ${digest}` }, maxBytes)).bytes;
  }

  /** A small document read whole; a connection dropped mid-body is retried (bounded). */
  private async fetchWhole(path: string, options: RequestOptions, maxBytes: number): Promise<{ res: IncomingMessage; bytes: Buffer }> {
    for (let attempt = 1; ; attempt++) {
      const res = await this.request(path, options);
      try {
        return { res, bytes: await readBody(res, maxBytes, `${options.what} from ${this.where}`) };
      } catch (err) {
        if (attempt >= MAX_ATTEMPTS || !isTransient((err as Error).cause)) throw err;
        await sleep(backoff(attempt));
      }
    }
  }

  /**
   * The blob as a stream that hashes every byte on its way to the scanner and fails at the end
   * if the sha256 differs from the digest: a corrupt registry is an error, never a result.
   * A connection lost mid-blob resumes with a Range request (bounded attempts).
   */
  blobStream(digest: string, size: number): Readable {
    const path = `/v2/${this.ref.repository}/blobs/${digest}`;
    const what = `blob ${digest}`;
    async function* download(client: RegistryClient): AsyncGenerator<Buffer> {
      const hash: Hash = createHash('sha256');
      let received = 0;
      for (let attempt = 1; ; attempt++) {
        const res = await client.request(path, { what, from: received > 0 ? received : undefined });
        if (received > 0 && res.statusCode !== 206) {
          res.destroy();
          throw new ScanError(`${client.where}: the connection broke in ${what} and the registry cannot resume it`);
        }
        try {
          for await (const chunk of res) {
            hash.update(chunk as Buffer);
            received += (chunk as Buffer).length;
            yield chunk as Buffer;
          }
          if (!res.complete) throw Object.assign(new Error('connection closed before the end of the blob'), { code: 'ECONNRESET' });
          break;
        } catch (err) {
          if (err instanceof ScanError || attempt >= MAX_ATTEMPTS || !isTransient(err)) {
            throw new ScanError(`downloading ${what} from ${client.where}`, { cause: err });
          }
          await sleep(backoff(attempt));
        }
      }
      if (size >= 0 && received !== size) {
        throw new ScanError(`${client.where}: ${what} has ${received} bytes but its manifest says ${size}`);
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest) {
        throw new ScanError(`${client.where}: ${what} does not match its digest (got ${actual}): the registry served corrupt data`);
      }
    }
    return Readable.from(download(this), { objectMode: false, highWaterMark: READ_CHUNK });
  }

  /** GET with authentication, redirects and bounded retries on 429, 5xx and dropped connections. */
  async request(path: string, options: RequestOptions): Promise<IncomingMessage> {
    const scheme = await this.pickScheme();
    let authRetried = false;
    for (let attempt = 1; ; attempt++) {
      const headers: Record<string, string> = { 'user-agent': 'stratascan' };
      if (options.accept) headers.accept = options.accept;
      if (options.from) headers.range = `bytes=${options.from}-`;
      if (this.authorization) headers.authorization = this.authorization;
      let res: IncomingMessage;
      try {
        res = await this.get(new URL(`${scheme}//${this.host}${path}`), headers);
      } catch (err) {
        if (attempt < MAX_ATTEMPTS && isTransient(err)) {
          await sleep(backoff(attempt));
          continue;
        }
        throw new ScanError(`cannot reach registry ${this.ref.registry}`, { cause: err });
      }
      const status = res.statusCode ?? 0;
      if (status === 200 || status === 206) return res;
      if (status === 401 && !authRetried) {
        authRetried = true;
        const challenge = headerValue(res, 'www-authenticate');
        res.resume();
        await this.authenticate(challenge);
        attempt--;
        continue;
      }
      if (status === 401) {
        // A token was issued but does not reach this repository: the challenge says why.
        const challenge = parseChallenge(headerValue(res, 'www-authenticate'));
        const detail = await errorDetail(res);
        throw this.unauthorizedError(challenge?.params.error, challenge?.params.scope, detail);
      }
      const detail = await errorDetail(res);
      if ((status === 429 || status >= 500) && attempt < MAX_ATTEMPTS) {
        await sleep(retryAfter(res) ?? backoff(attempt));
        continue;
      }
      throw this.statusError(status, options.what, detail);
    }
  }

  /**
   * A 401 after authenticating. `insufficient_scope` means the registry knows who we are (or let
   * us in anonymously) but will not let us pull this repository: wrong name (Docker Hub answers
   * the same for one that does not exist) or no pull permission. That is not a bad password.
   */
  private unauthorizedError(error: string | undefined, scope: string | undefined, detail: string): ScanError {
    const suffix = detail ? ` (${detail})` : '';
    const wanted = scope ? ` (scope ${scope.slice(0, 200)})` : '';
    if (error === 'insufficient_scope') {
      return new ScanError(this.credentials
        ? `${this.ref.registry} accepted the credentials from ${this.credentials.origin}, but they do not grant pull access to ` +
          `${this.ref.repository}${wanted}: check the repository name (a repository that does not exist is answered the same way) ` +
          'and that this account may pull it'
        : `${this.ref.registry} does not let anonymous users pull ${this.ref.repository}${wanted}: check the repository name ` +
          '(a repository that does not exist is answered the same way), or log in (docker login, or --username with --password-stdin)');
    }
    if (error === 'invalid_token') {
      return new ScanError(`${this.ref.registry} did not accept the token its own token service issued for ${this.ref.repository} (invalid_token)${suffix}`);
    }
    return this.statusError(401, '', detail);
  }

  private statusError(status: number, what: string, detail: string): ScanError {
    const suffix = detail ? ` (${detail})` : '';
    switch (status) {
      case 401:
        return new ScanError(this.credentials
          ? `${this.ref.registry} rejected the credentials from ${this.credentials.origin} for ${this.ref.repository} (401 Unauthorized)${suffix}`
          : `${this.ref.registry} requires authentication for ${this.ref.repository} (401 Unauthorized): run docker login, or pass --username with --password-stdin`);
      case 403:
        return new ScanError(`${this.ref.registry} denied access to ${this.ref.repository} (403 Forbidden)${suffix}`);
      case 404:
        return new ScanError(`${what} not found in ${this.where} (404 Not Found)${suffix}`);
      case 429:
        return new ScanError(`${this.ref.registry} is rate-limiting requests (429 Too Many Requests after ${MAX_ATTEMPTS} attempts)${suffix}`);
      default:
        return new ScanError(`${this.ref.registry} answered ${status} for ${what}${status >= 500 ? ` after ${MAX_ATTEMPTS} attempts` : ''}${suffix}`);
    }
  }

  /** Answers a 401 challenge: Basic sends the credentials, Bearer trades them for a token. */
  private async authenticate(header: string | undefined): Promise<void> {
    const challenge = parseChallenge(header);
    this.credentials ??= await findCredentials(this.ref.registry, this.options.credentials, this.options.env ?? process.env, this.options.onNote);
    const creds = this.credentials;
    if (challenge?.scheme === 'basic') {
      if (!creds) throw this.statusError(401, '', '');
      this.authorization = basicHeader(creds);
      return;
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm) {
      throw new ScanError(`${this.ref.registry} asked for authentication in a way stratascan does not support (${(challenge?.scheme ?? 'no challenge').slice(0, 30)})`);
    }
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm);
    } catch {
      throw new ScanError(`${this.ref.registry} named an invalid token service URL`);
    }
    const realmHost = realm.host.toLowerCase();
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && (isLoopbackHost(realmHost) || this.insecure || realmHost === this.ref.registry))) {
      throw new ScanError(`${this.ref.registry} named a token service over plain HTTP (${realm.host}); refusing to send credentials there`);
    }
    const scope = this.options.scope ?? `repository:${this.ref.repository}:pull`;
    const service = challenge.params.service;
    let res: IncomingMessage;
    if (creds?.username === '<token>') {
      // An identity token from `docker login`: the OAuth2 refresh-token grant.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.password, client_id: 'stratascan', scope });
      if (service) form.set('service', service);
      res = await this.send(realm, 'POST', { 'content-type': 'application/x-www-form-urlencoded' }, Buffer.from(form.toString()));
    } else {
      realm.searchParams.set('scope', scope);
      if (service) realm.searchParams.set('service', service);
      const headers: Record<string, string> = { 'user-agent': 'stratascan' };
      if (creds) {
        headers.authorization = basicHeader(creds);
        realm.searchParams.set('account', creds.username);
      }
      try {
        res = await this.send(realm, 'GET', headers);
      } catch (err) {
        throw new ScanError(`cannot reach the token service of ${this.ref.registry} (${realm.host})`, { cause: err });
      }
    }
    const status = res.statusCode ?? 0;
    if (status === 401 || status === 403) {
      res.resume();
      throw creds
        ? new ScanError(`${this.ref.registry} rejected the credentials from ${creds.origin} (token service answered ${status})`)
        : new ScanError(`${this.ref.registry} requires authentication for ${this.ref.repository} (token service answered ${status}): run docker login, or pass --username with --password-stdin`);
    }
    if (status !== 200) {
      res.resume();
      throw new ScanError(`the token service of ${this.ref.registry} answered ${status}`);
    }
    const body = await readBody(res, 1024 * 1024, 'token');
    let token: string | undefined;
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { token?: string; access_token?: string };
      token = parsed.token || parsed.access_token;
    } catch {
      // reported below
    }
    if (!token) throw new ScanError(`the token service of ${this.ref.registry} answered without a token`);
    this.authorization = `Bearer ${token}`;
  }

  /** HTTPS unless the host is loopback or --insecure-registry and does not speak TLS. */
  private async pickScheme(): Promise<Scheme> {
    if (this.scheme) return this.scheme;
    try {
      const res = await this.get(new URL(`https://${this.host}/v2/`), { 'user-agent': 'stratascan' });
      res.resume();
      this.scheme = 'https:';
    } catch (err) {
      if (!this.mayDowngrade || !isTlsMismatch(err)) {
        throw new ScanError(`cannot reach registry ${this.ref.registry}${this.mayDowngrade ? '' : ' over HTTPS (plain HTTP is used only for loopback hosts and --insecure-registry)'}`, { cause: err });
      }
      this.scheme = 'http:';
    }
    return this.scheme;
  }

  /** GET following redirects; the Authorization header never leaves the registry's host. */
  private async get(url: URL, headers: Record<string, string>): Promise<IncomingMessage> {
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const sameHost = current.host === url.host;
      const sent = sameHost ? headers : Object.fromEntries(Object.entries(headers).filter(([k]) => k !== 'authorization'));
      const res = await this.send(current, 'GET', sent);
      const status = res.statusCode ?? 0;
      const location = headerValue(res, 'location');
      if ([301, 302, 303, 307, 308].includes(status) && location) {
        res.resume();
        const next = new URL(location, current);
        if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new ScanError(`${this.ref.registry} redirected to an unsupported URL scheme`);
        if (next.protocol === 'http:' && current.protocol === 'https:' && !isLoopbackHost(next.host) && !this.insecure) {
          throw new ScanError(`${this.ref.registry} redirected from HTTPS to plain HTTP (${next.host}); refusing`);
        }
        current = next;
        continue;
      }
      return res;
    }
    throw new ScanError(`${this.ref.registry}: too many redirects`);
  }

  private send(url: URL, method: string, headers: Record<string, string>, body?: Buffer): Promise<IncomingMessage> {
    const isHttps = url.protocol === 'https:';
    const mod = isHttps ? https : http;
    const agent = this.proxies.agentFor(url) ?? (isHttps ? this.agents.https : this.agents.http);
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { method, headers: body ? { ...headers, 'content-length': String(body.length) } : headers, agent }, (res) => {
        res.setTimeout(IDLE_TIMEOUT_MS, () => res.destroy(Object.assign(new Error('no data for 60 s'), { code: 'ETIMEDOUT' })));
        resolve(res);
      });
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('no answer for 60 s'), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(body);
    });
  }
}

function headerValue(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function readBody(res: IncomingMessage, maxBytes: number, what: string): Promise<Buffer> {
  const declared = Number(headerValue(res, 'content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.destroy();
    throw new ScanError(`${what} is too large (${declared} bytes)`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) {
        res.destroy();
        throw new ScanError(`${what} is too large (over ${maxBytes} bytes)`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof ScanError) throw err;
    throw new ScanError(`reading ${what}`, { cause: err });
  }
  if (!res.complete) {
    throw new ScanError(`reading ${what}`, { cause: Object.assign(new Error('the connection closed early'), { code: 'ECONNRESET' }) });
  }
  return Buffer.concat(chunks);
}

/** The registry's own explanation, from its JSON error body: `{"errors":[{"code","message"}]}`. */
async function errorDetail(res: IncomingMessage): Promise<string> {
  try {
    const body = await readBody(res, 64 * 1024, 'error');
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
    const first = parsed.errors?.[0];
    if (!first) return '';
    return [first.code, first.message].filter(Boolean).join(': ').slice(0, 200);
  } catch {
    return '';
  }
}

function retryAfter(res: IncomingMessage): number | undefined {
  const value = headerValue(res, 'retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds, 10) * 1000;
  return undefined;
}

function backoff(attempt: number): number {
  return Math.min(250 * 2 ** (attempt - 1), 4000) + Math.floor(Math.random() * 100);
}

function isTransient(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EPIPE' || code === 'ECONNABORTED' || code === 'EAI_AGAIN' || code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/** The answer to a TLS hello was not TLS: the server speaks plain HTTP. */
function isTlsMismatch(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException & { library?: string; reason?: string };
  const code = e?.code ?? '';
  return code === 'EPROTO' || code.startsWith('ERR_SSL_') || code === 'ECONNRESET' || /wrong version number|packet length too long/i.test(e?.message ?? '');
}
