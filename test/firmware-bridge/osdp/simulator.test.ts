import { MockBinding, type MockPortBinding } from '@serialport/binding-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { OsdpCommand, OsdpNakReason, OsdpReply } from '../../../firmware-bridge/osdp/codes.ts';
import { encodeBuz, encodeLed, encodeOut, OutputControl } from '../../../firmware-bridge/osdp/commands.ts';
import { crc16 } from '../../../firmware-bridge/osdp/crc.ts';
import { OsdpFrame, type OsdpSequence } from '../../../firmware-bridge/osdp/frame.ts';
import { decodeInputStates, decodePdCap, decodePdId, decodeRaw } from '../../../firmware-bridge/osdp/replies.ts';
import { OsdpTurnstileSimulator, SIMULATOR_PULSE_MS } from '../../../firmware-bridge/osdp/simulator.ts';
import { decodeWiegand26 } from '../../../firmware-bridge/osdp/wiegand.ts';
import type { BindingInterface } from '../../../firmware-bridge/serial/port-options.ts';
import { until } from './mock-pd.ts';

const PATH = '/dev/ttySIM';
const sims: OsdpTurnstileSimulator[] = [];

afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.stop()));
  MockBinding.reset();
});

/** A simulator on MockBinding and a hand-driven control panel: `send` writes a command and returns the reply. */
async function simulator(
  options: { passDelayMs?: number; behaviour?: 'pass' | 'timeout' | 'forced' | 'tailgate' } = {},
) {
  MockBinding.createPort(PATH);
  const replies: OsdpFrame[] = [];
  let port: MockPortBinding | undefined;
  const binding: BindingInterface = {
    list: () => MockBinding.list(),
    open: async (opts) => {
      const opened = await MockBinding.open(opts);
      const write = opened.write.bind(opened);
      opened.write = async (buffer: Buffer) => {
        await write(buffer);
        replies.push(OsdpFrame.fromBuffer(buffer));
      };
      port = opened;
      return opened;
    },
  };
  const sim = new OsdpTurnstileSimulator({ path: PATH, baudRate: 115_200, binding, ...options });
  sims.push(sim);
  await sim.start();
  let sequence: OsdpSequence = 0;
  const sendBytes = async (bytes: Buffer) => {
    const before = replies.length;
    port!.emitData(bytes);
    await until(() => replies.length > before, 'a reply');
    return replies[replies.length - 1]!;
  };
  const send = (code: number, data: Uint8Array = Buffer.alloc(0), seq: OsdpSequence = sequence) => {
    sequence = seq === 3 ? 1 : ((seq + 1) as OsdpSequence);
    return sendBytes(new OsdpFrame({ address: 0, sequence: seq, code, data }).toBuffer());
  };
  return { sim, send, sendBytes, replies };
}

const inputsOf = (reply: OsdpFrame) => {
  expect(reply.code).toBe(OsdpReply.ISTATR);
  return decodeInputStates(reply.data);
};

