export { verifyFindings, parseVerifyEndpoints, verificationEndpoints, checkVerifyBase, DEFAULT_VERIFY_TIMEOUT_MS, DEFAULT_VERIFY_CONCURRENCY, type VerifyOptions, type RawSecrets } from './run.js';
export { VERIFIERS, verifierFor } from './providers.js';
export { liveAdvice } from './advice.js';
export { PROVIDERS, type ProviderId, type Verifier, type Candidate } from './types.js';
