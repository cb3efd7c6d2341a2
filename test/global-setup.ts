/**
 * Vitest global setup: bring dist/ up to date with src/ once per run (and per watch-mode rerun), because the
 * integration tests spawn bin/tsunicorn.js, which runs dist/ (issue 18). One build at a time: concurrent runs
 * in the same checkout wait on a lock file, then find dist/ fresh.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Keyed by checkout: a node_modules linked into another copy of the tree must not share its build record.
const CHECKOUT = createHash('sha256').update(fs.realpathSync(ROOT)).digest('hex').slice(0, 12);
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'tsunicorn-build', CHECKOUT);
const STAMP = path.join(CACHE, 'stamp.json');
const LOCK = path.join(CACHE, 'build.lock');
const BUILD_INFO = path.join(CACHE, 'build.tsbuildinfo');
const LOCK_WAIT_MS = 300_000;
/** Besides src/: a change here changes what tsc emits. */
const CONFIG_INPUTS = ['tsconfig.json', 'tsconfig.build.json', 'node_modules/typescript/package.json'];

/** What the last successful build saw: when it started and which files src/ held. */
export interface Stamp {
  startedAt: number;
  sources: string[];
}

export interface BuildState {
  stamp: Stamp | undefined;
  /** Paths relative to the root of src/ files and CONFIG_INPUTS, with their mtimes. */
  inputs: { file: string; mtimeMs: number }[];
  sources: string[];
  /** src/ modules whose dist/ .js is missing. */
  missing: string[];
}

/** Why dist/ must be rebuilt, or null when it is fresh. Errs towards building: an extra build costs seconds. */
export function staleReason(s: BuildState): string | null {
  if (!s.stamp) return 'no record of a build';
  if (s.missing.length > 0) return `dist/ lacks ${s.missing[0]} output`;
  const before = new Set(s.stamp.sources);
  if (s.sources.length !== before.size || s.sources.some((f) => !before.has(f)))
    return 'files added or removed in src/';
  // >= : an edit in the millisecond the last build started may not have been read by it.
  const changed = s.inputs.find((i) => i.mtimeMs >= s.stamp!.startedAt);
  return changed ? `${changed.file} changed` : null;
}

function walk(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)))
    .sort();
}

function readStamp(): Stamp | undefined {
  try {
    return JSON.parse(fs.readFileSync(STAMP, 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
}

function outputOf(source: string): string | null {
  if (source.endsWith('.d.ts') || !/\.(ts|mts|cts|js|mjs|cjs)$/.test(source)) return null;
  const rel = path.relative('src', source).replace(/\.([mc]?)ts$/, '.$1js');
  return path.join('dist', rel);
}

function currentState(): BuildState {
  const sources = walk(path.join(ROOT, 'src'));
  const inputs = [...sources, ...CONFIG_INPUTS].map((file) => ({
    file,
    mtimeMs: fs.statSync(path.join(ROOT, file)).mtimeMs,
  }));
  const missing = sources.filter((f) => {
    const out = outputOf(f);
    return out !== null && !fs.existsSync(path.join(ROOT, out));
  });
  return { stamp: readStamp(), inputs, sources, missing };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Take the build lock, waiting for another run's build; a lock left by a dead process is taken over. */
async function lock(): Promise<() => void> {
  fs.mkdirSync(CACHE, { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.writeFileSync(LOCK, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(LOCK, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(fs.readFileSync(LOCK, 'utf8').trim() || Number.NaN);
    if (Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) {
      fs.rmSync(LOCK, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`build lock ${LOCK} held by pid ${holder} for over 5 minutes`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Build dist/ if it is stale; returns why it built, or null. Throws with tsc's output when the build fails. */
export async function buildDist(): Promise<string | null> {
  const unlock = await lock();
  try {
    const state = currentState();
    const reason = staleReason(state);
    if (reason === null) return null;
    // tsc's incremental state does not notice deleted outputs: start over when any is missing.
    if (state.missing.length > 0) fs.rmSync(BUILD_INFO, { force: true });
    const startedAt = Date.now();
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const args = [tsc, '-p', 'tsconfig.build.json', '--incremental', '--tsBuildInfoFile', BUILD_INFO];
    try {
      execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      throw new Error(`building dist/ failed (${reason}):\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
    const stamp: Stamp = { startedAt, sources: state.sources };
    fs.writeFileSync(STAMP, `${JSON.stringify(stamp)}\n`);
    return reason;
  } finally {
    unlock();
  }
}

interface RerunHost {
  onTestsRerun(cb: () => Promise<void>): void;
}

export default async function setup(project?: RerunHost): Promise<void> {
  await buildDist();
  project?.onTestsRerun(async () => {
    await buildDist();
  });
}
