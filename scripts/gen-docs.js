// Writes docs/settings.md and docs/errors.md from the built tables (run `npm run build` first).
// With --check, writes nothing and exits 1 naming each stale file.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let renderSettingsDoc;
let renderErrorsDoc;
try {
  ({ renderSettingsDoc } = await import('../dist/config/settings-doc.js'));
  ({ renderErrorsDoc } = await import('../dist/errors-doc.js'));
} catch (err) {
  console.error(`gen-docs: cannot load the renderers from dist/ (run \`npm run build\` first): ${err.message}`);
  process.exit(1);
}

const docs = [
  ['docs/settings.md', renderSettingsDoc()],
  ['docs/errors.md', renderErrorsDoc()],
];

const check = process.argv.includes('--check');
let stale = 0;
for (const [rel, text] of docs) {
  const file = path.join(root, rel);
  let current = null;
  try {
    current = readFileSync(file, 'utf8');
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  if (current === text) continue;
  if (check) {
    console.error(`${rel} is stale; run \`npm run build && npm run docs\``);
    stale++;
  } else {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    console.log(`wrote ${rel}`);
  }
}
process.exit(stale ? 1 : 0);
