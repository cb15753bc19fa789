import { MockBinding } from '@serialport/binding-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { OsdpCommand, OsdpReply } from '../../../firmware-bridge/osdp/codes.ts';
import { decodeLed, decodeOut, OutputControl } from '../../../firmware-bridge/osdp/commands.ts';
import {
  type OsdpCard,
  OsdpControlPanel,
  type OsdpControlPanelOptions,
  type TurnstileInput,
} from '../../../firmware-bridge/osdp/control-panel.ts';
import { OsdpNakError, OsdpOfflineError, OsdpTimeoutError } from '../../../firmware-bridge/osdp/errors.ts';
import { OsdpFrame } from '../../../firmware-bridge/osdp/frame.ts';
import { encodeInputStates, encodeNak, encodeRaw } from '../../../firmware-bridge/osdp/replies.ts';
import { encodeWiegand26, packBits, unpackBits } from '../../../firmware-bridge/osdp/wiegand.ts';
import { createMockPd, IDENTITY, until } from './mock-pd.ts';

const PATH = '/dev/ttyOSDP';
const panels: OsdpControlPanel[] = [];

afterEach(async () => {
  await Promise.all(panels.splice(0).map((p) => p.stop()));
  MockBinding.reset();
});

async function online(options: Partial<OsdpControlPanelOptions> = {}) {
  const pd = createMockPd(PATH);
  const cp = new OsdpControlPanel({
    path: PATH,
    baudRate: 115_200,
    binding: pd.binding,
    pollIntervalMs: 5,
    replyTimeoutMs: 40,
    ...options,
  });
  panels.push(cp);
  const inputs: Array<[TurnstileInput, boolean]> = [];
  const cards: OsdpCard[] = [];
  const statuses: string[] = [];
  cp.on('input', (name, active) => inputs.push([name, active]));
  cp.on('card', (card) => cards.push(card));
  cp.on('status', (s) => statuses.push(s));
  cp.on('error', () => {});
  await cp.start();
  await until(() => cp.status === 'ok', 'the PD online');
  return { pd, cp, inputs, cards, statuses };
}

const polls = (frames: OsdpFrame[]) => frames.filter((f) => f.code === OsdpCommand.POLL);

