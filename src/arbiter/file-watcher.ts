/**
 * `--reload` (development): watch the app's directory and extra files, and
 * call back once per burst of changes. Uses fs.watch with `recursive`
 * (inotify on Linux, supported since Node 20). node_modules and dot-directories
 * are skipped: editors and package managers write there constantly.
 */
import fs from 'node:fs';
import path from 'node:path';

/** node_modules and dot-directories anywhere in the path; dotfiles such as .env are still watched. */
const IGNORED = /(^|[/\\])(node_modules|\.[^/\\]+)[/\\]/;
const DEBOUNCE_MS = 150;

export interface Watcher {
  close(): void;
}

export function watchFiles(paths: readonly string[], onChange: (file: string) => void, onError: (err: Error) => void): Watcher {
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
        const rel = name ? String(name) : '';
        if (rel && IGNORED.test(rel)) return;
        fire(isDir ? path.join(p, rel) : p);
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
