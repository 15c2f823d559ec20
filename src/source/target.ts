import { existsSync } from 'node:fs';
import { ScanError } from '../errors.js';

/**
 * Target grammar (skopeo-style transports, plus plain paths and bare image references):
 *
 *   -                                   a tarball on standard input
 *   PATH                                an existing file or directory (always wins)
 *   docker-archive:PATH                 a docker save tarball
 *   oci-archive:PATH                    an OCI archive
 *   oci:DIR                             an OCI image layout directory
 *   docker-daemon:NAME[:TAG|@DIGEST]    an image in the local Docker (or Podman) daemon
 *   docker://REF   registry:REF         an image in a registry, fetched without a daemon
 *   REF                                 a bare reference: the daemon first, then the registry
 *                                       (see PullPolicy)
 */
export type Target =
  | { kind: 'stdin' }
  | { kind: 'path'; path: string; transport: 'path' | 'docker-archive' | 'oci-archive' | 'oci' }
  | { kind: 'daemon'; name: string }
  | { kind: 'registry'; ref: ImageReference }
  | { kind: 'reference'; ref: ImageReference };

export interface ImageReference {
  /** Registry host as written (docker.io for Docker Hub), lowercase, with port if any. */
  registry: string;
  /** Repository path inside the registry (library/alpine on Docker Hub). */
  repository: string;
  tag: string | null;
  digest: string | null;
  /** Short form the way Docker prints it in RepoTags: alpine:3.20, ghcr.io/org/app@sha256:… */
  familiar: string;
}

export const DOCKER_HUB = 'docker.io';

const PATH_TRANSPORTS = ['docker-archive', 'oci-archive', 'oci'] as const;

export function parseTarget(target: string, exists: (path: string) => boolean = existsSync): Target {
  if (target === '-') return { kind: 'stdin' };
  if (target === '') throw new ScanError('an empty target names no image');
  // A path that exists is a path, even if it looks like a transport or a reference.
  if (exists(target)) return { kind: 'path', path: target, transport: 'path' };
  const colon = target.indexOf(':');
  const scheme = colon > 0 ? target.slice(0, colon) : '';
  const rest = target.slice(colon + 1);
  if ((PATH_TRANSPORTS as readonly string[]).includes(scheme)) {
    if (!rest) throw new ScanError(`${target}: ${scheme}: needs a path`);
    return { kind: 'path', path: rest, transport: scheme as (typeof PATH_TRANSPORTS)[number] };
  }
  if (scheme === 'docker-daemon') {
    if (!rest) throw new ScanError(`${target}: docker-daemon: needs an image name`);
    // Validate the name but hand it to the daemon as written: it resolves short names itself.
    parseReference(rest);
    return { kind: 'daemon', name: rest };
  }
  if (scheme === 'docker' && rest.startsWith('//')) return { kind: 'registry', ref: parseReference(rest.slice(2)) };
  if (scheme === 'registry') return { kind: 'registry', ref: parseReference(rest.replace(/^\/\//, '')) };
  if (looksLikePath(target)) return { kind: 'path', path: target, transport: 'path' };
  const ref = tryParseReference(target);
  if (ref) return { kind: 'reference', ref };
  return { kind: 'path', path: target, transport: 'path' };
}

/** Things no user means as an image name: absolute or relative paths and archive file names. */
function looksLikePath(target: string): boolean {
  return /^(\/|\.{1,2}\/|~)/.test(target) || /\.(tar|tgz|tar\.gz|tar\.zst|tar\.zstd|oci)$/i.test(target) || target.includes('\\');
}

// The distribution/reference grammar, reduced to what tells a name from a path.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_PART = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_PART}(?:\\.${DOMAIN_PART})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}';
const REFERENCE = new RegExp(`^(?:(${DOMAIN})/)?(${COMPONENT}(?:/${COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`);

export function tryParseReference(text: string): ImageReference | null {
  const m = REFERENCE.exec(text);
  if (!m) return null;
  let domain: string | undefined = m[1];
  let path = m[2]!;
  // "a/b" is repository a/b on Docker Hub, unless "a" looks like a host (dot, port, localhost).
  if (domain !== undefined && !/[.:]|^localhost$|^\[/.test(domain)) {
    path = `${domain}/${path}`;
    domain = undefined;
    if (!new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`).test(path)) return null;
  }
  let registry = (domain ?? DOCKER_HUB).toLowerCase();
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  const digest = m[4] ?? null;
  const tag = m[3] ?? (digest ? null : 'latest');
  if (digest && !/^sha256:[a-f0-9]{64}$/.test(digest)) return null;
  const name = registry === DOCKER_HUB ? path.replace(/^library\//, '') : `${registry}/${path}`;
  const familiar = `${name}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  return { registry, repository: path, tag, digest, familiar };
}

export function parseReference(text: string): ImageReference {
  const ref = tryParseReference(text);
  if (!ref) throw new ScanError(`${JSON.stringify(text).slice(0, 200)} is not a valid image reference (NAME[:TAG|@sha256:DIGEST])`);
  return ref;
}

/** True for hosts that may be spoken to over plain HTTP without --insecure-registry. */
export function isLoopbackHost(registry: string): boolean {
  const host = hostOf(registry);
  return host === 'localhost' || /^127(?:\.\d{1,3}){3}$/.test(host) || host === '::1';
}

/** The host part of a registry name, without port or brackets. */
export function hostOf(registry: string): string {
  const bracket = /^\[([^\]]+)\]/.exec(registry);
  if (bracket) return bracket[1]!.toLowerCase();
  return registry.replace(/:\d+$/, '').toLowerCase();
}
