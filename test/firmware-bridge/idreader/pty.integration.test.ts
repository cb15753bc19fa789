/**
 * The driver and the simulator over a real socat pty pair with the OS serial binding: what runs
 * at a gate, minus the hardware. Fails (never skips) when socat is missing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type IdCard, IdCardReaderDriver } from '../../../firmware-bridge/idreader/driver.ts';
import { IdCardReaderSimulator, samplePhoto } from '../../../firmware-bridge/idreader/simulator.ts';
import { encodeTextBlock, type TextBlockInput } from '../../../firmware-bridge/idreader/text-block.ts';
import type { DeviceStatus } from '../../../firmware-bridge/serial/port-options.ts';
import { idNumberCheckCharacter } from '../../../shared/id-number.ts';
import { openPtyPair, type PtyPair } from '../../../testkit/socat.ts';

const RESIDENT: TextBlockInput = {
  name: '张三明',
  sex: 'male',
  nationCode: '01',
  birthDate: '1949-12-31',
  address: '北京市朝阳区建国路88号',
  idNumber: '11010519491231002X',
  authority: '北京市公安局朝阳分局',
  validFrom: '2015-06-01',
  validTo: null,
};

async function until(condition: () => boolean, what: string, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

let pty: PtyPair;
let simulator: IdCardReaderSimulator;
let driver: IdCardReaderDriver;
const cards: IdCard[] = [];
const rejected: string[] = [];
const statuses: DeviceStatus[] = [];

beforeAll(async () => {
  pty = await openPtyPair();
});

afterAll(async () => {
  await pty?.close();
});

async function startBoth(): Promise<void> {
  simulator = new IdCardReaderSimulator({ path: pty.b, baudRate: 115200, reconnectInitialMs: 20 });
  driver = new IdCardReaderDriver({
    path: pty.a,
    baudRate: 115200,
    pollIntervalMs: 20,
    unsafeFastPollingForTests: true,
    reconnectInitialMs: 20,
    reconnectMaxMs: 200,
  });
  driver.on('card', (card) => cards.push(card));
  driver.on('rejected', (reason) => rejected.push(reason));
  driver.on('status', (status) => statuses.push(status));
  driver.on('error', () => {});
  await simulator.start();
  await driver.start();
  await until(() => driver.status === 'ok', 'driver ok');
}

afterEach(async () => {
  await driver?.stop();
  await simulator?.stop();
  cards.length = 0;
  rejected.length = 0;
  statuses.length = 0;
});

/** Waits until the simulator has answered `count` more finds: the driver has polled the reader that often. */
async function polls(count: number): Promise<void> {
  const start = simulator.counters['2001'] ?? 0;
  await until(() => (simulator.counters['2001'] ?? 0) >= start + count, `${count} polls`);
}

describe('ID-card reader over a socat pty pair', () => {
  it('one card event per presentation: laid → one event, left on → none, lifted and laid again → a new one', async () => {
    await startBoth();
    await polls(3);
    expect(cards).toEqual([]);

    simulator.presentCard({ ...RESIDENT, photo: samplePhoto(3) });
    await until(() => cards.length === 1, 'the card');
    expect(cards[0]).toEqual({ ...RESIDENT, kind: 'resident-id', idNumberValid: true, photo: samplePhoto(3) });

    await polls(10);
    expect(cards.length).toBe(1);

    simulator.removeCard();
    await polls(3);
    simulator.presentCard(RESIDENT);
    await until(() => cards.length === 2, 'the card presented again');
    await polls(5);
    expect(cards.length).toBe(2);
  });

  it('reports an invalid check character as idNumberValid false', async () => {
    await startBoth();
    simulator.presentCard({ ...RESIDENT, idNumber: '110105194912310021' });
    await until(() => cards.length === 1, 'the card');
    expect(cards[0]).toMatchObject({ idNumber: '110105194912310021', idNumberValid: false });
  });

  it('reads the permit and foreign layouts as their own kinds and rejects an unknown layout', async () => {
    await startBoth();
    const first17 = '82000019850315002';
    simulator.presentCard({
      ...RESIDENT,
      kind: 'hmt-permit',
      name: '何美玲',
      sex: 'female',
      nationCode: '',
      birthDate: '1985-03-15',
      idNumber: first17 + idNumberCheckCharacter(first17),
      permit: { passNumber: 'M12345678', issueCount: '02' },
    });
    await until(() => cards.length === 1, 'the permit');
    expect(cards[0]).toMatchObject({
      kind: 'hmt-permit',
      name: '何美玲',
      idNumberValid: true,
      permit: { passNumber: 'M12345678' },
    });

    simulator.removeCard();
    simulator.presentCard({
      kind: 'foreign-permanent',
      name: 'MUELLER, ANNA',
      sex: 'female',
      nationCode: 'DEU',
      birthDate: '1975-11-02',
      address: '',
      idNumber: 'DEU310075110201',
      authority: '1500',
      validFrom: '2020-01-01',
      validTo: '2030-01-01',
      foreign: { chineseName: '安娜', cardVersion: '01' },
    });
    await until(() => cards.length === 2, 'the foreign card');
    expect(cards[1]).toMatchObject({
      kind: 'foreign-permanent',
      name: 'MUELLER, ANNA',
      nationCode: 'DEU',
      address: '',
    });

    simulator.removeCard();
    const unknown = encodeTextBlock(RESIDENT);
    unknown.write('Q', 248, 'utf16le');
    simulator.presentRawCard(unknown);
    await until(() => rejected.length === 1, 'the rejection');
    expect(rejected[0]).toMatch(/unknown card type flag/);
    expect(cards.length).toBe(2);
  });

  it('unplugged (socat killed) → fault; replugged → recovers by itself and reads again', async () => {
    await startBoth();
    simulator.presentCard(RESIDENT);
    await until(() => cards.length === 1, 'the first card');

    await pty.kill();
    await until(() => driver.status === 'fault', 'fault');
    await pty.restart();
    await until(() => driver.status === 'ok', 'ok again');
    expect(statuses).toEqual(['ok', 'fault', 'ok']);

    simulator.removeCard();
    simulator.presentCard({ ...RESIDENT, name: '张三' });
    await until(() => cards.length === 2, 'a card after the replug');
    expect(cards[1]!.name).toBe('张三');
  });
});
