/**
 * The HTTP conformance table against a async worker serving a node-interface app, and bare node:http
 * (conformance.ts).
 */
import { conformanceSuite } from './conformance.js';

conformanceSuite('async-node');
