/**
 * What this build is: the package version (from the package.json beside the sources, or beside
 * dist/ in a compiled build) and the contract version it speaks (docs/contract.md; the `v1` of
 * the MQTT topics and the HTTP base). A gate announces both in its status; the cloud checks them
 * (docs/install.md, "Versions").
 */
import { readFileSync } from 'node:fs';

/** The contract major version: `anxin/v1/…` topics, `/api/v1`. A change of it is a new major. */
export const CONTRACT_VERSION = 1;

let cached: string | undefined;

export function packageVersion(): string {
  if (cached !== undefined) return cached;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    cached = pkg.version ?? '0.0.0';
  } catch {
    cached = '0.0.0';
  }
  return cached;
}
