import type { Readable } from 'node:stream';
import type { DetectionPool } from '../detect/pool.js';
import type { ScanOptions } from '../types.js';
import { openContainer, type ImageContainer } from './container.js';
import { StreamedImage } from './stream.js';

/**
 * Turns a target as the user gave it into the files of one saved image. Every source ends in an
 * ImageContainer, so the rest of the pipeline never knows where the image came from.
 */
export async function openSource(target: string, options: ScanOptions, pool: DetectionPool): Promise<ImageContainer> {
  if (target === '-' || options.stdin) {
    const input = (options.stdin ?? process.stdin) as Readable;
    return StreamedImage.ingest(input, target === '-' ? 'standard input' : target, pool);
  }
  return openContainer(target);
}
