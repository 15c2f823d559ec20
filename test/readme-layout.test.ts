// The README's layout table is how a newcomer finds a module: every module under src/ has a row,
// and every module a row names exists.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..');

function modules(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return modules(path);
    return path.endsWith('.ts') ? [relative(ROOT, path)] : [];
  });
}

/** The module paths a row names: its first cell's `src/dir/file.ts`, then bare `file.ts` in that dir. */
function namedModules(readme: string): string[] {
  const section = readme.split('## Layout of the code')[1]?.split('\n## ')[0] ?? '';
  return section
    .split('\n')
    .filter((line) => line.startsWith('| `src/'))
    .flatMap((line) => {
      const cell = line.split('|')[1]!;
      const names = [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      const dir = names[0]!.slice(0, names[0]!.lastIndexOf('/') + 1);
      return names.map((name) => (name.startsWith('src/') ? name : dir + name));
    });
}

describe('README layout table', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const named = namedModules(readme);
  const actual = modules(join(ROOT, 'src'));

  it('has a row for every module under src/', () => {
    const covered = (path: string) => named.some((n) => n === path || (n.endsWith('/*.ts') && path.startsWith(n.slice(0, -4)) && !path.slice(n.length - 4).includes('/')));
    expect(actual.filter((path) => !covered(path))).toEqual([]);
  });

  it('names no module that does not exist', () => {
    const exists = (name: string) => (name.endsWith('/*.ts') ? actual.some((p) => p.startsWith(name.slice(0, -4))) : actual.includes(name));
    expect(named.filter((name) => !exists(name))).toEqual([]);
  });
});
