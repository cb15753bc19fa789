/**
 * The `qrcode` library, loaded on first use. Only what renders passes needs it (the cloud, the
 * CLI, the demo); a gate only reads passes and so never loads it, which keeps it out of the
 * gate's resident memory (docs/edge-agent.md, "Memory").
 */
import { createRequire } from 'node:module';
import type * as QRCode from 'qrcode';

let loaded: typeof QRCode | undefined;

export function qrcode(): typeof QRCode {
  loaded ??= createRequire(import.meta.url)('qrcode') as typeof QRCode;
  return loaded;
}
