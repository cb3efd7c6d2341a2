// The launcher's Node.js version check, kept apart so that a test can call it with any version.
// Plain JavaScript that any Node can parse: it must run before anything that needs a new Node.

/**
 * The oldest release of each line tsunicorn runs on (package.json "engines"): require() of ES
 * modules is unflagged from 20.19 and 22.12. Lines after the last one listed are all accepted.
 */
const MIN_NODE = [
  [20, 19],
  [22, 12],
];

/** package.json "engines".node for MIN_NODE: `^20.19.0 || >=22.12.0`. */
export const ENGINES = MIN_NODE.map(
  ([major, minor], i) => `${i === MIN_NODE.length - 1 ? '>=' : '^'}${major}.${minor}.0`,
).join(' || ');

/**
 * null when `version` (process.versions.node, e.g. "20.19.1") is supported,
 * else the one-line error to print.
 */
export function nodeVersionError(version) {
  const [major, minor] = String(version).split('.').map(Number);
  const last = MIN_NODE[MIN_NODE.length - 1];
  const ok = major > last[0] || MIN_NODE.some(([minMajor, minMinor]) => major === minMajor && minor >= minMinor);
  if (ok) return null;
  return `Node.js ${MIN_NODE.map(([a, b]) => `${a}.${b}+`).join(' or ')} is required; this is v${version}`;
}
