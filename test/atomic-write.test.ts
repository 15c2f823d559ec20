// The one atomic writer (src/atomic-write.ts) behind the report file, cache entries, the rule memo
// and the compiled catalogue: a reader sees the old file or the new one, and nothing is left behind.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from '../src/atomic-write.js';

const dir = mkdtempSync(join(tmpdir(), 'stratascan-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('replaces a file whole, with the mode asked for, and creates missing directories', async () => {
    const path = join(dir, 'a', 'b', 'entry.json');
    await writeFileAtomic(path, '{"v":1}', { mode: 0o600, mkdirMode: 0o700 });
    await writeFileAtomic(path, '{"v":2}', { mode: 0o600, mkdirMode: 0o700 });
    expect(readFileSync(path, 'utf8')).toBe('{"v":2}');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'a')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(dir, 'a', 'b'))).toEqual(['entry.json']);
  });

  it('an aborted write leaves the old file and no temp file', async () => {
    const path = join(dir, 'report.txt');
    writeFileSync(path, 'old');
    const ac = new AbortController();
    ac.abort(new Error('SIGINT'));
    await expect(writeFileAtomic(path, 'new', { signal: ac.signal })).rejects.toThrow();
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a failed rename (the target is a directory) removes the temp file and rethrows', async () => {
    const path = join(dir, 'is-a-dir');
    await writeFileAtomic(join(path, 'inside'), 'x', { mkdirMode: 0o700 });
    await expect(writeFileAtomic(path, 'y')).rejects.toThrow();
    expect(() => writeFileAtomicSync(path, 'y')).toThrow();
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('the sync form writes whole too', () => {
    const path = join(dir, 'sync.json');
    writeFileAtomicSync(path, 'one');
    writeFileAtomicSync(path, 'two');
    expect(readFileSync(path, 'utf8')).toBe('two');
  });
});
