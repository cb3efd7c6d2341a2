// The launcher's Node.js version check, kept apart so that a test can call it with any version.
// Plain JavaScript that any Node can parse: it must run before anything that needs a new Node.

/** The oldest Node.js tsunicorn runs on (package.json "engines"). */
export const MIN_NODE = [20, 19];

/**
 * null when `version` (process.versions.node, e.g. "20.19.1") is supported,
 * else the one-line error to print.
 */
export function nodeVersionError(version) {
  const [major, minor] = String(version).split('.').map(Number);
  const [minMajor, minMinor] = MIN_NODE;
  if (major > minMajor || (major === minMajor && minor >= minMinor)) return null;
  return `Node.js >= ${minMajor}.${minMinor} is required; this is v${version}`;
}
