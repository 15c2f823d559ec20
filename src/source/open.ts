import type { Readable } from 'node:stream';
import type { DetectionPool } from '../detect/pool.js';
import { describeError, ScanError } from '../errors.js';
import type { ScanOptions } from '../types.js';
import { openContainer, type ImageContainer } from './container.js';
import type { RegistrySourceOptions } from './registry.js';
import { StreamedImage } from './stream.js';
import { archiveLimits } from '../layer/nested.js';
import { parseTarget, type ImageReference } from './target.js';

/**
 * Turns a target as the user gave it into the files of one saved image. Every source ends in an
 * ImageContainer, so the rest of the pipeline never knows where the image came from.
 */
// The daemon and registry sources (HTTP, TLS, credential helpers) load only for those targets:
// an archive scan needs none of them and would pay for loading them at every start.
const daemonSource = () => import('./daemon.js');
const registrySource = () => import('./registry.js');

export async function openSource(target: string, options: ScanOptions, pool: DetectionPool): Promise<ImageContainer> {
  if (target === '-' || options.stdin) {
    const input = (options.stdin ?? process.stdin) as Readable;
    return StreamedImage.ingest(input, target === '-' ? 'standard input' : target, pool, undefined, 'stream', archiveLimits(options));
  }
  const parsed = parseTarget(target);
  switch (parsed.kind) {
    case 'stdin':
      return StreamedImage.ingest(process.stdin, 'standard input', pool, undefined, 'stream', archiveLimits(options));
    case 'path':
      return openContainer(parsed.path);
    case 'daemon':
      return (await daemonSource()).openDaemonImage(parsed.name, pool, process.env, archiveLimits(options));
    case 'registry':
      return (await registrySource()).RegistryContainer.open(parsed.ref, registryOptions(options));
    case 'reference':
      return openReference(target, parsed.ref, options, pool);
    default: {
      const never: never = parsed;
      throw new Error(`unknown target kind ${JSON.stringify(never)}`);
    }
  }
}

function registryOptions(options: ScanOptions): RegistrySourceOptions {
  return { credentials: options.registryAuth, insecureRegistries: options.insecureRegistries, onNote: options.onNote };
}

/** A bare reference: the local daemon first, then the registry, as --pull allows. */
async function openReference(target: string, ref: ImageReference, options: ScanOptions, pool: DetectionPool): Promise<ImageContainer> {
  const pull = options.pull ?? 'missing';
  if (pull === 'always') return (await registrySource()).RegistryContainer.open(ref, registryOptions(options));
  const probe = await (await daemonSource()).probeDaemon(target);
  if (probe.state === 'present') return (await daemonSource()).openDaemonImage(target, pool, process.env, archiveLimits(options));
  if (pull === 'never') {
    if (probe.state === 'unreachable') throw probe.error;
    throw new ScanError(`the Docker daemon at ${probe.where} has no image ${target}, and --pull never forbids fetching it from ${ref.registry}`);
  }
  try {
    return await (await registrySource()).RegistryContainer.open(ref, registryOptions(options));
  } catch (err) {
    if (probe.state === 'absent') throw err;
    // Neither source worked: say why for both, on one line.
    throw new ScanError(`${target}: ${describeError(err)} (and no local daemon: ${probe.error.message})`);
  }
}
