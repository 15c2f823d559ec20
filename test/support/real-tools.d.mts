// Types for real-tools.mjs.
/** Pseudo-binary meaning "must run as uid 0". */
export const ROOT: 'root';
export function which(name: string): string | undefined;
export function realToolsAvailable(bins: readonly string[]): { ok: boolean; missing: string[] };
export function isCI(): boolean;
export function describeMissing(missing: readonly string[]): string;
