/**
 * One gate with simulated devices — the gate of `anxin demo` (cli/demo/demo-system.ts), of the
 * integration suites and of the benchmarks: an edge agent whose ID-card reader, QR scanner and
 * OSDP turnstile are the device simulators at the far end of serial pairs, so the real drivers,
 * parsers and OSDP control panel run. The pairs are in-process virtual ports unless `serial` makes
 * them otherwise (the demo's `--pty` passes socat ptys: this file starts no outside program, so a
 * suite using it stays in the unit lane).
 *
 *   const gate = await startSimulatedGate({ gateId, compoundId, direction: 'in', mqttUrl, token, keys, dataDir });
 *   const passage = await gate.scanQr(passText);      // resolves once decided and, if granted, passed
 *   const denied = await gate.swipeIdCard(card);
 *   await gate.stop();
 */
import type { BindingInterface } from '@serialport/bindings-interface';
import { type EdgeConfigInput, parseEdgeConfig } from '../edge-agent/config.ts';
import type { Decision } from '../edge-agent/decision.ts';
import { createEdgeAgent, type EdgeAgent } from '../edge-agent/edge-agent.ts';
import { IdCardReaderSimulator, type SimulatedCard } from '../firmware-bridge/idreader/simulator.ts';
import { OsdpTurnstileSimulator, SIMULATOR_PULSE_MS } from '../firmware-bridge/osdp/simulator.ts';
import { QrScannerSimulator } from '../firmware-bridge/qr/simulator.ts';
import { createVirtualSerialPair, VirtualBinding } from '../firmware-bridge/testing/virtual-binding.ts';
import type { Direction } from '../shared/enums.ts';
import type { KeysFile } from '../shared/keys.ts';
import { type Logger, silentLogger } from '../shared/log.ts';
import type { EntryEvent } from '../shared/schemas/mqtt.ts';

/** Generous bound for one read → decision → turnstile round on virtual ports. */
const DECISION_TIMEOUT_MS = 10_000;
/** Reader poll interval: the smallest docs/devices.md allows, so presentations are read quickly. */
const ID_READER_POLL_MS = 300;
/**
 * The driver reports the same card again only after 2 "no card" answers in a row
 * (driver.ts, `absentAfterMisses`). Seeing a third find proves it has processed the second answer.
 */
const FINDS_UNTIL_EMPTY_SEEN = 3;
const FIND_COMMAND = '2001';
/**
 * The simulator reports a passage as a `SIMULATOR_PULSE_MS` pulse on the "passed" contact and
 * merges a pulse into one still active: a passage due within the previous pulse would be lost.
 * A delay longer than the pulse keeps consecutive passages apart.
 */
const DEFAULT_PASS_DELAY_MS = SIMULATOR_PULSE_MS + 100;

export interface SimulatedGateOptions {
  gateId: string;
  compoundId: string;
  /** Which way people pass this lane (reader, scanner and OSDP cards). */
  direction: Direction;
  mqttUrl: string;
  /** The gate's device token (as returned by `POST /api/v1/gates`). */
  token: string;
  /** The deployment's keys file; only the public keys and the pepper are handed to the gate. */
  keys: KeysFile;
  /** Directory of the gate's SQLite file. */
  dataDir: string;
  /** Unique within the process: names the virtual serial pairs. */
  portPrefix: string;
  /**
   * `test` (default): fast reconnects, short ack and sync retries, the quickest reader poll and
   * passages `DEFAULT_PASS_DELAY_MS` apart, so suites wait little. `live`: the gate's own defaults,
   * as a person watching the demo sees it.
   */
  pace?: 'test' | 'live';
  /** Time from unlock to the turnstile's "passed" input (default: `DEFAULT_PASS_DELAY_MS` at test pace). */
  passDelayMs?: number;
  /** Where the gate's terminal listens (default: a free port on 127.0.0.1). */
  http?: { port: number; host: string };
  /** The terminal's guards (gate.json `terminal`). */
  terminal?: EdgeConfigInput['terminal'];
  /** The serial pairs and the binding that opens them (default: in-process virtual pairs). */
  serial?: SerialPairs;
  logger?: Logger;
}

/** One serial line: the gate opens `a`, the device simulator `b`. */
export interface SerialPair {
  a: string;
  b: string;
  /** Called when the gate stops (a socat pty pair is closed). */
  close?(): Promise<void>;
}

export type SimulatedDevice = 'idreader' | 'qr' | 'turnstile';

