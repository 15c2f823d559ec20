import { readFile } from 'node:fs/promises';
import pLimit from 'p-limit';
import { globToRegExp } from '../detect/allowlist.js';
import { ScanError } from '../errors.js';
import { RegistryClient, type RegistrySourceOptions } from '../source/registry.js';
import { parseReference } from '../source/target.js';

/** How many names a listing page asks for; registries cap it themselves (distribution: 1000). */
const PAGE_SIZE = 100;
/** A registry that keeps sending a next page past this many is looping, not listing. */
const MAX_PAGES = 100_000;

export interface SourceFilter {
  /** Globs over repository names (`team/*`, `**`): one must match. None: every repository. */
  repos?: readonly string[];
  /** Globs over tags: one must match. None: every tag. */
  tags?: readonly string[];
}

/**
 * `registry:HOST[:PORT]` (no repository after the host) names a whole registry; any other source
 * is one image as `stratascan scan` takes it (`registry:HOST/REPO:TAG` is one image too).
 */
export function registryHostOf(source: string): string | null {
  const m = /^registry:(?:\/\/)?([^/\s]+)\/?$/.exec(source);
  return m ? m[1]!.toLowerCase() : null;
}

/**
 * Every image the sources name, in order, duplicates folded: registries listed through the
 * distribution API (catalogue, then each repository's tags, both paginated), narrowed by the
 * filter; image references as given.
 */
export async function expandSources(sources: readonly string[], filter: SourceFilter, registry: RegistrySourceOptions = {}): Promise<string[]> {
  const repoMatch = matcher(filter.repos);
  const tagMatch = matcher(filter.tags);
  const out = new Set<string>();
  for (const source of sources) {
    const host = registryHostOf(source);
    if (host === null) {
      out.add(source);
      continue;
    }
    const repos = (await listRepositories(host, registry)).filter(repoMatch);
    // Tag lists are one or two small requests each: several at once, kept in catalogue order.
    const limit = pLimit(8);
    const tagLists = await Promise.all(repos.map((repo) => limit(() => listTags(host, repo, registry))));
    repos.forEach((repo, i) => {
      for (const tag of tagLists[i]!) if (tagMatch(tag)) out.add(`docker://${host}/${repo}:${tag}`);
    });
  }
  return [...out];
}

/** The references in a list such as `kubectl get pods -A -o jsonpath='{..image}'` prints: one a line (or space-separated). */
export async function readImageList(path: string, stdin: NodeJS.ReadableStream): Promise<string[]> {
  let text: string;
  try {
    if (path === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      text = Buffer.concat(chunks).toString('utf8');
    } else {
      text = await readFile(path, 'utf8');
    }
  } catch (cause) {
    throw new ScanError(`reading the image list ${path}`, { cause });
  }
  // A '#' starts a comment: no image reference holds one.
  const refs = text.split('\n').flatMap((line) => line.replace(/#.*$/, '').split(/\s+/)).filter((r) => r !== '');
  return [...new Set(refs)];
}

function matcher(globs: readonly string[] | undefined): (name: string) => boolean {
  if (!globs || globs.length === 0) return () => true;
  const res = globs.map((g) => globToRegExp(g));
  return (name) => res.some((re) => re.test(name));
}

function client(host: string, options: RegistrySourceOptions, repository: string | null): RegistryClient {
  // The client is per repository; the catalogue is asked for with its own token scope.
  const ref = parseReference(`${host}/${repository ?? 'catalog'}:latest`);
  return new RegistryClient(ref, repository === null ? { ...options, scope: 'registry:catalog:*' } : options);
}

async function listRepositories(host: string, options: RegistrySourceOptions): Promise<string[]> {
  const c = client(host, options, null);
  try {
    return await paginate(c, `/v2/_catalog?n=${PAGE_SIZE}`, 'repositories', `the catalogue of ${host}`);
  } finally {
    await c.close();
  }
}

async function listTags(host: string, repository: string, options: RegistrySourceOptions): Promise<string[]> {
  const c = client(host, options, repository);
  try {
    return await paginate(c, `/v2/${repository}/tags/list?n=${PAGE_SIZE}`, 'tags', `the tags of ${host}/${repository}`);
  } finally {
    await c.close();
  }
}

async function paginate(c: RegistryClient, first: string, field: 'repositories' | 'tags', what: string): Promise<string[]> {
  const names: string[] = [];
  let path: string | null = first;
  for (let pages = 0; path !== null; pages++) {
    if (pages >= MAX_PAGES) throw new ScanError(`${what}: more than ${MAX_PAGES} pages`);
    const { json, next }: { json: unknown; next: string | null } = await c.page(path, what);
    const list = (json as Record<string, unknown> | null)?.[field];
    // A repository without tags lists `"tags": null`.
    if (list !== null && list !== undefined && !(Array.isArray(list) && list.every((x) => typeof x === 'string'))) {
      throw new ScanError(`${what}: the answer's ${field} is not a list of names`);
    }
    names.push(...((list as string[] | null) ?? []));
    path = next;
  }
  return names;
}
