/**
 * `npm run bench -- --build-b DIR` (bench/servers.js): the A/A copies, and only they, run a private copy of
 * another tsunicorn build, so that their pairs measure that build against this tree in the same rounds.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILD_B, SERVERS, freezeBuildB, tsuArgs } from '../../bench/servers.js';

const A_A_COPIES = ['tsu-async-aa', 'express-tsu-aa', 'fastify-tsu-aa'];
const tsunicornServers = () => SERVERS.filter((s) => s.display('$PORT').includes('tsunicorn.js'));

/** A built tree as far as the bench needs one: bin/, dist/, package.json. */
function fakeBuild(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-build-b-test-'));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.mkdirSync(path.join(dir, 'dist'));
  fs.writeFileSync(path.join(dir, 'bin/tsunicorn.js'), '// build B\n');
  fs.writeFileSync(path.join(dir, 'dist/cli.js'), '// build B\n');
  fs.writeFileSync(path.join(dir, 'package.json'), '{}\n');
  return dir;
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('bench --build-b', () => {
  it('without it, every tsunicorn server runs this tree', () => {
    expect(BUILD_B.bin).toBeNull();
    const ids = tsunicornServers().map((s) => s.id);
    expect(ids).toEqual(expect.arrayContaining(A_A_COPIES));
    for (const s of tsunicornServers()) expect(s.display('$PORT')).toMatch(/^node bin\/tsunicorn\.js /);
  });

  it('with it, the A/A copies run a private copy of build B, and nothing else does', () => {
    const source = fakeBuild();
    cleanups.push(() => fs.rmSync(source, { recursive: true, force: true }));
    const unfreeze = freezeBuildB(source);
    // Also when an assertion fails first: the copy is a temp dir of its own.
    cleanups.push(unfreeze);
    const bin = BUILD_B.bin!;
    // A copy: a rebuild of B's tree during the run cannot reach the run.
    expect(bin.startsWith(source)).toBe(false);
    expect(fs.readFileSync(bin, 'utf8')).toBe('// build B\n');
    expect(tsuArgs('app.mjs', 'async', 1, false, BUILD_B)[0]).toBe(bin);
    for (const s of tsunicornServers()) {
      const runsB = s.display('$PORT').startsWith('node $BUILD_B/bin/tsunicorn.js ');
      expect([s.id, runsB]).toEqual([s.id, A_A_COPIES.includes(s.id)]);
    }
    unfreeze();
    expect(fs.existsSync(bin)).toBe(false);
    expect(BUILD_B.bin).toBeNull();
    for (const s of tsunicornServers()) expect(s.display('$PORT')).toMatch(/^node bin\/tsunicorn\.js /);
  });
});