/** How a simulated gate's serial lines are made, and the binding both ends open them with. */
export interface SerialPairs {
  pair(device: SimulatedDevice): Promise<SerialPair>;
  /** The serialport binding (undefined: the operating system's, for real ptys). */
  binding: BindingInterface | undefined;
}

/** In-process virtual pairs named `<prefix>-<device>` (firmware-bridge/testing/virtual-binding.ts). */
export function virtualSerialPairs(prefix: string): SerialPairs {
  return { pair: async (device) => createVirtualSerialPair(`${prefix}-${device}`), binding: VirtualBinding };
}

/** A journaled decision, with `passed` as it was once the turnstile confirmed (or timed out). */
export interface GatePassage {
  event: EntryEvent;
  decision: Decision;
}

export interface SimulatedGate {
  readonly gateId: string;
  readonly agent: EdgeAgent;
  readonly idSim: IdCardReaderSimulator;
  readonly qrSim: QrScannerSimulator;
  readonly turnstileSim: OsdpTurnstileSimulator;
  /** The serial pairs, by device. */
  readonly ports: Readonly<Record<SimulatedDevice, SerialPair>>;
  /** The scanner reads `text`; resolves with the journaled decision once the passage is over. */
  scanQr(text: string): Promise<GatePassage>;
  /** A card is laid on the reader until it is decided, then lifted; resolves once the passage is over. */
  swipeIdCard(card: SimulatedCard): Promise<GatePassage>;
  /** Resolves once every device of the gate reports `ok`. */
  devicesReady(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Resolves once `check()` returns a value other than undefined/false; polls every 20 ms. */
async function until<T>(
  check: () => T | undefined | false,
  what: string | (() => string),
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The three device simulators on the far ends of the gate's serial pairs, started. */
async function startDeviceSimulators(options: SimulatedGateOptions, logger: Logger) {
  const serial = options.serial ?? virtualSerialPairs(options.portPrefix);
  const bindingOption = serial.binding ? { binding: serial.binding } : {};
  const ports: Record<SimulatedDevice, SerialPair> = {
    idreader: await serial.pair('idreader'),
    qr: await serial.pair('qr'),
    turnstile: await serial.pair('turnstile'),
  };
  const passDelayMs = options.passDelayMs ?? (options.pace === 'live' ? undefined : DEFAULT_PASS_DELAY_MS);
  const idSim = new IdCardReaderSimulator({ path: ports.idreader.b, baudRate: 115200, ...bindingOption, logger });
  const qrSim = new QrScannerSimulator({ path: ports.qr.b, baudRate: 9600, suffix: 'cr', ...bindingOption });
  const turnstileSim = new OsdpTurnstileSimulator({
    path: ports.turnstile.b,
    baudRate: 115200,
    ...bindingOption,
    ...(passDelayMs === undefined ? {} : { passDelayMs }),
  });
  const sims = [idSim, qrSim, turnstileSim];
  const closePorts = () => Promise.allSettled(Object.values(ports).map((p) => p.close?.()));
  const stop = async () => {
    await Promise.allSettled(sims.map((s) => s.stop()));
    await closePorts();
  };
  try {
    await Promise.all(sims.map((s) => s.start()));
  } catch (error) {
    await stop();
    throw error;
  }
  return { ports, idSim, qrSim, turnstileSim, binding: serial.binding, stop };
}

/** gate.json of a simulated gate: its devices on the `a` ends, at the pace asked for. */
function simulatedGateConfig(options: SimulatedGateOptions, ports: Record<SimulatedDevice, SerialPair>, os: boolean) {
  const { direction, keys } = options;
  const test = options.pace !== 'live';
  return parseEdgeConfig({
    gateId: options.gateId,
    compoundId: options.compoundId,
    mqtt: { url: options.mqttUrl, token: options.token, ...(test ? { reconnectMs: 200 } : {}) },
    keys: { ...keys, keys: keys.keys.map(({ kid, publicKey }) => ({ kid, publicKey })) },
    dataDir: options.dataDir,
    http: options.http ?? { port: 0, host: '127.0.0.1' },
    binding: os ? 'os' : 'virtual',
    devices: {
      idreader: {
        path: ports.idreader.a,
        baudRate: 115200,
        direction,
        ...(test ? { pollIntervalMs: ID_READER_POLL_MS } : {}),
      },
      qr: { path: ports.qr.a, baudRate: 9600, direction },
      turnstile: { path: ports.turnstile.a, baudRate: 115200, cardDirection: direction },
    },
    // A lost event or sync answer is sent again soon, not after the production 30 s / 15 s.
    ...(test ? { timeouts: { ackMs: 2_000, syncRetryMs: 2_000 } } : {}),
    journal: { synchronous: 'normal' },
    ...(options.terminal ? { terminal: options.terminal } : {}),
  });
}

/** The next decision `agent` journals; register before the credential is presented. */
function nextJournaledDecision(agent: EdgeAgent, gateId: string, what: string): Promise<GatePassage> {
  return new Promise<GatePassage>((resolve, reject) => {
    const timer = setTimeout(() => {
      agent.off('decision', onDecision);
      reject(new Error(`gate ${gateId}: no decision for ${what} within ${DECISION_TIMEOUT_MS} ms`));
    }, DECISION_TIMEOUT_MS);
    function onDecision(event: EntryEvent | undefined, decision: Decision) {
      clearTimeout(timer);
      agent.off('decision', onDecision);
      if (event) resolve({ event, decision });
      else reject(new Error(`gate ${gateId}: ${what} was decided but not journaled`));
    }
    agent.on('decision', onDecision);
  });
}

/**
 * A granted passage is over once the gate stopped waiting for the turnstile (confirmed or timed
 * out) and the turnstile's contacts are back at rest (`restInputs`), ready to report the next passage.
 */
async function passageEnded(
  agent: EdgeAgent,
  gateId: string,
  { event, decision }: GatePassage,
  turnstileSim: OsdpTurnstileSimulator,
  restInputs: string,
): Promise<GatePassage> {
  const scan = await until(
    () => agent.state().lastScans.find((s) => s.seq === event.seq && !s.waiting),
    `gate ${gateId}: the end of passage ${event.seq}`,
    DECISION_TIMEOUT_MS,
  );
  await until(
    () => JSON.stringify(turnstileSim.inputs) === restInputs,
    `gate ${gateId}: the turnstile at rest after passage ${event.seq}`,
    DECISION_TIMEOUT_MS,
  );
  return { event: { ...event, passed: scan.passed }, decision };
}

export async function startSimulatedGate(options: SimulatedGateOptions): Promise<SimulatedGate> {
  const { gateId } = options;
  const logger = (options.logger ?? silentLogger).child({ gateId });
  const devices = await startDeviceSimulators(options, logger);
  const { idSim, qrSim, turnstileSim, ports } = devices;
  /** The turnstile's contacts at rest (fire loop closed, nothing passing). */
  const restInputs = JSON.stringify(turnstileSim.inputs);

  const agent = createEdgeAgent(simulatedGateConfig(options, ports, devices.binding === undefined), {
    logger,
    ...(devices.binding ? { binding: devices.binding } : {}),
  });
  try {
    await agent.start();
  } catch (error) {
    await devices.stop();
    throw error;
  }

  /** Find commands the reader had answered when the last card was lifted (undefined: none lifted yet). */
  let findsAtLift: number | undefined;
  const finds = () => idSim.counters[FIND_COMMAND] ?? 0;

  const nextDecision = (what: string) => nextJournaledDecision(agent, gateId, what);
  const passageOver = (passage: GatePassage) => passageEnded(agent, gateId, passage, turnstileSim, restInputs);

  return {
    gateId,
    agent,
    idSim,
    qrSim,
    turnstileSim,
    ports,

    async scanQr(text) {
      const decided = nextDecision('a QR scan');
      await qrSim.scan(text);
      return passageOver(await decided);
    },

    async swipeIdCard(card) {
      if (findsAtLift !== undefined) {
        const lifted = findsAtLift;
        await until(
          () => finds() >= lifted + FINDS_UNTIL_EMPTY_SEEN,
          `gate ${gateId}: the reader seen empty after the last card`,
          DECISION_TIMEOUT_MS,
        );
      }
      const decided = nextDecision('an ID card');
      idSim.presentCard(card);
      let passage: GatePassage;
      try {
        passage = await decided;
      } finally {
        idSim.removeCard();
        findsAtLift = finds();
      }
      return passageOver(passage);
    },

    async devicesReady(timeoutMs = DECISION_TIMEOUT_MS) {
      await until(
        () => Object.values(agent.state().devices).every((s) => s === 'ok'),
        () => `gate ${gateId}: every device ok (now ${JSON.stringify(agent.state().devices)})`,
        timeoutMs,
      );
    },

    async stop() {
      await agent.stop();
      await devices.stop();
    },
  };
}
