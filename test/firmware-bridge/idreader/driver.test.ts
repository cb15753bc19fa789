import { MockBinding, type MockPortBinding } from '@serialport/binding-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { type IdCard, IdCardReaderDriver, type IdCardReaderOptions } from '../../../firmware-bridge/idreader/driver.ts';
import { encodeReadReplyData, SamvFrame, SamvStatusError } from '../../../firmware-bridge/idreader/frame.ts';
import { samplePhoto } from '../../../firmware-bridge/idreader/simulator.ts';
import { encodeTextBlock, type TextBlockInput } from '../../../firmware-bridge/idreader/text-block.ts';
import { ReplyTimeoutError } from '../../../firmware-bridge/serial/errors.ts';
import { FOREIGN_CARD, PERMIT_CARD } from './cards.ts';
import type { BindingInterface, DeviceStatus } from '../../../firmware-bridge/serial/port-options.ts';

const CARD: TextBlockInput = {
  name: '李四',
  sex: 'female',
  nationCode: '01',
  birthDate: '1880-01-01',
  address: '广东省潮州市湘桥区',
  idNumber: '440524188001015368',
  authority: '潮州市公安局',
  validFrom: '2010-01-01',
  validTo: null,
};

const reply = (sw3: number, data?: Buffer) => SamvFrame.reply(sw3, data).toBuffer();
const FIND_OK = reply(0x9f, Buffer.alloc(4));
const NO_CARD = reply(0x80);
const SELECT_OK = reply(0x90, Buffer.alloc(8));
const OK = reply(0x90);
const readOk = (text: Buffer, photo = samplePhoto(), fingerprint?: Buffer) =>
  reply(0x90, encodeReadReplyData({ text, photo, fingerprint }));

type Script = (command: SamvFrame) => Buffer | Buffer[] | undefined;

