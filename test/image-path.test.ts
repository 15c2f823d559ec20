// imagePath takes a shortcut for names that are already plain; every name, plain or not, must come
// out as the full normalisation makes it (a path that differed would split one file in two).
import { describe, expect, it } from 'vitest';
import { posix } from 'node:path';
import { imagePath } from '../src/layer/walk.js';

function normalised(name: string): string {
  const normal = posix.normalize('/' + name.replace(/\\/g, '/'));
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

describe('imagePath', () => {
  it('agrees with the full normalisation on every name built from awkward segments', () => {
    const segments = ['a', 'b.c', '.', '..', '', '...', '.a', 'a.', '\\', 'x\\y', '..a', '/', '//', ' ', 'é'];
    const names: string[] = [];
    const build = (prefix: string, depth: number): void => {
      if (depth === 0) return;
      for (const segment of segments) {
        for (const sep of ['/', '']) {
          names.push(prefix + segment + sep);
          build(prefix + segment + sep, depth - 1);
        }
      }
    };
    build('', 3);
    build('./', 2);
    build('/', 2);
    expect(names.length).toBeGreaterThan(20_000);
    expect(names.filter((name) => imagePath(name) !== normalised(name))).toEqual([]);
  });

  it('maps the names layers hold', () => {
    expect(imagePath('usr/share/doc/bash/')).toBe('/usr/share/doc/bash');
    expect(imagePath('./etc/passwd')).toBe('/etc/passwd');
    expect(imagePath('app/../etc/shadow')).toBe('/etc/shadow');
    expect(imagePath('opt\\app\\.env')).toBe('/opt/app/.env');
    expect(imagePath('')).toBe('/');
  });
});
