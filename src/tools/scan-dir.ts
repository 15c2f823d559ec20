#!/usr/bin/env node
/**
 * Rule authors' noise check: runs the detectors over every regular file under a directory on disk
 * and prints what they find, redacted. Not part of the image scanner.
 * Usage: node dist/tools/scan-dir.js DIR [DETECTORS_DIR]
 */
import { readdirSync, readFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { loadRuleSet } from '../detect/rules.js';
import { DetectionEngine } from '../detect/engine.js';
import { redact } from '../redact.js';

const [root, detectorsDir] = process.argv.slice(2);
if (!root) {
  console.error('usage: scan-dir DIR [DETECTORS_DIR]');
  process.exit(2);
}
const engine = new DetectionEngine(loadRuleSet(detectorsDir).rules);
let files = 0;
let findings = 0;
const walk = (dir: string): void => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) walk(path);
    else if (st.isFile() && st.size < 64 * 1024 * 1024) {
      files++;
      for (const m of engine.scan(readFileSync(path))) {
        findings++;
        console.log(`${path}:${m.line}:${m.column} ${m.ruleId} ${redact(m.secret)}`);
      }
    }
  }
};
walk(root);
console.log(`${files} files, ${findings} findings`);
