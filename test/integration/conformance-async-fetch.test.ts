/**
 * The HTTP conformance table against a async worker serving a fetch-interface app, and bare node:http
 * (conformance.ts).
 */
import { conformanceSuite } from './conformance.js';

conformanceSuite('async-fetch');
