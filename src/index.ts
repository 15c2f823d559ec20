export { scanImage, defaultJobs, TOOL_VERSION, ScanAbortedError } from './scan.js';
export { ScanError, describeError } from './errors.js';
export { loadRuleSet, type RuleSpec, type RuleSet } from './detect/rules.js';
export { renderReport, type ReportFormat, type RenderOptions } from './report/index.js';
export type * from './types.js';
export { DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from './layer/nested.js';
export { tuneForScanning } from './runtime.js';
export { verificationEndpoints, PROVIDERS as VERIFY_PROVIDERS, type ProviderId as VerifyProvider } from './verify/index.js';
