import { describe, expect, it } from 'vitest';
import { PathTable, transferables } from '../src/layer/path-table.js';

describe('PathTable', () => {
  it('records kinds and write counts, the last write deciding the kind', () => {
    const table = new PathTable();
    expect(table.set('/etc/app.conf', 'file')).toBe(1);
    expect(table.set('/etc', 'dir')).toBe(1);
    expect(table.set('/etc/app.conf', 'symlink')).toBe(2);
    expect(table.set('/etc/app.conf', 'file')).toBe(3);
    expect(table.get('/etc/app.conf')).toBe('file');
    expect(table.get('/etc')).toBe('dir');
    expect(table.get('/etc/app')).toBeUndefined();
    expect(table.get('/etc/app.conf/')).toBeUndefined();
    expect(table.writesOf('/etc/app.conf')).toBe(3);
    expect(table.writesOf('/nowhere')).toBe(0);
    expect(table.size).toBe(2);
    expect([...table]).toEqual([['/etc/app.conf', 'file'], ['/etc', 'dir']]);
  });

  it('keeps every path apart through growth, non-ASCII names included, and after crossing a thread boundary', () => {
    const table = new PathTable();
    const kinds = ['file', 'dir', 'symlink', 'hardlink', 'other'] as const;
    const paths: string[] = [];
    for (let i = 0; i < 20_000; i++) paths.push(`/usr/share/doc/pkg-${i % 997}/${i % 3 === 0 ? 'ünïcode-文件' : 'file'}-${i}${'x'.repeat(i % 300)}`);
    paths.forEach((p, i) => table.set(p, kinds[i % 5]!));
    // Written again: counts grow, the order of first writes stays.
    // One path longer than the blocks a received table keeps its bytes in.
    paths.push(`/very${'/long'.repeat(40_000)}`);
    table.set(paths[paths.length - 1]!, kinds[(paths.length - 1) % 5]!);
    for (let i = 0; i < paths.length; i += 7) table.set(paths[i]!, 'file');
    expect(table.size).toBe(paths.length);
    paths.forEach((p, i) => {
      expect(table.get(p)).toBe(i % 7 === 0 ? 'file' : kinds[i % 5]);
      expect(table.writesOf(p)).toBe(i % 7 === 0 ? 2 : 1);
    });
    expect([...table].map(([p]) => p)).toEqual(paths);
    const data = table.data();
    const copy = structuredClone(data, { transfer: transferables(data) });
    const received = new PathTable(copy);
    expect(received.size).toBe(paths.length);
    paths.forEach((p, i) => expect(received.get(p)).toBe(i % 7 === 0 ? 'file' : kinds[i % 5]));
    // Asked again (answered from the lookups it remembers): the same answers.
    paths.slice(0, 50).forEach((p, i) => expect(received.get(p)).toBe(i % 7 === 0 ? 'file' : kinds[i % 5]));
    expect(received.get('/usr/share/doc/pkg-1/file-1xx')).toBeUndefined();
    expect(received.get('/usr/share/doc/pkg-1/file-1xx')).toBeUndefined();
    expect(received.get(`${paths[5]!}/`)).toBeUndefined();
    expect(() => received.set('/new', 'file')).toThrow(/read-only/);
  });

  it('an empty table finds nothing and crosses as empty', () => {
    const received = new PathTable(new PathTable().data());
    expect(received.size).toBe(0);
    expect(received.get('/')).toBeUndefined();
    expect([...received]).toEqual([]);
  });
});
