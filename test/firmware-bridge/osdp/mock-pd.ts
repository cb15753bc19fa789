/**
 * A scripted PD on `MockBinding` for control-panel tests: every frame the CP writes is decoded and
 * handed to `respond`, whose answer (if any) is emitted back as received bytes. Unlike the
 * simulator, a test decides each reply, so it can lose one, NAK one or answer out of sequence.
 */
import { MockBinding, type MockPortBinding } from '@serialport/binding-mock';
import { OsdpCommand, OsdpReply } from '../../../firmware-bridge/osdp/codes.ts';
import { OsdpFrame } from '../../../firmware-bridge/osdp/frame.ts';
import { encodeInputStates, encodePdCap, encodePdId } from '../../../firmware-bridge/osdp/replies.ts';
import type { BindingInterface } from '../../../firmware-bridge/serial/port-options.ts';

export type Responder = (command: OsdpFrame, reply: (code: number, data?: Uint8Array) => OsdpFrame) => OsdpFrame | null;

export const IDENTITY = {
  vendorCode: Buffer.from([1, 2, 3]),
  model: 9,
  version: 1,
  serialNumber: 4242,
  firmware: { major: 1, minor: 2, build: 3 },
};

/** Answers like a healthy PD with every input at rest (fire loop closed). */
export const healthy: Responder = (command, reply) => {
  switch (command.code) {
    case OsdpCommand.ID:
      return reply(OsdpReply.PDID, encodePdId(IDENTITY));
    case OsdpCommand.CAP:
      return reply(OsdpReply.PDCAP, encodePdCap([{ function: 1, compliance: 1, count: 5 }]));
    case OsdpCommand.ISTAT:
      return reply(OsdpReply.ISTATR, encodeInputStates([false, false, false, true, false]));
    default:
      return reply(OsdpReply.ACK);
  }
};

export function createMockPd(path: string) {
  MockBinding.createPort(path, { record: true });
  const received: OsdpFrame[] = [];
  const ports: MockPortBinding[] = [];
  const pd = {
    received,
    respond: healthy as Responder,
    /** Answer from now on with this responder, falling back to `healthy` when it returns undefined. */
    script(
      responder: (
        command: OsdpFrame,
        reply: (code: number, data?: Uint8Array) => OsdpFrame,
      ) => OsdpFrame | null | undefined,
    ) {
      pd.respond = (command, reply) => {
        const answer = responder(command, reply);
        return answer === undefined ? healthy(command, reply) : answer;
      };
    },
    /** Emits raw bytes as if the PD sent them. */
    emit(bytes: Buffer) {
      ports[ports.length - 1]!.emitData(bytes);
    },
    binding: {
      list: () => MockBinding.list(),
      open: async (options) => {
        const port = await MockBinding.open(options);
        ports.push(port);
        const write = port.write.bind(port);
        port.write = async (buffer: Buffer) => {
          await write(buffer);
          const command = OsdpFrame.fromBuffer(buffer);
          received.push(command);
          const reply = (code: number, data: Uint8Array = Buffer.alloc(0)) =>
            new OsdpFrame({ address: command.address, isReply: true, sequence: command.sequence, code, data });
          const answer = pd.respond(command, reply);
          if (answer) setImmediate(() => port.isOpen && port.emitData(answer.toBuffer()));
        };
        return port;
      },
    } satisfies BindingInterface,
  };
  return pd;
}

export async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
