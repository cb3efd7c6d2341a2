/**
 * The conformance table (test/fixtures/conformance/cases.ts) is consistent, and docs/security.md quotes
 * its counts and differences as they are. After changing the table: UPDATE_DOCS=1 npx vitest run this file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CASES } from '../fixtures/conformance/cases.js';
import { NODE_LINES, conformanceDoc, showOutcome } from '../fixtures/conformance/doc.js';
import { expectedOutcome } from '../fixtures/conformance/outcomes.js';

const DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'security.md');
const BEGIN = '<!-- conformance:begin (generated from test/fixtures/conformance/cases.ts) -->\n';
const END = '\n<!-- conformance:end -->';

describe('HTTP conformance table', () => {
  it('has at least 150 cases, each named once', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(150);
    const names = CASES.map((c) => c.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  it('no case expects a 5xx other than 505, or an accepted request the app did not see', () => {
    for (const c of CASES) {
      for (const o of [c.expect, c.fetch?.outcome, c.differsFromNode?.node].filter((x) => x !== undefined)) {
        expect(
          o.statuses.filter((s) => s >= 500 && s !== 505),
          c.name,
        ).toEqual([]);
        expect(o.seen.length, c.name).toBeGreaterThanOrEqual(o.statuses.filter((s) => s >= 200 && s < 300).length);
      }
    }
  });

  it('a named difference from node:http is one on some Node line, and every difference is named', () => {
    for (const c of CASES) {
      const differs = NODE_LINES.some((major) => {
        const node = expectedOutcome(c, 'node-http', major);
        return showOutcome(node) !== showOutcome(c.expect) || node.seen.length !== c.expect.seen.length;
      });
      expect(differs, c.name).toBe(c.differsFromNode !== undefined || NODE_LINES.some((m) => c.lines?.[m]?.node));
    }
  });

  it('docs/security.md quotes the counts and differences as generated', () => {
    const doc = fs.readFileSync(DOC, 'utf8');
    const from = doc.indexOf(BEGIN);
    const to = doc.indexOf(END);
    const want = conformanceDoc();
    if (process.env.UPDATE_DOCS && from >= 0 && to > from) {
      fs.writeFileSync(DOC, doc.slice(0, from + BEGIN.length) + want + doc.slice(to));
      return;
    }
    expect(from, 'docs/security.md has no generated conformance block').toBeGreaterThanOrEqual(0);
    const stale = 'stale: run UPDATE_DOCS=1 npx vitest run test/unit/conformance-doc.test.ts';
    expect(doc.slice(from + BEGIN.length, to), stale).toBe(want);
  });
});