/** MockBinding whose ports answer each command the driver writes with what `script` returns (unanswered if undefined). */
function scriptedReader(path: string, script: Script) {
  MockBinding.createPort(path, { echo: false, record: true });
  const opened: MockPortBinding[] = [];
  const commands: string[] = [];
  const binding: BindingInterface = {
    list: () => MockBinding.list(),
    open: async (options) => {
      const port = await MockBinding.open(options);
      const write = port.write.bind(port);
      port.write = async (buffer: Buffer) => {
        await write(buffer);
        const command = SamvFrame.fromBuffer(buffer);
        commands.push(command.body.toString('hex'));
        const answer = script(command);
        // A reply racing stop() would hit a closed port: a real reader's late bytes are lost the same way.
        if (!answer) return;
        setTimeout(() => {
          if (!port.isOpen) return;
          for (const chunk of [answer].flat()) port.emitData(chunk);
        }, 1);
      };
      opened.push(port);
      return port;
    },
  };
  return { binding, opened, commands };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const drivers: IdCardReaderDriver[] = [];
afterEach(async () => {
  await Promise.all(drivers.splice(0).map((d) => d.stop()));
  MockBinding.reset();
});

function driverFor(binding: BindingInterface, extra: Partial<IdCardReaderOptions> = {}) {
  const driver = new IdCardReaderDriver({
    path: '/dev/ttyID0',
    baudRate: 115200,
    binding,
    pollIntervalMs: 10,
    unsafeFastPollingForTests: true,
    timeouts: { findMs: 100, selectMs: 100, readMs: 200, samStatusMs: 100 },
    ...extra,
  });
  drivers.push(driver);
  const cards: Array<{ card: IdCard; frameEndAt: bigint }> = [];
  const rejected: string[] = [];
  const errors: Error[] = [];
  const statuses: DeviceStatus[] = [];
  driver.on('card', (card, at) => cards.push({ card, frameEndAt: at.frameEndAt }));
  driver.on('rejected', (reason) => rejected.push(reason));
  driver.on('error', (err) => errors.push(err));
  driver.on('status', (status) => statuses.push(status));
  return { driver, cards, rejected, errors, statuses };
}

/** A reader with one card in the field that it keeps re-reading (some readers do), or none. */
function fieldReader(state: { text: Buffer | undefined; photo?: Buffer }): Script {
  return (command) => {
    if (command.isCommand('samStatus')) return OK;
    if (command.isCommand('findCard')) return state.text ? FIND_OK : NO_CARD;
    if (command.isCommand('selectCard')) return SELECT_OK;
    if (command.isCommand('readTextPhoto') && state.text) return readOk(state.text, state.photo);
    if (command.isCommand('readTextPhotoFingerprint') && state.text) {
      return readOk(state.text, state.photo, Buffer.alloc(1024, 0xf1));
    }
    return reply(0x21);
  };
}

describe('IdCardReaderDriver options', () => {
  it('enforces the 300 ms poll floor unless the test-only override is set', () => {
    const opts = { path: 'x', baudRate: 115200 };
    expect(() => new IdCardReaderDriver({ ...opts, pollIntervalMs: 299 })).toThrow(
      /pollIntervalMs must be a number ≥ 300/,
    );
    expect(
      () => new IdCardReaderDriver({ ...opts, pollIntervalMs: 50, unsafeFastPollingForTests: true }),
    ).not.toThrow();
    expect(() => new IdCardReaderDriver({ ...opts, pollIntervalMs: 1, unsafeFastPollingForTests: true })).toThrow(
      /≥ 5/,
    );
    expect(() => new IdCardReaderDriver({ ...opts, readLayout: 'photo' as never })).toThrow(/readLayout/);
    expect(() => new IdCardReaderDriver({ ...opts, absentAfterMisses: 0 })).toThrow(/absentAfterMisses/);
    expect(() => new IdCardReaderDriver({ ...opts, timeouts: { readMs: 0 } })).toThrow(/timeouts.readMs/);
    expect(() => new IdCardReaderDriver({ ...opts, cardTypeFlags: { permit: 'PP' } })).toThrow(
      /cardTypeFlags.permit must be a single character/,
    );
    expect(() => new IdCardReaderDriver({ ...opts, cardTypeFlags: { foreign: ' ' } })).toThrow(
      /cardTypeFlags.foreign must be a printable character/,
    );
    expect(() => new IdCardReaderDriver({ ...opts, cardTypeFlags: { permit: 'I' } })).toThrow(/must differ/);
    expect(() => new IdCardReaderDriver({ ...opts, cardTypeFlags: { permit: 'P', foreign: 'F' } })).not.toThrow();
    expect(new IdCardReaderDriver(opts).status).toBe('absent');
  });
});

describe('IdCardReaderDriver on MockBinding', () => {
  it('checks the SAM, then polls find; an empty reader gives no events and status ok', async () => {
    const state = { text: undefined };
    const { binding, commands } = scriptedReader('/dev/ttyID0', fieldReader(state));
    const { driver, cards, statuses, errors } = driverFor(binding);
    await driver.start();
    await until(() => commands.length >= 4, 'a few polls');
    expect(commands.slice(0, 3)).toEqual(['11ff', '2001', '2001']);
    expect(cards).toEqual([]);
    expect(statuses).toEqual(['ok']);
    expect(errors).toEqual([]);
  });

  it('reads a card once: find → select → read, every field, the photo and frameEndAt', async () => {
    const state = { text: encodeTextBlock(CARD) as Buffer | undefined, photo: samplePhoto(7) };
    const { binding, commands } = scriptedReader('/dev/ttyID0', fieldReader(state));
    const { driver, cards } = driverFor(binding);
    const before = process.hrtime.bigint();
    await driver.start();
    await until(() => cards.length === 1, 'a card');
    expect(commands.slice(0, 4)).toEqual(['11ff', '2001', '2002', '3001']);
    const { card, frameEndAt } = cards[0]!;
    expect(card).toEqual({ ...CARD, kind: 'resident-id', idNumberValid: true, photo: samplePhoto(7) });
    expect(frameEndAt).toBeGreaterThan(before);
    expect(frameEndAt).toBeLessThanOrEqual(process.hrtime.bigint());
  });

  it('does not report a card left on a reader that keeps re-reading it; reports it again after the reader was seen empty', async () => {
    const state = { text: encodeTextBlock(CARD) as Buffer | undefined };
    const { binding, commands } = scriptedReader('/dev/ttyID0', fieldReader(state));
    const { driver, cards } = driverFor(binding);
    await driver.start();
    await until(() => cards.length === 1, 'the first card');
    const reads = () => commands.filter((c) => c === '3001').length;
    await until(() => reads() >= 4, 'the card read again several times');
    expect(cards.length).toBe(1);
    state.text = undefined;
    const finds = commands.length;
    await until(() => commands.length >= finds + 3, 'the reader seen empty');
    state.text = encodeTextBlock(CARD);
    await until(() => cards.length === 2, 'the same card, presented again');
  });

  it('a different card laid without a gap is a new presentation', async () => {
    const state = { text: encodeTextBlock(CARD) as Buffer | undefined };
    const { binding } = scriptedReader('/dev/ttyID0', fieldReader(state));
    const { driver, cards } = driverFor(binding);
    await driver.start();
    await until(() => cards.length === 1, 'the first card');
    state.text = encodeTextBlock({ ...CARD, name: '王五' });
    await until(() => cards.length === 2, 'the second card');
    expect(cards[1]!.card.name).toBe('王五');
  });

  it('reports a wrong check character as idNumberValid false', async () => {
    const state = { text: encodeTextBlock({ ...CARD, idNumber: '440524188001015369' }) as Buffer | undefined };
    const { binding } = scriptedReader('/dev/ttyID0', fieldReader(state));
    const { driver, cards } = driverFor(binding);
    await driver.start();
    await until(() => cards.length === 1, 'a card');
    expect(cards[0]!.card).toMatchObject({ idNumber: '440524188001015369', idNumberValid: false });
  });

  it('rejects an unknown layout once per presentation, never emitting a card for it', async () => {
    const text = encodeTextBlock(CARD);
    text.write('Z', 248, 'utf16le');
    const state = { text: text as Buffer | undefined };
    const { binding, commands } = scriptedReader('/dev/ttyID0', fieldReader(state));
    const { driver, cards, rejected } = driverFor(binding);
    await driver.start();
    await until(() => rejected.length === 1, 'a rejection');
    await until(() => commands.filter((c) => c === '3001').length >= 3, 'more reads');
    expect(rejected).toEqual([
      'unknown card type flag 0x005a ("Z") at offset 248 (configured: permit "J", foreign "I", blank = resident card)',
    ]);
    expect(cards).toEqual([]);
  });

  describe('cardTypeFlags (the unconfirmed flags at text offset 248, docs/devices.md §1)', () => {
    const PERMIT = PERMIT_CARD;
    const FOREIGN = FOREIGN_CARD;
    const flags = { permit: 'P', foreign: 'F' };

    it('decodes a permit and a foreign card by the configured flags', async () => {
      const state = { text: encodeTextBlock(PERMIT, { cardTypeFlags: flags }) as Buffer | undefined };
      const { binding } = scriptedReader('/dev/ttyID0', fieldReader(state));
      const { driver, cards, rejected } = driverFor(binding, { cardTypeFlags: flags });
      await driver.start();
      await until(() => cards.length === 1, 'the permit');
      expect(cards[0]!.card).toMatchObject({
        kind: 'hmt-permit',
        idNumber: PERMIT.idNumber,
        idNumberValid: true,
        permit: { passNumber: 'H12345678', issueCount: '01' },
      });
      state.text = encodeTextBlock(FOREIGN, { cardTypeFlags: flags });
      await until(() => cards.length === 2, 'the foreign card');
      expect(cards[1]!.card).toMatchObject({ kind: 'foreign-permanent', idNumber: 'CAN110080051701' });
      expect(rejected).toEqual([]);
      expect(driver.counters).toMatchObject({ cards: 2, rejected: 0 });
    });

    it('treats the default J / I flags as unknown once others are configured: rejected with the reason, never misread', async () => {
      const state = { text: encodeTextBlock(PERMIT) as Buffer | undefined };
      const { binding, commands } = scriptedReader('/dev/ttyID0', fieldReader(state));
      const { driver, cards, rejected } = driverFor(binding, { cardTypeFlags: flags });
      await driver.start();
      await until(() => rejected.length === 1, 'the J card rejected');
      state.text = encodeTextBlock(FOREIGN);
      await until(() => rejected.length === 2, 'the I card rejected');
      await until(() => commands.filter((c) => c === '3001').length >= 4, 'more reads');
      expect(rejected).toEqual([
        'unknown card type flag 0x004a ("J") at offset 248 (configured: permit "P", foreign "F", blank = resident card)',
        'unknown card type flag 0x0049 ("I") at offset 248 (configured: permit "P", foreign "F", blank = resident card)',
      ]);
      expect(cards).toEqual([]);
      expect(driver.counters).toMatchObject({ cards: 0, rejected: 2 });
    });

    it('still reads a resident card (blank flag) with other flags configured', async () => {
      const state = { text: encodeTextBlock(CARD) as Buffer | undefined };
      const { binding } = scriptedReader('/dev/ttyID0', fieldReader(state));
      const { driver, cards } = driverFor(binding, { cardTypeFlags: { permit: 'P' } });
      await driver.start();
      await until(() => cards.length === 1, 'a card');
      expect(cards[0]!.card).toMatchObject({ kind: 'resident-id', idNumber: CARD.idNumber });
    });

    it('swapped flags never read one layout as the other', async () => {
      const state = { text: encodeTextBlock(PERMIT) as Buffer | undefined };
      const { binding } = scriptedReader('/dev/ttyID0', fieldReader(state));
      const { driver, cards, rejected } = driverFor(binding, { cardTypeFlags: { permit: 'I', foreign: 'J' } });
      await driver.start();
      await until(() => rejected.length === 1, 'a rejection');
      expect(rejected[0]).toMatch(/^foreign-permanent: /);
      expect(cards).toEqual([]);
    });
  });

  it('reports SW3 40 (unknown card type) as rejected, once', async () => {
    const { binding, commands } = scriptedReader('/dev/ttyID0', (command) => {
      if (command.isCommand('findCard')) return FIND_OK;
      if (command.isCommand('selectCard')) return SELECT_OK;
      if (command.isCommand('readTextPhoto')) return reply(0x40);
      return OK;
    });
    const { driver, rejected } = driverFor(binding);
    await driver.start();
    await until(() => commands.filter((c) => c === '3001').length >= 3, 'several reads');
    expect(rejected).toEqual(['the reader reports an unknown card type (read: SW3 0x40)']);
  });

  it('reads the 30 10 layout (text + photo + fingerprint) when configured', async () => {
    const state = { text: encodeTextBlock(CARD) as Buffer | undefined };
    const { binding, commands } = scriptedReader('/dev/ttyID0', fieldReader(state));
    const { driver, cards } = driverFor(binding, { readLayout: 'text-photo-fingerprint' });
    await driver.start();
    await until(() => cards.length === 1, 'a card');
    expect(commands).toContain('3010');
    expect(commands).not.toContain('3001');
    expect(cards[0]!.card.fingerprint).toEqual(Buffer.alloc(1024, 0xf1));
    expect(cards[0]!.card.name).toBe('李四');
  });

  it('copes with replies split into single bytes with line noise in between', async () => {
    const text = encodeTextBlock(CARD);
    const { binding } = scriptedReader('/dev/ttyID0', (command) => {
      const answer = [fieldReader({ text })(command) ?? []].flat();
      const noisy = Buffer.concat([Buffer.from([0x00, 0xaa, 0xaa, 0x13]), ...answer]);
      return command.isCommand('readTextPhoto')
        ? [noisy.subarray(0, 100), noisy.subarray(100)]
        : [...noisy].map((b) => Buffer.from([b]));
    });
    const { driver, cards } = driverFor(binding);
    await driver.start();
    await until(() => cards.length === 1, 'a card');
    expect(cards[0]!.card.idNumber).toBe(CARD.idNumber);
    expect(driver.parserStats.garbage).toBeGreaterThan(0);
  });

  it('maps a failure status to a typed error, reported once per streak', async () => {
    const { binding, commands } = scriptedReader('/dev/ttyID0', (command) =>
      command.isCommand('findCard') ? reply(0x60) : OK,
    );
    const { driver, errors } = driverFor(binding);
    await driver.start();
    await until(() => (driver.counters.statuses['sam-self-test-failed'] ?? 0) >= 5, 'several failed finds');
    expect(errors.length).toBe(1);
    expect(errors[0]).toBeInstanceOf(SamvStatusError);
    expect((errors[0] as SamvStatusError).status.name).toBe('sam-self-test-failed');
    expect(commands.filter((c) => c === '2001').length).toBeGreaterThanOrEqual(5);
  });

  it('goes to fault when the SAM reports a failure at start', async () => {
    const { binding } = scriptedReader('/dev/ttyID0', (command) =>
      command.isCommand('samStatus') ? reply(0x66) : NO_CARD,
    );
    const { driver, errors, statuses } = driverFor(binding);
    await driver.start();
    await until(() => statuses.includes('fault'), 'fault');
    expect((errors[0] as SamvStatusError).status.name).toBe('sam-not-authorised');
  });

  it('goes to fault after three unanswered commands, and back to ok when the reader answers again', async () => {
    let silent = true;
    const { binding } = scriptedReader('/dev/ttyID0', (command) =>
      silent ? undefined : command.isCommand('findCard') ? NO_CARD : OK,
    );
    const { driver, errors, statuses } = driverFor(binding);
    await driver.start();
    await until(() => statuses.includes('fault'), 'fault');
    expect(statuses).toEqual(['ok', 'fault']);
    expect(errors[0]).toBeInstanceOf(ReplyTimeoutError);
    silent = false;
    await until(() => statuses.length === 3, 'ok again');
    expect(statuses).toEqual(['ok', 'fault', 'ok']);
    expect(driver.counters.timeouts).toBeGreaterThanOrEqual(3);
  });

  it('reports fault when the port cannot be opened, without rejecting start()', async () => {
    const { driver, statuses, errors } = driverFor(MockBinding as BindingInterface, { path: '/dev/missing' });
    await driver.start();
    expect(driver.status).toBe('fault');
    expect(statuses).toEqual(['fault']);
    expect(errors.length).toBe(1);
  });

  it('stop() stops polling and reports absent', async () => {
    const { binding, commands } = scriptedReader('/dev/ttyID0', fieldReader({ text: undefined }));
    const { driver, statuses } = driverFor(binding);
    await driver.start();
    await until(() => commands.length >= 3, 'polls');
    await driver.stop();
    const sent = commands.length;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(commands.length).toBe(sent);
    expect(driver.status).toBe('absent');
    expect(statuses.at(-1)).toBe('absent');
  });
});

describe('stopping mid-write', () => {
  it('leaves no unhandled rejection when stop() cancels a reply whose command is still being written', async () => {
    MockBinding.createPort('/dev/ttyID0', { echo: false, record: true });
    let release: () => void = () => {};
    let writing = false;
    const binding: BindingInterface = {
      list: () => MockBinding.list(),
      open: async (options) => {
        const port = await MockBinding.open(options);
        port.write = () => {
          writing = true;
          return new Promise<void>((resolve) => (release = resolve));
        };
        return port;
      },
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const { driver } = driverFor(binding);
      await driver.start();
      await until(() => writing, 'a command on the wire');
      const stopped = driver.stop();
      // Let Node look for unhandled rejections (it does after the microtasks of a macrotask).
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      release();
      await stopped;
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
