/**
 * Credentials and privacy (docs/security.md): forged, replayed, expired, revoked, malformed and other-compound passes and invalid ID
 * numbers are refused at the gate with their reason (journaled, so they reach the cloud as denied
 * passages); and the privacy claims of docs/security.md hold: no clear ID number or full name in
 * any MQTT payload or in the gate's SQLite file (its bytes are grepped), and a guard's API answers
 * carry no full name, ID number or pseudonym.
 *
 * A real broker and cloud on 127.0.0.1 and an in-process gate (its `present` is what the drivers
 * call), with an MQTT sniffer holding a cloud-role token and a second gate's token.
 */
import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { GATE_DB_FILE } from '../../edge-agent/gate-database.ts';
import { generateSigningKey, createKeysFile, parseKeysFile, publicOnly } from '../../shared/keys.ts';
import { signPass } from '../../shared/pass.ts';
import { pseudonymizeIdNumber } from '../../shared/pseudonym.ts';
import { signToken } from '../../shared/token.ts';
import { topics } from '../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';
import { eventually } from '../../testkit/deployment.ts';

const GATE = 'g-priv';
const COMPOUND = 'c-priv';
const HOUR = 3_600_000;
const NAME = '欧阳明华';
const ID_NUMBER = '11010519491231002X';

const keysFile = createKeysFile();
const keys = parseKeysFile(keysFile);
let broker: TestBroker;
let cloud: TestCloud;
let agent: EdgeAgent;
let sniffers: MqttClient[] = [];
const sniffed: { topic: string; payload: string }[] = [];
let dir: string;
let manager: string;
let personId: string;

