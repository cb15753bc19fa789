import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type IdCard, IdCardReaderDriver } from '../../../firmware-bridge/idreader/driver.ts';
import { parseIdCardReaderSimFlags, runSimulatorCli, simulatedCard } from '../../../cli/sim/idreader-sim.ts';
import {
  createVirtualSerialPair,
  resetVirtualPorts,
  VirtualBinding,
} from '../../../firmware-bridge/testing/virtual-binding.ts';
import { validateIdNumber } from '../../../shared/id-number.ts';
import { silentLogger } from '../../../shared/log.ts';
import { openPtyPair, type PtyPair } from '../../../testkit/socat.ts';

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
  resetVirtualPorts();
});

function readerDriver(path: string, binding?: typeof VirtualBinding) {
  const driver = new IdCardReaderDriver({
    path,
    baudRate: 115200,
    binding,
    pollIntervalMs: 20,
    unsafeFastPollingForTests: true,
  });
  const cards: IdCard[] = [];
  driver.on('card', (card) => cards.push(card));
  driver.on('error', () => {});
  cleanups.push(() => driver.stop());
  return { driver, cards };
}

describe('anxin sim idreader flags', () => {
  it('accepts the documented flags with their defaults', () => {
    expect(parseIdCardReaderSimFlags(['--port', '/tmp/x'])).toEqual({
      flags: { path: '/tmp/x', baudRate: 115200, intervalMs: 3000 },
    });
    expect(
      parseIdCardReaderSimFlags([
        'idreader',
        '--port',
        'p',
        '--baud',
        '9600',
        '--id',
        '11010519491231002x',
        '--name',
        '张三',
        '--interval',
        '1500',
      ]),
    ).toEqual({
      flags: { path: 'p', baudRate: 9600, idNumber: '11010519491231002X', name: '张三', intervalMs: 1500 },
    });
  });

  it.each([
    [[], 'port: required (--port PATH)'],
    [['--port', 'p', '--baud', '4800'], 'baud: must be one of 115200, 57600, 38400, 19200, 9600, got "4800"'],
    [['--port', 'p', '--id', '12345'], 'id: must be 17 digits and a check character (0-9 or X), got "12345"'],
    [['--port', 'p', '--name', '很'.repeat(16)], expect.stringMatching(/^name: must be 1 to 15 characters/)],
    [['--port', 'p', '--interval', '1000'], 'interval: must be an integer above 1000 (ms), got "1000"'],
    [['--port', 'p', '--colour', 'red'], expect.stringMatching(/Unknown option '--colour'/)],
    [['--port', 'p', 'extra'], 'unexpected argument "extra"'],
  ])('refuses %j', (argv, problem) => {
    expect(parseIdCardReaderSimFlags(argv as string[])).toEqual({ problems: [problem] });
  });

  it('exits 2 with one line per problem', async () => {
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    expect(await runSimulatorCli(['--baud', 'x', '--interval', '5'], { stderr })).toBe(2);
    expect(text.trim().split('\n')).toEqual([
      'anxin sim idreader: port: required (--port PATH)',
      'anxin sim idreader: baud: must be one of 115200, 57600, 38400, 19200, 9600, got "x"',
      'anxin sim idreader: interval: must be an integer above 1000 (ms), got "5"',
    ]);
  });

  it('generates plausible cards with valid ID numbers, 长期 for the elderly', () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    for (let i = 0; i < 50; i++) {
      const card = simulatedCard(random);
      const check = validateIdNumber(card.idNumber);
      expect(check.ok).toBe(true);
      if (check.ok) expect([card.birthDate, card.sex]).toEqual([check.birthDate, check.sex]);
      expect(card.validTo === null).toBe(Number(card.birthDate.slice(0, 4)) < 1970);
    }
    expect(simulatedCard(random, '110105194912310021', '张三')).toMatchObject({
      birthDate: '1949-12-31',
      sex: 'female',
      validTo: null,
    });
  });
});

describe('anxin sim idreader running', () => {
  it('lays a card at once and every interval; a driver on the other end reads it; stops when told (exit 0)', async () => {
    const { a, b } = createVirtualSerialPair('sim-cli');
    const { driver, cards } = readerDriver(a, VirtualBinding);
    await driver.start();
    let stop!: () => void;
    const exit = runSimulatorCli(['--port', b, '--id', '11010519491231002X', '--name', '张三', '--interval', '1100'], {
      binding: VirtualBinding,
      logger: silentLogger,
      until: new Promise<void>((resolve) => {
        stop = resolve;
      }),
    });
    await until(() => cards.length === 1, 'the first card');
    expect(cards[0]).toMatchObject({ idNumber: '11010519491231002X', name: '张三', idNumberValid: true });
    await until(() => cards.length === 2, 'the same card laid again after the interval', 5_000);
    stop();
    expect(await exit).toBe(0);
  });

  it('as a process on a socat pty: `anxin sim idreader` serves a card and exits 0 on SIGTERM', async () => {
    const pty: PtyPair = await openPtyPair();
    cleanups.push(() => pty.close());
    const { driver, cards } = readerDriver(pty.a);
    await driver.start();
    const bin = fileURLToPath(new URL('../../../bin/anxin.mjs', import.meta.url));
    const child = spawn(process.execPath, [bin, 'sim', 'idreader', '--port', pty.b, '--name', '李娜'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ANXIN_LOG_LEVEL: 'warn' },
    });
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    await until(() => cards.length === 1, 'a card from the simulator process', 15_000);
    expect(cards[0]).toMatchObject({ name: '李娜', kind: 'resident-id', idNumberValid: true });
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await exited;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });
});
