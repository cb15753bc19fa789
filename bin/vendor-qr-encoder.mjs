#!/usr/bin/env node
// Writes cloud/web/assets/vendor/qr-encoder.js: the `qrcode` package's encoder (`create`) as one
// ES module for the phone's pass page (docs/passes.md, "Device passes"), so the page draws exactly
// the symbol the gates' tests measure and needs no framework or CDN at run time. Run it again after
// upgrading `qrcode`; test/cloud/device-passes/qr-encoder-asset.test.ts checks the file matches.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { version, license } = require('qrcode/package.json');
const result = await build({
  stdin: { contents: "export { create } from 'qrcode/lib/core/qrcode.js';", resolveDir: repo, loader: 'js' },
  bundle: true,
  format: 'esm',
  platform: 'browser',
  minify: true,
  write: false,
  logLevel: 'silent',
  legalComments: 'none',
});
const out = join(repo, 'cloud', 'web', 'assets', 'vendor', 'qr-encoder.js');
const header = `// qrcode ${version} (${license}, https://github.com/soldair/node-qrcode): its encoder alone, bundled by bin/vendor-qr-encoder.mjs. Do not edit.\n`;
writeFileSync(out, header + result.outputFiles[0].text);
console.log(`vendor-qr-encoder: ${out} (${result.outputFiles[0].text.length} bytes)`);
