// A stand-in for a database connection pool, with no dependency: a few file handles on an
// append-only JSON-lines file. Like a real pool, it belongs to one process: each worker opens its
// own after it started (postWorkerInit) and closes it as it exits (workerExit). Importing this module
// opens nothing, which matters: the arbiter imports the config file, and so this module, too.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export class FilePool {
  constructor(file, size) {
    this.file = file;
    this.size = size;
    this.handles = [];
    this.free = [];
    this.waiting = [];
  }

  get isOpen() {
    return this.handles.length > 0;
  }

  async open() {
    if (this.isOpen) throw new Error('pool already open');
    for (let i = 0; i < this.size; i++) this.handles.push(await fs.open(this.file, 'a+'));
    this.free = [...this.handles];
  }

  async close() {
    const handles = this.handles.splice(0);
    this.free = [];
    await Promise.all(handles.map((h) => h.close()));
  }

  /** Runs `fn` with a handle to itself, waiting for one if all are busy. */
  async use(fn) {
    if (!this.isOpen) throw new Error('pool is not open');
    const handle = this.free.pop() ?? (await new Promise((resolve) => this.waiting.push(resolve)));
    try {
      return await fn(handle);
    } finally {
      const next = this.waiting.shift();
      if (next) next(handle);
      else if (this.handles.includes(handle)) this.free.push(handle);
    }
  }

  insert(row) {
    return this.use((h) => h.appendFile(`${JSON.stringify(row)}\n`));
  }

  all() {
    return this.use(async (h) => {
      const { size } = await h.stat();
      const buf = Buffer.alloc(size);
      await h.read(buf, 0, size, 0);
      return buf
        .toString('utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line));
    });
  }
}

export const pool = new FilePool(process.env.DB_FILE || path.join(os.tmpdir(), 'tsunicorn-example-db.jsonl'), 4);