const api = async (method: string, path: string, token: string, body?: unknown) =>
  fetch(`${cloud.baseUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });

const scan = (text: string) => agent.present({ method: 'qr', direction: 'in', text }).decision;
const swipe = (idNumber: string, idNumberValid: boolean) =>
  agent.present({
    method: 'idcard',
    direction: 'in',
    card: { idNumber, idNumberValid, validTo: null, maskedName: '欧阳**' },
  }).decision;

async function sniff(clientId: string, role: 'cloud' | 'gate', filters: string[]): Promise<void> {
  const password = signToken(
    { sub: clientId, role, exp: Date.now() + HOUR, ...(role === 'gate' ? { compound: COMPOUND } : {}) },
    keys.signing!,
  );
  const client = await mqtt.connectAsync(broker.url, { clientId, username: clientId, password, protocolVersion: 4 });
  client.on('message', (topic, payload) => sniffed.push({ topic, payload: payload.toString() }));
  await client.subscribeAsync(filters, { qos: 1 });
  sniffers.push(client);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-privacy-'));
  broker = await startTestBroker({ ring: keys.ring });
  cloud = await startTestCloud({ mqttUrl: broker.url, keysFile });
  const admin = await cloud.login('admin');
  manager = await cloud.login('manager');
  expect((await api('POST', '/compounds', admin, { id: COMPOUND, name: 'Privacy' })).status).toBe(201);
  const gateRes = await api('POST', '/gates', admin, { id: GATE, compoundId: COMPOUND, name: GATE });
  const { token } = (await gateRes.json()) as { token: string };
  await sniff('cloud-sniffer', 'cloud', [
    'anxin/v1/gates/+/events',
    'anxin/v1/gates/+/status',
    'anxin/v1/gates/+/alarms',
    'anxin/v1/gates/+/sync/request',
  ]);
  // A second gate of the compound hears what every gate hears: the compound's changes.
  await sniff('g-priv-peer', 'gate', [topics.compoundChanges(COMPOUND)]);

  agent = createEdgeAgent(
    parseEdgeConfig({
      gateId: GATE,
      compoundId: COMPOUND,
      mqtt: { url: broker.url, token, reconnectMs: 200 },
      keys: publicOnly(keysFile),
      dataDir: dir,
      http: { enabled: false },
      timeouts: { syncRetryMs: 1_000 },
    }),
  );
  await agent.start();
  await eventually(() => agent.status().online, 'the gate online');

  const res = await api('POST', '/residents', manager, {
    compoundId: COMPOUND,
    name: NAME,
    idNumber: ID_NUMBER,
    householdId: 'h-1',
  });
  expect(res.status).toBe(201);
  personId = ((await res.json()) as { personId: string }).personId;
  expect((await api('PUT', '/health', manager, [{ personId, colour: 'green', ts: Date.now() }])).status).toBeLessThan(
    300,
  );
  await eventually(() => swipe(ID_NUMBER, true).personId === personId || undefined, 'the resident synced to the gate');
}, 60_000);

afterAll(async () => {
  for (const s of sniffers) await s.endAsync();
  sniffers = [];
  await agent?.stop();
  await cloud?.stop();
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('bad credentials at the gate', () => {
  it('refuses forged, unknown-key, malformed, expired, not-yet-valid and other-compound passes', () => {
    const now = Date.now();
    const payload = (over: Partial<Parameters<typeof signPass>[0]> = {}) => ({
      passId: Math.floor(Math.random() * 2 ** 48)
        .toString(16)
        .padStart(16, '0'),
      personId,
      compoundId: COMPOUND,
      kind: 'resident' as const,
      notBefore: Math.floor((now - HOUR) / 1000) * 1000,
      expiresAt: Math.floor((now + HOUR) / 1000) * 1000,
      ...over,
    });
    const impostor = generateSigningKey(keys.signing!.kid);
    expect(scan(signPass(payload(), keys.signing!)).reason).toBe('ok');
    expect(scan(signPass(payload(), impostor)).reason).toBe('bad-signature');
    expect(scan(signPass(payload(), generateSigningKey(99))).reason).toBe('unknown-key');
    const valid = signPass(payload(), keys.signing!);
    expect(scan(`${valid.slice(0, -3)}${valid.slice(-3) === 'AAA' ? 'BBB' : 'AAA'}`).reason).toMatch(
      /bad-signature|malformed/,
    );
    for (const junk of ['', 'AX1:', 'AX1:%%%%', 'https://evil.example/?q=1', "AX1:' OR 1=1 --", 'A'.repeat(5_000)]) {
      expect(['malformed', 'unknown-key', 'bad-signature']).toContain(scan(junk).reason);
    }
    expect(
      scan(
        signPass(
          payload({
            expiresAt: Math.floor((now - 1000) / 1000) * 1000,
            notBefore: Math.floor((now - HOUR) / 1000) * 1000,
          }),
          keys.signing!,
        ),
      ).reason,
    ).toBe('pass-expired');
    expect(
      scan(
        signPass(
          payload({
            notBefore: Math.floor((now + HOUR) / 1000) * 1000,
            expiresAt: Math.floor((now + 2 * HOUR) / 1000) * 1000,
          }),
          keys.signing!,
        ),
      ).reason,
    ).toBe('pass-not-yet-valid');
    expect(scan(signPass(payload({ compoundId: 'other-compound' }), keys.signing!)).reason).toBe('wrong-compound');
  });

  it('refuses a replayed single-use pass and a pass revoked in the cloud', async () => {
    const issue = async (useLimit?: number) => {
      const res = await api('POST', '/passes', manager, {
        personId,
        validTo: new Date(Date.now() + HOUR).toISOString(),
        ...(useLimit ? { useLimit } : {}),
      });
      expect(res.status).toBe(201);
      return (await res.json()) as { passId: string; text: string };
    };
    const once = await issue(1);
    expect(scan(once.text).reason).toBe('ok');
    expect(scan(once.text).reason).toBe('pass-used-up');

    const revoked = await issue();
    expect(scan(revoked.text).reason).toBe('ok');
    expect((await api('DELETE', `/passes/${revoked.passId}`, manager)).status).toBe(204);
    await eventually(() => scan(revoked.text).reason === 'pass-revoked' || undefined, 'the revocation at the gate');
  });

  it('refuses invalid ID numbers', () => {
    for (const bad of [
      '110105194912310021',
      '11010519491231002',
      '1101051949123100211',
      'ABCDEFGHIJKLMNOPQR',
      "1' OR '1'='1",
      '',
    ]) {
      expect(swipe(bad, false).reason).toBe('id-invalid');
    }
    expect(swipe(ID_NUMBER, true).personId).toBe(personId);
  });
});

describe('personal data stays home', () => {
  it('no clear ID number or full name in any MQTT payload; events carry only the pseudonym', async () => {
    await eventually(() => agent.journalDepth === 0, 'every passage acknowledged');
    await eventually(() => sniffed.some((m) => m.topic === topics.gateEvents(GATE)), 'events seen on the wire');
    expect(sniffed.some((m) => m.topic === topics.compoundChanges(COMPOUND))).toBe(true);
    const wire = sniffed.map((m) => m.payload).join('\n');
    expect(wire).not.toContain(ID_NUMBER);
    expect(wire).not.toContain(ID_NUMBER.toLowerCase());
    expect(wire).not.toContain(NAME);
    expect(wire).toContain(pseudonymizeIdNumber(ID_NUMBER, keys.pepper));
  });

  it("the gate's SQLite file (and its WAL) holds neither the ID number nor the full name", () => {
    for (const file of [GATE_DB_FILE, `${GATE_DB_FILE}-wal`]) {
      const path = join(dir, file);
      if (!existsSync(path)) continue;
      const bytes = readFileSync(path);
      expect(bytes.includes(Buffer.from(ID_NUMBER)), file).toBe(false);
      expect(bytes.includes(Buffer.from(ID_NUMBER.toLowerCase())), file).toBe(false);
      expect(bytes.includes(Buffer.from(NAME)), file).toBe(false);
      // UTF-16 too, in case anything stored text that way.
      expect(bytes.includes(Buffer.from(ID_NUMBER, 'utf16le')), file).toBe(false);
    }
  });

  it("a guard's API answers carry no full name, ID number or pseudonym", async () => {
    await cloud.addUser('guard-1', 'guard', COMPOUND);
    const guard = await cloud.login('guard-1');
    const idHash = pseudonymizeIdNumber(ID_NUMBER, keys.pepper);
    const answers: string[] = [];
    for (const path of [`/events?compound=${COMPOUND}&limit=1000`, `/gates?compound=${COMPOUND}`, `/gates/${GATE}`]) {
      const res = await api('GET', path, guard);
      expect(res.status, path).toBe(200);
      answers.push(await res.text());
    }
    for (const path of [
      `/residents?compound=${COMPOUND}`,
      `/residents/${personId}`,
      `/trace/person/${personId}?from=0&to=${Date.now()}`,
    ]) {
      expect([403, 404], path).toContain((await api('GET', path, guard)).status);
    }
    const text = answers.join('\n');
    expect(text).toContain(personId);
    expect(text).not.toContain(NAME);
    expect(text).not.toContain(ID_NUMBER);
    expect(text).not.toContain(idHash);
  });
});