describe('OsdpControlPanel on MockBinding', () => {
  it('does no I/O in its constructor and names a bad option', () => {
    const pd = createMockPd(PATH);
    const cp = new OsdpControlPanel({ path: PATH, baudRate: 115_200, binding: pd.binding });
    expect(cp.status).toBe('absent');
    expect(pd.received).toHaveLength(0);
    const make = (extra: Partial<OsdpControlPanelOptions>) => () =>
      new OsdpControlPanel({ path: PATH, baudRate: 115_200, ...extra });
    expect(make({ address: 0x7f })).toThrow(/address/);
    expect(make({ replyTimeoutMs: 0 })).toThrow(/replyTimeoutMs/);
    expect(make({ pollIntervalMs: -1 })).toThrow(/pollIntervalMs/);
    expect(make({ inputMap: { 0: 'nonsense' as TurnstileInput } })).toThrow(/inputMap/);
    expect(make({ outputMap: { unlockIn: -1, unlockOut: 1 } })).toThrow(/outputMap.unlockIn/);
  });

  it('starts with ID, CAP and ISTAT from sequence 0, then polls 1, 2, 3, 1, 2, 3 …', async () => {
    const { pd, cp, statuses } = await online();
    await until(() => pd.received.length >= 9, 'a few polls');
    const head = pd.received.slice(0, 9).map((f) => [f.code, f.sequence]);
    expect(head).toEqual([
      [OsdpCommand.ID, 0],
      [OsdpCommand.CAP, 1],
      [OsdpCommand.ISTAT, 2],
      [OsdpCommand.POLL, 3],
      [OsdpCommand.POLL, 1],
      [OsdpCommand.POLL, 2],
      [OsdpCommand.POLL, 3],
      [OsdpCommand.POLL, 1],
      [OsdpCommand.POLL, 2],
    ]);
    expect(pd.received[0]!.toBuffer().subarray(0, 7).toString('hex')).toBe('53000900046100');
    expect(cp.identity).toEqual(IDENTITY);
    expect(cp.capabilities).toEqual([{ function: 1, compliance: 1, count: 5 }]);
    expect(statuses).toEqual(['ok']);
  });

  it('re-sends a command byte for byte, same sequence number, when its reply is lost', async () => {
    const { pd, cp } = await online();
    let lost = 0;
    pd.script((command) => (command.code === OsdpCommand.OUT && lost++ === 0 ? null : undefined));
    await cp.unlock('in', 3_000);
    const outs = pd.received.filter((f) => f.code === OsdpCommand.OUT);
    expect(outs).toHaveLength(2);
    expect(outs[1]!.toBuffer()).toEqual(outs[0]!.toBuffer());
    expect(decodeOut(outs[0]!.data)).toEqual([{ output: 0, control: OutputControl.TEMPORARY_ON, timer: 30 }]);
    expect(cp.stats.retries).toBe(1);
    expect(cp.status).toBe('ok');
  });

  it('writes the OUT at once instead of waiting for the next poll tick', async () => {
    const { pd, cp } = await online({ pollIntervalMs: 60_000 });
    await until(() => polls(pd.received).length >= 1, 'the first poll');
    const before = pd.received.length;
    const started = Date.now();
    await cp.unlock('out', 250);
    expect(Date.now() - started).toBeLessThan(5_000);
    const out = pd.received[before]!;
    expect(out.code).toBe(OsdpCommand.OUT);
    expect(decodeOut(out.data)).toEqual([{ output: 1, control: OutputControl.TEMPORARY_ON, timer: 3 }]);
  });

  it('declares the PD offline after every retry times out, then recovers by itself with ID/CAP from 0', async () => {
    const { pd, cp, statuses } = await online({ maxAttempts: 2 });
    pd.script(() => null);
    await expect(cp.unlock('in', 1_000)).rejects.toBeInstanceOf(OsdpTimeoutError);
    await until(() => cp.status === 'fault', 'status fault');
    await expect(cp.unlock('in', 1_000)).rejects.toBeInstanceOf(OsdpOfflineError);
    const mark = pd.received.length;
    pd.script(() => undefined);
    await until(() => cp.status === 'ok', 'status ok again');
    const again = pd.received.slice(mark).filter((f) => f.code !== OsdpCommand.ID || f.sequence === 0);
    expect(again[0]).toMatchObject({ code: OsdpCommand.ID, sequence: 0 });
    expect(pd.received.slice(mark).some((f) => f.code === OsdpCommand.CAP)).toBe(true);
    expect(statuses).toEqual(['ok', 'fault', 'ok']);
    await cp.unlock('in', 1_000);
  });

  it('on NAK "sequence" resets to 0, re-sends the command and carries on 1, 2, 3', async () => {
    const { pd, cp } = await online();
    let naked = false;
    pd.script((command, reply) => {
      if (command.code === OsdpCommand.OUT && !naked) {
        naked = true;
        return reply(OsdpReply.NAK, encodeNak(4));
      }
      return undefined;
    });
    await cp.unlock('in', 500);
    const outs = pd.received.filter((f) => f.code === OsdpCommand.OUT);
    expect(outs.map((f) => f.sequence)).toEqual([outs[0]!.sequence, 0]);
    expect(cp.stats.sequenceResets).toBe(1);
    const mark = pd.received.length;
    await until(() => pd.received.length >= mark + 3, 'polls after the reset');
    expect(pd.received.slice(mark, mark + 3).map((f) => f.sequence)).toEqual([1, 2, 3]);
  });

  it('rejects a command the PD NAKs as unknown and keeps polling', async () => {
    const { pd, cp } = await online();
    pd.script((command, reply) => (command.code === OsdpCommand.LED ? reply(OsdpReply.NAK, encodeNak(3)) : undefined));
    const failure = cp.led('green', 1_000).catch((err: unknown) => err);
    await expect(failure).resolves.toBeInstanceOf(OsdpNakError);
    await expect(failure).resolves.toMatchObject({ code: 'osdp-nak', reason: 3 });
    const mark = polls(pd.received).length;
    await until(() => polls(pd.received).length > mark + 2, 'more polls');
    expect(cp.status).toBe('ok');
  });

  it('re-sends with the next sequence number when the PD NAKs a damaged frame (check character)', async () => {
    const { pd, cp } = await online();
    let naked = false;
    pd.script((command, reply) => {
      if (command.code === OsdpCommand.BUZ && !naked) {
        naked = true;
        return reply(OsdpReply.NAK, encodeNak(1));
      }
      return undefined;
    });
    await cp.buzz(2);
    const buzzes = pd.received.filter((f) => f.code === OsdpCommand.BUZ);
    expect(buzzes).toHaveLength(2);
    expect(buzzes[1]!.sequence).not.toBe(buzzes[0]!.sequence);
    expect(buzzes[1]!.data.toString('hex')).toBe('0002010102');
  });

  it('sends a 14-byte LED record for a steady colour with a timer in 100 ms units', async () => {
    const { pd, cp } = await online();
    await cp.led('red', 1_500);
    const led = pd.received.find((f) => f.code === OsdpCommand.LED)!;
    expect(led.data.length).toBe(14);
    expect(decodeLed(led.data)[0]!.temporary).toEqual({
      control: 2,
      onTime: 1,
      offTime: 0,
      onColour: 1,
      offColour: 1,
      timer: 15,
    });
  });

  it('turns osdp_ISTATR into edges of mapped inputs; the fire loop is normally closed', async () => {
    const { pd, cp, inputs } = await online();
    const reports = [
      [true, false, false, true, false],
      [false, false, false, true, false],
      [false, false, true, false, true],
      [false, false, false, true, false],
    ];
    pd.script((command, reply) =>
      command.code === OsdpCommand.POLL && reports.length > 0
        ? reply(OsdpReply.ISTATR, encodeInputStates(reports.shift()!))
        : undefined,
    );
    await until(() => inputs.length >= 8, 'eight input edges');
    expect(inputs).toEqual([
      ['passed-in', true],
      ['passed-in', false],
      ['forced', true],
      ['fire', true],
      ['tamper', true],
      ['forced', false],
      ['fire', false],
      ['tamper', false],
    ]);
    expect(cp.inputs.get('fire')).toBe(false);
  });

  it('uses a configured input map', async () => {
    const { pd, inputs } = await online({ inputMap: { 5: 'passed-out' } });
    let sent = false;
    pd.script((command, reply) => {
      if (command.code !== OsdpCommand.POLL || sent) return undefined;
      sent = true;
      return reply(OsdpReply.ISTATR, encodeInputStates([true, false, false, false, false, true]));
    });
    await until(() => inputs.length >= 1, 'an input edge');
    expect(inputs).toEqual([['passed-out', true]]);
  });

  it('decodes osdp_RAW Wiegand-26 cards and never reads a parity error as a card number', async () => {
    const { pd, cards, cp } = await online();
    const good = encodeWiegand26({ facility: 90, number: 324 });
    const bits = unpackBits(good.data, 26);
    bits[20] = 1 - bits[20]!;
    const bad = packBits(bits);
    const raws = [good.data, bad];
    pd.script((command, reply) =>
      command.code === OsdpCommand.POLL && raws.length > 0
        ? reply(OsdpReply.RAW, encodeRaw({ reader: 0, format: 1, bitCount: 26, data: raws.shift()! }))
        : undefined,
    );
    await until(() => cards.length >= 2, 'two card reads');
    expect(cards[0]).toEqual({ format: 'wiegand26', bits: 26, facility: 90, number: 324, raw: good.data });
    expect(cards[1]).toEqual({ format: 'raw', bits: 26, raw: bad });
    expect(cp.stats.parityErrors).toBe(1);
  });

  it('ignores a reply with the wrong sequence number and counts it', async () => {
    const { pd, cp } = await online();
    pd.script((command, reply) => {
      if (command.code !== OsdpCommand.OUT) return undefined;
      pd.emit(
        new OsdpFrame({
          address: 0,
          isReply: true,
          sequence: ((command.sequence % 3) + 1) as 1,
          code: 0x40,
        }).toBuffer(),
      );
      return reply(OsdpReply.ACK);
    });
    await cp.unlock('in', 100);
    expect(cp.stats.unexpectedReplies).toBeGreaterThanOrEqual(1);
  });

  it('rejects commands before start and after stop', async () => {
    const pd = createMockPd(PATH);
    const cp = new OsdpControlPanel({ path: PATH, baudRate: 115_200, binding: pd.binding });
    await expect(cp.unlock('in', 100)).rejects.toMatchObject({ code: 'osdp-offline' });
    await expect(cp.buzz(0)).rejects.toBeInstanceOf(RangeError);
    const { cp: running } = await online();
    await running.stop();
    expect(running.status).toBe('absent');
    await expect(running.unlock('in', 100)).rejects.toBeInstanceOf(OsdpOfflineError);
  });
});