describe('OsdpTurnstileSimulator', () => {
  it('answers ID, CAP, ISTAT and OSTAT, echoing the sequence number and setting the reply bit', async () => {
    const { send } = await simulator();
    const id = await send(OsdpCommand.ID, Buffer.from([0]));
    expect(id).toMatchObject({ code: OsdpReply.PDID, isReply: true, address: 0, sequence: 0 });
    expect(decodePdId(id.data).serialNumber).toBe(0x10000);
    const cap = await send(OsdpCommand.CAP, Buffer.from([0]));
    expect(decodePdCap(cap.data)).toContainEqual({ function: 1, compliance: 1, count: 5 });
    expect(cap.sequence).toBe(1);
    expect(inputsOf(await send(OsdpCommand.ISTAT))).toEqual([false, false, false, true, false]);
    const ostat = await send(OsdpCommand.OSTAT);
    expect(ostat.code).toBe(OsdpReply.OSTATR);
  });

  it('ACKs a POLL when nothing changed', async () => {
    const { send } = await simulator();
    await send(OsdpCommand.ID, Buffer.from([0]));
    expect((await send(OsdpCommand.POLL)).code).toBe(OsdpReply.ACK);
  });

  it('emits unlock with a high-resolution time and reports the pass after the delay, both edges in order', async () => {
    const { sim, send } = await simulator({ passDelayMs: 20 });
    const unlocks: Array<[string, bigint]> = [];
    sim.on('unlock', (direction, at) => unlocks.push([direction, at]));
    await send(OsdpCommand.ID, Buffer.from([0]));
    const before = process.hrtime.bigint();
    const ack = await send(OsdpCommand.OUT, encodeOut([{ output: 1, control: OutputControl.TEMPORARY_ON, timer: 10 }]));
    expect(ack.code).toBe(OsdpReply.ACK);
    expect(unlocks).toHaveLength(1);
    expect(unlocks[0]![0]).toBe('out');
    expect(unlocks[0]![1]).toBeGreaterThanOrEqual(before);
    expect(sim.outputs[1]).toBe(true);
    await until(() => sim.stats.passes === 1, 'the pass');
    // Even if the pulse is over before the next poll, both edges are reported.
    await new Promise((r) => setTimeout(r, SIMULATOR_PULSE_MS + 20));
    expect(inputsOf(await send(OsdpCommand.POLL))).toEqual([false, true, false, true, false]);
    expect(inputsOf(await send(OsdpCommand.POLL))).toEqual([false, false, false, true, false]);
    expect((await send(OsdpCommand.POLL)).code).toBe(OsdpReply.ACK);
  });

  it('reports two passages whose pulses overlap as two, not one', async () => {
    const { sim, send } = await simulator({ passDelayMs: 20 });
    await send(OsdpCommand.ID, Buffer.from([0]));
    const unlock = () =>
      send(OsdpCommand.OUT, encodeOut([{ output: 1, control: OutputControl.TEMPORARY_ON, timer: 10 }]));
    await unlock();
    await until(() => sim.stats.passes === 1, 'the first pass');
    // The first pulse is still on when the second passage comes due.
    await unlock();
    await until(() => sim.stats.passes === 2, 'the second pass');
    await new Promise((r) => setTimeout(r, SIMULATOR_PULSE_MS + 40));
    const passedOut: boolean[] = [];
    for (;;) {
      const reply = await send(OsdpCommand.POLL);
      if (reply.code === OsdpReply.ACK) break;
      passedOut.push(inputsOf(reply)[1]!);
    }
    expect(passedOut).toEqual([true, false, true, false]);
  });

  it('reports the fire loop opening and tamper, and a presented card as osdp_RAW', async () => {
    const { sim, send } = await simulator();
    await send(OsdpCommand.ID, Buffer.from([0]));
    sim.setFireAlarm(true);
    sim.setTamper(true);
    sim.presentCard(90, 324);
    expect(inputsOf(await send(OsdpCommand.POLL))).toEqual([false, false, false, false, false]);
    expect(inputsOf(await send(OsdpCommand.POLL))).toEqual([false, false, false, false, true]);
    const raw = await send(OsdpCommand.POLL);
    expect(raw.code).toBe(OsdpReply.RAW);
    const card = decodeRaw(raw.data);
    expect(decodeWiegand26(card.data, card.bitCount)).toEqual({ ok: true, facility: 90, number: 324 });
  });

  it('honours a repeated sequence number by resending its last reply without acting twice', async () => {
    const { sim, send } = await simulator({ behaviour: 'timeout' });
    await send(OsdpCommand.ID, Buffer.from([0]), 0);
    const out = encodeOut([{ output: 0, control: OutputControl.TEMPORARY_ON, timer: 5 }]);
    const first = await send(OsdpCommand.OUT, out, 1);
    const again = await send(OsdpCommand.OUT, out, 1);
    expect(again.toBuffer()).toEqual(first.toBuffer());
    expect(sim.stats.unlocks).toBe(1);
    expect(sim.stats.repeats).toBe(1);
  });

  it('NAKs an unknown command (3), a bad CRC (1), a bad length (2), a security block (5) and a skipped sequence (4)', async () => {
    const { send, sendBytes } = await simulator();
    await send(OsdpCommand.ID, Buffer.from([0]), 0);
    const nak = (reply: OsdpFrame) => [reply.code, reply.data[0]];
    expect(nak(await send(OsdpCommand.TEXT, Buffer.from('hi'), 1))).toEqual([
      OsdpReply.NAK,
      OsdpNakReason.UNKNOWN_COMMAND,
    ]);
    const damaged = new OsdpFrame({ address: 0, sequence: 2, code: OsdpCommand.POLL }).toBuffer();
    damaged[6] = damaged[6]! ^ 0x01;
    expect(nak(await sendBytes(damaged))).toEqual([OsdpReply.NAK, OsdpNakReason.CHECK_CHARACTER]);
    expect(nak(await send(OsdpCommand.BUZ, Buffer.from([0, 2, 1]), 2))).toEqual([
      OsdpReply.NAK,
      OsdpNakReason.COMMAND_LENGTH,
    ]);
    const secure = Buffer.from('53000a000f02116000' + '00', 'hex');
    secure.writeUInt16LE(crc16(secure, 0, 8), 8);
    expect(nak(await sendBytes(secure))).toEqual([OsdpReply.NAK, OsdpNakReason.SECURE_CHANNEL_UNSUPPORTED]);
    expect(nak(await send(OsdpCommand.POLL, Buffer.alloc(0), 1))).toEqual([OsdpReply.NAK, OsdpNakReason.SEQUENCE]);
    // Sequence 0 always restarts the conversation.
    expect((await send(OsdpCommand.POLL, Buffer.alloc(0), 0)).code).toBe(OsdpReply.ACK);
  });

  it('acts out tailgating (two passes) and forced passage (intrusion with the pass contact)', async () => {
    const { sim, send } = await simulator({ passDelayMs: 0, behaviour: 'tailgate' });
    await send(OsdpCommand.ID, Buffer.from([0]));
    await send(OsdpCommand.OUT, encodeOut([{ output: 0, control: OutputControl.TEMPORARY_ON, timer: 5 }]));
    await until(() => sim.stats.passes === 2 && sim.inputs[0] === false, 'two passes', 3_000);
    sim.setBehaviour('forced');
    sim.forcePassage('in');
    const states: boolean[][] = [];
    for (;;) {
      const reply = await send(OsdpCommand.POLL);
      if (reply.code !== OsdpReply.ISTATR) break;
      states.push(decodeInputStates(reply.data));
    }
    expect(states.slice(0, 4).map((s) => s[0])).toEqual([true, false, true, false]);
    expect(states[4]).toEqual([true, false, true, true, false]);
    expect(() => sim.setBehaviour('dance' as 'pass')).toThrow(/behaviour/);
  });

  it('shows LED and buzzer commands to the test', async () => {
    const { sim, send } = await simulator();
    const seen: string[] = [];
    sim.on('led', (led) => seen.push(`led ${led.temporary.onColour}`));
    sim.on('buzz', (buz) => seen.push(`buzz ${buz.count}`));
    await send(OsdpCommand.ID, Buffer.from([0]));
    const led = {
      reader: 0,
      led: 0,
      temporary: { control: 2 as const, onTime: 1, offTime: 0, onColour: 2, offColour: 2, timer: 10 },
      permanent: { control: 0 as const, onTime: 0, offTime: 0, onColour: 0, offColour: 0 },
    };
    expect((await send(OsdpCommand.LED, encodeLed([led]))).code).toBe(OsdpReply.ACK);
    expect((await send(OsdpCommand.BUZ, encodeBuz({ reader: 0, tone: 2, onTime: 1, offTime: 1, count: 3 }))).code).toBe(
      OsdpReply.ACK,
    );
    expect(seen).toEqual(['led 2', 'buzz 3']);
  });
});
