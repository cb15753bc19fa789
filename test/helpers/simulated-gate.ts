/**
 * One gate as `anxin demo` builds it (cli/demo/demo-system.ts): an edge agent whose ID-card
 * reader, QR scanner and OSDP turnstile are the device simulators at the far end of in-process
 * virtual serial pairs, so the real drivers, parsers and OSDP control panel run. For suites that
 * need gates next to a real broker and cloud.
 *
 *   const gate = await startSimulatedGate({ gateId, compoundId, direction: 'in', mqttUrl, token, keys, dataDir });
 *   const passage = await gate.scanQr(passText);      // resolves once decided and, if granted, passed
 *   const denied = await gate.swipeIdCard(card);
 *   await gate.stop();
 */
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import type { Decision } from '../../edge-agent/decision.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { IdCardReaderSimulator, type SimulatedCard } from '../../firmware-bridge/idreader/simulator.ts';
import { OsdpTurnstileSimulator, SIMULATOR_PULSE_MS } from '../../firmware-bridge/osdp/simulator.ts';
import { QrScannerSimulator } from '../../firmware-bridge/qr/simulator.ts';
import { createVirtualSerialPair, VirtualBinding } from '../../firmware-bridge/testing/virtual-binding.ts';
import type { Direction } from '../../shared/enums.ts';
import type { KeysFile } from '../../shared/keys.ts';
import { type Logger, silentLogger } from '../../shared/log.ts';
import type { EntryEvent } from '../../shared/schemas/mqtt.ts';

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
  /** Time from unlock to the turnstile's "passed" input (default `DEFAULT_PASS_DELAY_MS`). */
  passDelayMs?: number;
  logger?: Logger;
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

export async function startSimulatedGate(options: SimulatedGateOptions): Promise<SimulatedGate> {
  const { gateId, direction } = options;
  const logger = (options.logger ?? silentLogger).child({ gateId });
  const idPorts = createVirtualSerialPair(`${options.portPrefix}-idreader`);
  const qrPorts = createVirtualSerialPair(`${options.portPrefix}-qr`);
  const turnstilePorts = createVirtualSerialPair(`${options.portPrefix}-turnstile`);

  const idSim = new IdCardReaderSimulator({ path: idPorts.b, baudRate: 115200, binding: VirtualBinding, logger });
  const qrSim = new QrScannerSimulator({ path: qrPorts.b, baudRate: 9600, suffix: 'cr', binding: VirtualBinding });
  const turnstileSim = new OsdpTurnstileSimulator({
    path: turnstilePorts.b,
    baudRate: 115200,
    binding: VirtualBinding,
    passDelayMs: options.passDelayMs ?? DEFAULT_PASS_DELAY_MS,
  });
  const sims = [idSim, qrSim, turnstileSim];
  await Promise.all(sims.map((s) => s.start()));
  /** The turnstile's contacts at rest (fire loop closed, nothing passing). */
  const restInputs = JSON.stringify(turnstileSim.inputs);

  const agent = createEdgeAgent(
    parseEdgeConfig({
      gateId,
      compoundId: options.compoundId,
      mqtt: { url: options.mqttUrl, token: options.token, reconnectMs: 200 },
      keys: { ...options.keys, keys: options.keys.keys.map(({ kid, publicKey }) => ({ kid, publicKey })) },
      dataDir: options.dataDir,
      http: { port: 0, host: '127.0.0.1' },
      binding: 'virtual',
      devices: {
        idreader: { path: idPorts.a, baudRate: 115200, direction, pollIntervalMs: ID_READER_POLL_MS },
        qr: { path: qrPorts.a, baudRate: 9600, direction },
        turnstile: { path: turnstilePorts.a, baudRate: 115200, cardDirection: direction },
      },
      // A lost event or sync answer is sent again soon, not after the production 30 s / 15 s.
      timeouts: { ackMs: 2_000, syncRetryMs: 2_000 },
      journal: { synchronous: 'normal' },
    }),
    { logger, binding: VirtualBinding },
  );
  try {
    await agent.start();
  } catch (error) {
    await Promise.allSettled(sims.map((s) => s.stop()));
    throw error;
  }

  /** Find commands the reader had answered when the last card was lifted (undefined: none lifted yet). */
  let findsAtLift: number | undefined;
  const finds = () => idSim.counters[FIND_COMMAND] ?? 0;

  /** The next decision this gate journals; register before the credential is presented. */
  const nextDecision = (what: string) =>
    new Promise<GatePassage>((resolve, reject) => {
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

  /**
   * A granted passage is over once the gate stopped waiting for the turnstile (confirmed or timed
   * out) and the turnstile's contacts are back at rest, ready to report the next passage.
   */
  const passageOver = async ({ event, decision }: GatePassage): Promise<GatePassage> => {
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
  };

  return {
    gateId,
    agent,
    idSim,
    qrSim,
    turnstileSim,

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
      await Promise.allSettled(sims.map((s) => s.stop()));
    },
  };
}
