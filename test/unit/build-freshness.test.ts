import { describe, expect, it } from 'vitest';
import { type BuildState, staleReason } from '../global-setup.js';

const T = 1_000_000;
const sources = ['src/a.ts', 'src/b.ts'];
const fresh: BuildState = {
  stamp: { startedAt: T, sources },
  inputs: [
    { file: 'src/a.ts', mtimeMs: T - 5 },
    { file: 'src/b.ts', mtimeMs: T - 1 },
    { file: 'tsconfig.json', mtimeMs: T - 9 },
  ],
  sources,
  missing: [],
};

describe('staleReason: when the global setup rebuilds dist/', () => {
  const cases: [string, Partial<BuildState>, string | null][] = [
    ['every input older than the last build', {}, null],
    ['never built', { stamp: undefined }, 'no record of a build'],
    ['an output deleted', { missing: ['src/b.ts'] }, 'dist/ lacks src/b.ts output'],
    ['a source edited after the build started', { inputs: [{ file: 'src/a.ts', mtimeMs: T + 1 }] }, 'src/a.ts changed'],
    ['edited as the build started', { inputs: [{ file: 'src/b.ts', mtimeMs: T }] }, 'src/b.ts changed'],
    ['the build config edited', { inputs: [{ file: 'tsconfig.json', mtimeMs: T + 7 }] }, 'tsconfig.json changed'],
    ['a source added, old mtime', { sources: [...sources, 'src/c.ts'] }, 'files added or removed in src/'],
    ['a source removed', { sources: ['src/a.ts'] }, 'files added or removed in src/'],
    ['a source renamed', { sources: ['src/a.ts', 'src/c.ts'] }, 'files added or removed in src/'],
  ];
  for (const [name, change, want] of cases) {
    it(name, () => expect(staleReason({ ...fresh, ...change })).toBe(want));
  }
});
