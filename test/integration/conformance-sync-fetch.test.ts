/**
 * The HTTP conformance table against a sync worker serving a fetch-interface app, and bare node:http
 * (conformance.ts).
 */
import { conformanceSuite } from './conformance.js';

conformanceSuite('sync-fetch');
