import { afterEach, describe, expect, it } from 'vitest';
import { decodeReadReplyData, SamvFrame, type SamvCommandName } from '../../../firmware-bridge/idreader/frame.ts';
import { SamvParser } from '../../../firmware-bridge/idreader/parser.ts';
import { IdCardReaderSimulator, samplePhoto } from '../../../firmware-bridge/idreader/simulator.ts';
import { decodeTextBlock, type TextBlockInput } from '../../../firmware-bridge/idreader/text-block.ts';
import { ManagedSerialPort } from '../../../firmware-bridge/serial/managed-port.ts';
import {
  createVirtualSerialPair,
  resetVirtualPorts,
  VirtualBinding,
} from '../../../firmware-bridge/testing/virtual-binding.ts';

const CARD: TextBlockInput = {
  name: '张三明',
  sex: 'male',
  nationCode: '01',
  birthDate: '1949-12-31',
  address: '北京市朝阳区',
  idNumber: '11010519491231002X',
  authority: '北京市公安局朝阳分局',
  validFrom: '2015-06-01',
  validTo: null,
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
  resetVirtualPorts();
});

/** The simulator on one end of a virtual pair, and a raw host on the other that sends bytes and collects reply frames. */
async function rig(name: string) {
  const { a, b } = createVirtualSerialPair(name);
  const simulator = new IdCardReaderSimulator({ path: b, baudRate: 115200, binding: VirtualBinding });
  const parser = new SamvParser();
  const host = new ManagedSerialPort({ path: a, baudRate: 115200, binding: VirtualBinding, parser });
  const replies: SamvFrame[] = [];
  parser.on('data', (frame: SamvFrame) => replies.push(frame));
  await simulator.start();
  await host.start();
  cleanups.push(async () => {
    await host.stop();
    await simulator.stop();
  });
  /** Sends bytes and resolves with the next reply frame. */
  const send = async (bytes: Buffer): Promise<SamvFrame> => {
    const count = replies.length;
    await host.write(bytes);
    const deadline = Date.now() + 2_000;
    while (replies.length === count) {
      if (Date.now() > deadline) throw new Error('no reply from the simulator');
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    return replies[count]!;
  };
  const command = (name: SamvCommandName) => send(SamvFrame.namedCommand(name).toBuffer());
  return { simulator, send, command };
}

describe('IdCardReaderSimulator', () => {
  it('answers the SAM commands: reset and status 90, read id 90 + 16 bytes', async () => {
    const { command } = await rig('sam');
    expect((await command('resetSam')).toBuffer()).toEqual(Buffer.from('aaaaaa9669000400009094', 'hex'));
    expect((await command('samStatus')).sw3).toBe(0x90);
    const id = await command('readSamId');
    expect([id.sw3, id.replyData.length]).toEqual([0x90, 16]);
  });

  it('with no card: find 80, select 81, read 41', async () => {
    const { command } = await rig('empty');
    expect((await command('findCard')).toBuffer()).toEqual(Buffer.from('aaaaaa9669000400008084', 'hex'));
    expect((await command('selectCard')).toBuffer()).toEqual(Buffer.from('aaaaaa9669000400008185', 'hex'));
    expect((await command('readTextPhoto')).toBuffer()).toEqual(Buffer.from('aaaaaa9669000400004145', 'hex'));
  });

  it('runs find → select → read, then refuses to find the card until it is lifted and laid again', async () => {
    const { simulator, command } = await rig('cycle');
    simulator.presentCard(CARD);
    const found = await command('findCard');
    expect(found.toBuffer()).toEqual(Buffer.from('aaaaaa9669000800009f0000000097', 'hex'));
    expect((await command('selectCard')).body).toEqual(Buffer.from('000090' + '00'.repeat(8), 'hex'));
    const read = await command('readTextPhoto');
    expect(read.toBuffer().length).toBe(1295);
    const blocks = decodeReadReplyData(read.replyData, 'text-photo');
    expect(blocks.photo).toEqual(samplePhoto());
    expect(decodeTextBlock(blocks.text)).toMatchObject({ ok: true, card: { name: '张三明', validTo: null } });
    expect((await command('findCard')).sw3).toBe(0x80);
    simulator.removeCard();
    expect((await command('findCard')).sw3).toBe(0x80);
    simulator.presentCard(CARD);
    expect((await command('findCard')).sw3).toBe(0x9f);
  });

  it('a read without select fails (41); select without find fails (81)', async () => {
    const { simulator, command } = await rig('order');
    simulator.presentCard(CARD);
    expect((await command('selectCard')).sw3).toBe(0x81);
    expect((await command('readTextPhoto')).sw3).toBe(0x41);
    expect((await command('findCard')).sw3).toBe(0x9f);
    expect((await command('readTextPhoto')).sw3).toBe(0x41);
  });

  it('answers 30 10 with three lengths and a fingerprint block', async () => {
    const { simulator, command } = await rig('fingerprint');
    simulator.presentCard({ ...CARD, fingerprint: Buffer.alloc(1024, 0xf1) });
    await command('findCard');
    await command('selectCard');
    const read = await command('readTextPhotoFingerprint');
    expect(read.toBuffer().subarray(10, 16)).toEqual(Buffer.from('010004000400', 'hex'));
    expect(decodeReadReplyData(read.replyData, 'text-photo-fingerprint').fingerprint).toEqual(Buffer.alloc(1024, 0xf1));
  });

  it('answers a bad checksum with SW3 10, an unknown command with 21, set-baud with 90', async () => {
    const { send } = await rig('errors');
    expect((await send(Buffer.from('aaaaaa96690003200123', 'hex'))).sw3).toBe(0x10);
    expect((await send(SamvFrame.command(0x55, 0x01).toBuffer())).sw3).toBe(0x21);
    expect((await send(SamvFrame.setBaudCommand(9600).toBuffer())).sw3).toBe(0x90);
    expect((await send(SamvFrame.command(0x60, 0x05).toBuffer())).sw3).toBe(0x21);
  });

  it('answers an oversized LEN with SW3 11', async () => {
    const { send } = await rig('length');
    expect((await send(Buffer.from('aaaaaa9669ffff', 'hex'))).sw3).toBe(0x11);
  });
});
