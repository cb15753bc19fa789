/**
 * A device pass from pixels to decision (docs/passes.md, "Device passes"): the phone's rotating
 * frames rendered with `qrcode` into RGBA pixels at the size the page draws them, decoded by a real
 * QR decoder (jsQR, not our encoder read back), and the decoded text sent by the QR scanner
 * simulator over a socat pty at 9600 baud to an edge agent running the real serial driver. Two
 * frames of one window differ and both pass; the older one shown again is a replay; a screenshot
 * past its window, a frame signed by another phone and a forged certificate are refused, red.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jsqr from 'jsqr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import type { Decision } from '../../edge-agent/decision.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { openGateDatabase } from '../../edge-agent/gate-database.ts';
import { ReplicaStore } from '../../edge-agent/replica-store.ts';
import { QrScannerSimulator } from '../../firmware-bridge/qr/simulator.ts';
import { createDevicePassQr, FRAME_ROTATE_SECONDS } from '../../shared/device-pass.ts';
import { silentLogger } from '../../shared/log.ts';
import type { EntryEvent } from '../../shared/schemas/mqtt.ts';
import { openPtyPair, type PtyPair } from '../../testkit/socat.ts';
import {
  BASE_CHANGES,
  COMPOUND,
  deviceCertificate,
  deviceFrame,
  GATE,
  gateKeysFile,
  HOUR,
  impostorKey,
  newDeviceKeyPair,
} from '../edge-agent/fixtures.ts';

/** jsqr is CommonJS with an ES-style `default` in its types: take the function whichever way it arrives. */
type JsQr = typeof jsqr.default;
const jsQR: JsQr = (jsqr as unknown as { default?: JsQr }).default ?? (jsqr as unknown as JsQr);

/** Pixels per module: the page draws 77 modules (version 13 + quiet zone) in 288 CSS px, 3.7 each. */
const SCALE = 3;
const QUIET_ZONE = 4;

/** The QR symbol of `text` as an RGBA image, black modules on white, `SCALE` pixels per module. */
function renderRgba(text: string): { data: Uint8ClampedArray; width: number; version: number } {
  const qr = createDevicePassQr(text);
  const size = qr.modules.size;
  const width = (size + 2 * QUIET_ZONE) * SCALE;
  const data = new Uint8ClampedArray(width * width * 4).fill(255);
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      if (!qr.modules.get(row, col)) continue;
      for (let y = 0; y < SCALE; y++) {
        for (let x = 0; x < SCALE; x++) {
          const offset = (((row + QUIET_ZONE) * SCALE + y) * width + (col + QUIET_ZONE) * SCALE + x) * 4;
          data[offset] = data[offset + 1] = data[offset + 2] = 0;
        }
      }
    }
  }
  return { data, width, version: qr.version };
}

/** What a scanner reads off the screen: the text a real decoder gets from the pixels. */
function decodePixels(text: string): string {
  const image = renderRgba(text);
  expect(image.version).toBe(13);
  const decoded = jsQR(image.data, image.width, image.width, { inversionAttempts: 'dontInvert' });
  if (!decoded) throw new Error('jsQR could not read the rendered frame');
  return decoded.data;
}

let dir: string;
let pty: PtyPair;
let scanner: QrScannerSimulator;
let agent: EdgeAgent;
const decisions: { event: EntryEvent | undefined; decision: Decision }[] = [];

/** Sends one scan over the pty and resolves with the gate's decision of it. */
async function scan(text: string): Promise<Decision> {
  const before = decisions.length;
  const decided = new Promise<Decision>((resolve) => {
    const listener = (_event: EntryEvent | undefined, decision: Decision) => {
      agent.off('decision', listener);
      resolve(decision);
    };
    agent.on('decision', listener);
  });
  await scanner.scan(text);
  const decision = await decided;
  expect(decisions.length).toBe(before + 1);
  return decision;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-device-scan-'));
  pty = await openPtyPair();
  const provisioned = openGateDatabase(dir);
  const replica = new ReplicaStore(provisioned);
  replica.applyDelta(BASE_CHANGES, 5);
  provisioned.close();
  agent = createEdgeAgent(
    parseEdgeConfig({
      gateId: GATE,
      compoundId: COMPOUND,
      mqtt: { url: 'mqtt://127.0.0.1:1', reconnectMs: 60_000 },
      keys: gateKeysFile(),
      dataDir: dir,
      http: { enabled: false },
      antiPassback: false,
      journal: { synchronous: 'normal' },
      devices: { qr: { path: pty.a, baudRate: 9600, direction: 'in' } },
    }),
    { logger: silentLogger, version: 'test' },
  );
  agent.on('decision', (event: EntryEvent | undefined, decision: Decision) => decisions.push({ event, decision }));
  await agent.start();
  scanner = new QrScannerSimulator({ path: pty.b, baudRate: 9600, suffix: 'cr' });
  await scanner.start();
}, 30_000);

afterAll(async () => {
  await scanner?.stop();
  await agent?.stop();
  await pty?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a rotating device pass, rendered, decoded by jsQR and scanned over a serial pty', () => {
  const now = Date.now();
  const validity = { notBefore: now - HOUR, expiresAt: now + 24 * HOUR };
  const cert = deviceCertificate('alice', validity);

  it('two frames of one window differ, both decode and both pass; the older one again is a replay', async () => {
    const first = deviceFrame(cert, { at: Date.now() });
    const second = deviceFrame(cert, { at: Date.now() + FRAME_ROTATE_SECONDS * 1000 });
    expect(second).not.toBe(first);
    const firstRead = decodePixels(first);
    const secondRead = decodePixels(second);
    expect(firstRead).toBe(first);
    expect(secondRead).toBe(second);

    expect(await scan(firstRead)).toMatchObject({ result: 'granted', reason: 'ok', personId: 'alice' });
    expect(await scan(secondRead)).toMatchObject({ result: 'granted', reason: 'ok', personId: 'alice' });
    const replay = await scan(firstRead);
    expect(replay).toMatchObject({ result: 'denied', reason: 'frame-replayed' });
    expect(replay.display.colour).toBe('red');
    expect(replay).not.toHaveProperty('personId');
  });

  it('a screenshot past its window, another phone and a forged certificate are refused in red', async () => {
    const screenshot = await scan(decodePixels(deviceFrame(cert, { at: Date.now() - 91_000 })));
    expect(screenshot).toMatchObject({ result: 'denied', reason: 'frame-expired' });
    const thief = newDeviceKeyPair();
    const otherPhone = await scan(decodePixels(deviceFrame(cert, { signer: thief.privateKey, at: Date.now() })));
    expect(otherPhone).toMatchObject({ result: 'denied', reason: 'bad-device-signature' });
    const forged = await scan(decodePixels(deviceFrame(deviceCertificate('alice', validity, impostorKey))));
    expect(forged).toMatchObject({ result: 'denied', reason: 'bad-signature' });
    for (const decision of [screenshot, otherPhone, forged]) {
      expect(decision.display.colour).toBe('red');
      expect(decision.display.zh.length).toBeGreaterThan(0);
      expect(decision.display.en.length).toBeGreaterThan(0);
    }
  });
});
