/**
 * `devices.idreader.cardTypeFlags` in the gate's config (edge-agent/config.ts) reaches the driver
 * built by edge-agent/device-factory.ts: docs/devices.md §1's unconfirmed card-type flags are configuration.
 */
import { MockBinding } from '@serialport/binding-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { type LaneReaderConfig, loadEdgeConfig, parseEdgeConfig } from '../../../edge-agent/config.ts';
import { createDevices } from '../../../edge-agent/device-factory.ts';
import type { IdCard } from '../../../firmware-bridge/idreader/driver.ts';
import { encodeReadReplyData, SamvFrame } from '../../../firmware-bridge/idreader/frame.ts';
import { samplePhoto } from '../../../firmware-bridge/idreader/simulator.ts';
import { encodeTextBlock } from '../../../firmware-bridge/idreader/text-block.ts';
import type { BindingInterface } from '../../../firmware-bridge/serial/port-options.ts';
import { silentLogger } from '../../../shared/log.ts';
import { PERMIT_CARD } from './cards.ts';

const minimal = {
  gateId: 'g1',
  compoundId: 'c1',
  mqtt: { url: 'mqtt://127.0.0.1:1883' },
  keysFile: '/etc/anxin/keys.json',
};

const PERMIT = PERMIT_CARD;

/** The single-reader form of gate.json becomes the lane reader named `idreader` (edge-agent/config.ts). */
const idreaderOf = (config: ReturnType<typeof parseEdgeConfig>) =>
  config.devices.readers.find(
    (reader): reader is Extract<LaneReaderConfig, { kind: 'idreader' }> => reader.name === 'idreader',
  );

describe('devices.idreader.cardTypeFlags', () => {
  it('is absent by default (the driver keeps J / I) and accepts one or both flags', () => {
    expect(idreaderOf(parseEdgeConfig({ ...minimal, devices: { idreader: { path: '/dev/ttyID0' } } }))).toEqual({
      kind: 'idreader',
      name: 'idreader',
      path: '/dev/ttyID0',
      baudRate: 115200,
      direction: 'in',
    });
    const both = parseEdgeConfig({
      ...minimal,
      devices: { idreader: { path: '/dev/ttyID0', cardTypeFlags: { permit: 'P', foreign: 'F' } } },
    });
    expect(idreaderOf(both)?.cardTypeFlags).toEqual({ permit: 'P', foreign: 'F' });
    const one = parseEdgeConfig({
      ...minimal,
      devices: { idreader: { path: '/dev/ttyID0', cardTypeFlags: { permit: 'P' } } },
    });
    expect(idreaderOf(one)?.cardTypeFlags).toEqual({ permit: 'P' });
  });

  it.each([
    [{ permit: 'PP' }, /^devices\.idreader\.cardTypeFlags: cardTypeFlags\.permit must be a single character/m],
    [{ foreign: ' ' }, /^devices\.idreader\.cardTypeFlags: cardTypeFlags\.foreign must be a printable character/m],
    [{ permit: 'X', foreign: 'X' }, /^devices\.idreader\.cardTypeFlags: .*must differ, both are "X"/m],
    [{ permit: 'I' }, /^devices\.idreader\.cardTypeFlags: .*must differ, both are "I"/m],
    [{ permit: 1 }, /^devices\.idreader\.cardTypeFlags\.permit: /m],
  ])('refuses %j with a path: message line', (cardTypeFlags, message) => {
    expect(() =>
      parseEdgeConfig({
        ...minimal,
        devices: { idreader: { path: '/dev/ttyID0', cardTypeFlags: cardTypeFlags as never } },
      }),
    ).toThrow(message);
  });

  it('can be set from ANXIN_* env, kept as text', () => {
    const config = loadEdgeConfig({
      file: { name: 'gate.json', text: JSON.stringify({ ...minimal, devices: { idreader: { path: '/dev/ttyID0' } } }) },
      env: {
        ANXIN_DEVICES__IDREADER__CARD_TYPE_FLAGS__PERMIT: '8',
        ANXIN_DEVICES__IDREADER__CARD_TYPE_FLAGS__FOREIGN: 'F',
      },
    });
    expect(idreaderOf(config)?.cardTypeFlags).toEqual({ permit: '8', foreign: 'F' });
  });
});

describe('createDevices passes cardTypeFlags to the ID-card reader', () => {
  afterEach(() => MockBinding.reset());

  /** A reader with `text` in the field; answers every command at once. */
  function readerWith(text: Buffer): BindingInterface {
    MockBinding.createPort('/dev/ttyID0', { echo: false, record: true });
    return {
      list: () => MockBinding.list(),
      open: async (options) => {
        const port = await MockBinding.open(options);
        const write = port.write.bind(port);
        port.write = async (buffer: Buffer) => {
          await write(buffer);
          const command = SamvFrame.fromBuffer(buffer);
          let answer: SamvFrame;
          if (command.isCommand('findCard')) answer = SamvFrame.reply(0x9f, Buffer.alloc(4));
          else if (command.isCommand('selectCard')) answer = SamvFrame.reply(0x90, Buffer.alloc(8));
          else if (command.isCommand('readTextPhoto')) {
            answer = SamvFrame.reply(0x90, encodeReadReplyData({ text, photo: samplePhoto() }));
          } else answer = SamvFrame.reply(0x90);
          setTimeout(() => {
            if (port.isOpen) port.emitData(answer.toBuffer());
          }, 1);
        };
        return port;
      },
    };
  }

  async function firstOutcome(cardTypeFlags: { permit: string; foreign: string } | undefined, text: Buffer) {
    const config = parseEdgeConfig({
      ...minimal,
      devices: { idreader: { path: '/dev/ttyID0', ...(cardTypeFlags ? { cardTypeFlags } : {}) } },
    });
    const idreader = createDevices(config, silentLogger, readerWith(text)).readers?.find(
      (reader) => reader.kind === 'idreader',
    )?.device;
    if (!idreader) throw new Error('no ID-card reader built');
    const outcome = new Promise<{ card: IdCard } | { rejected: string }>((resolve) => {
      idreader.on('card', (card) => resolve({ card }));
      idreader.on('rejected', (reason) => resolve({ rejected: reason }));
    });
    await idreader.start();
    try {
      return await outcome;
    } finally {
      await idreader.stop();
    }
  }

  it('a gate configured with P / F reads a P permit and rejects a J one', async () => {
    const flags = { permit: 'P', foreign: 'F' };
    const read = await firstOutcome(flags, encodeTextBlock(PERMIT, { cardTypeFlags: flags }));
    expect(read).toMatchObject({ card: { kind: 'hmt-permit', idNumber: PERMIT.idNumber } });
    const rejected = await firstOutcome(flags, encodeTextBlock(PERMIT));
    expect(rejected).toEqual({
      rejected:
        'unknown card type flag 0x004a ("J") at offset 248 (configured: permit "P", foreign "F", blank = resident card)',
    });
  });

  it('a gate without the option keeps J', async () => {
    expect(await firstOutcome(undefined, encodeTextBlock(PERMIT))).toMatchObject({ card: { kind: 'hmt-permit' } });
  });
});
