/**
 * `--reload` (development): watch the app's directory and extra files, and
 * call back once per burst of changes. Uses fs.watch with `recursive`
 * (inotify on Linux, supported since Node 20). node_modules and dot-directories
 * are skipped: editors and package managers write there constantly. So are
 * the server's own output files (logs, pidfile, sockets): each reload writes
 * to them, which would reload again for ever (issue 16).
 */
import fs from 'node:fs';
import path from 'node:path';

/** node_modules and dot-directories anywhere in the path; dotfiles such as .env are still watched. */
const IGNORED = /(^|[/\\])node_modules([/\\]|$)|(^|[/\\])\.[^/\\]+[/\\]|(^|[/\\])\.git$/;
const DEBOUNCE_MS = 150;

export interface Watcher {
  close(): void;
}

/**
 * Whether a change to `file` (absolute) is noise: under node_modules or a
 * dot-directory of `root`, or one of the server's `outputs` (absolute paths)
 * or a file named after one (`app.pid.123.x.tmp`, `access.log.1`, `app.sock.2`).
 */
export function isIgnoredChange(file: string, root: string, outputs: readonly string[]): boolean {
  const rel = path.relative(root, file);
  if (rel && !rel.startsWith('..') && IGNORED.test(rel)) return true;
  return outputs.some((o) => file === o || file.startsWith(`${o}.`));
}

export function watchFiles(
  paths: readonly string[],
  onChange: (file: string) => void,
  onError: (err: Error) => void,
  outputs: readonly string[] = [],
): Watcher {
  const watchers: fs.FSWatcher[] = [];
  let timer: NodeJS.Timeout | null = null;
  let last = '';
  const fire = (file: string) => {
    last = file;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      onChange(last);
    }, DEBOUNCE_MS);
  };
  for (const p of paths) {
    try {
      const isDir = fs.statSync(p).isDirectory();
      const w = fs.watch(p, { recursive: isDir, persistent: false }, (_event, name) => {
        const file = isDir ? path.join(p, name ? String(name) : '') : p;
        if (isIgnoredChange(file, p, outputs)) return;
        fire(file);
      });
      w.on('error', onError);
      watchers.push(w);
    } catch (err) {
      onError(err as Error);
    }
  }
  return {
    close() {
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
