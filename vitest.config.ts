import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests run dist/: build it first so they never test stale code (issue 18).
    globalSetup: ['./test/global-setup.ts'],
    // Integration tests spawn real servers on 127.0.0.1; give each file its own process.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: run two files at a time so timing-sensitive assertions keep headroom.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
