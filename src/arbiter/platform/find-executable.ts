/**
 * `command -v NAME`: the first executable NAME on $PATH, or null. Used to
 * find the helper programs tsunicorn leans on when they exist (tini as a
 * container's init, systemd-notify for Type=notify) without spawning them
 * just to see whether they are there.
 */
import fs from 'node:fs';
import path from 'node:path';

export function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates = name.includes('/')
    ? [name]
    : (env.PATH ?? '')
        .split(':')
        .filter(Boolean)
        .map((dir) => path.join(dir, name));
  for (const file of candidates) {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return path.resolve(file);
    } catch {
      // Not here.
    }
  }
  return null;
}
