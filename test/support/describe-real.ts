// describe() for suites that drive real external tools (dockerd, skopeo, registry).
//
// Rule: a developer without the tools gets a skipped suite and a loud warning, so
// `npx vitest run` stays usable anywhere; under CI (CI set) missing tools are a failure,
// because a silently skipped real-tools suite would let CI go green without testing them.
import { describe, it } from 'vitest';
import { describeMissing, isCI, realToolsAvailable } from './real-tools.mjs';

export { realToolsAvailable, isCI, describeMissing } from './real-tools.mjs';

/**
 * @param name suite name
 * @param bins required commands; `'root'` additionally requires uid 0
 * @param fn the suite body, registered only when everything is available
 */
export function describeReal(name: string, bins: readonly string[], fn: () => void): void {
  const { ok, missing } = realToolsAvailable(bins);
  if (ok) {
    describe(name, fn);
    return;
  }
  const what = `real-tools suite "${name}" — ${describeMissing(missing)}`;
  if (isCI()) {
    describe(name, () => {
      it('has the real tools it needs (CI is set, so missing tools fail)', () => {
        throw new Error(`FAILED: ${what}`);
      });
    });
    return;
  }
  const bar = '!'.repeat(78);
  process.stderr.write(`\n${bar}\n!!! SKIPPED: ${what}\n${bar}\n\n`);
  describe.skip(name, fn);
}
