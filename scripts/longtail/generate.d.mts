export const GENERATED: string;
export interface ShapePart {
  uuid?: true;
  literal?: string;
  cls?: string;
  n?: number;
  max?: number;
}
export interface Row {
  provider: string;
  keywords: string[];
  shape: ShapePart[];
  word: boolean;
  extend: string | null;
  not: string[];
  /** A second kind of key of the provider (as=<kind>): its own rule. */
  kind: string | null;
}
export function readTable(text?: string): Row[];
export function ruleId(provider: string): string;
export function rowRuleId(row: Row): string;
export function spellings(keyword: string): { keywords: string[]; forms: string[] };
export function rowPattern(row: Row): { keywords: string[]; pattern: string; selfNamed: boolean };
export function plan(dir?: string): { wanted: Map<string, string>; stale: string[]; changed: string[] };
