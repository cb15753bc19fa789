/**
 * The gate's `GET /metrics` (Prometheus text format 0.0.4) on the terminal's port: event-loop
 * delay, MQTT link, journal depth, devices, decisions and the terminal's refusals
 * (docs/edge-agent.md "Health").
 */
import type { GateStatus } from '../../shared/schemas/mqtt.ts';
import type { EventLoopWindow } from '../event-loop-health.ts';

export interface GateMetricsInput {
  gateId: string;
  status: GateStatus;
  linkState: string;
  eventLoop: EventLoopWindow;
  counters: { decisions: number; journalErrors: number; commandsRejected: number; alarms: number };
  terminal: { foreignHost: number; foreignOrigin: number };
  guards: { signIns: number; failures: number; lockouts: number };
}

/** Label values are ids and fixed words here; escaped anyway. */
const label = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function gateMetrics(m: GateMetricsInput): string {
  const gate = `gate="${label(m.gateId)}"`;
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}{${labels}} ${value}`);
  };
  const seconds = (ms: number) => ms / 1000;
  metric('anxin_gate_event_loop_delay_seconds', 'gauge', 'Event-loop delay over the last window.', [
    [`${gate},quantile="0.5"`, seconds(m.eventLoop.p50Ms)],
    [`${gate},quantile="0.99"`, seconds(m.eventLoop.p99Ms)],
    [`${gate},quantile="1"`, seconds(m.eventLoop.maxMs)],
  ]);
  metric('anxin_gate_up', 'gauge', '1 when the gate reports itself healthy, 0 when degraded.', [
    [gate, m.status.health === 'degraded' ? 0 : 1],
  ]);
  metric('anxin_gate_mqtt_connected', 'gauge', '1 while the MQTT link is up.', [[gate, m.status.online ? 1 : 0]]);
  metric(
    'anxin_gate_mqtt_link_state',
    'gauge',
    'The MQTT link state (1 for the current one).',
    ['connected', 'connecting', 'refused', 'unreachable', 'stopped'].map((s) => [
      `${gate},state="${s}"`,
      m.linkState === s ? 1 : 0,
    ]),
  );
  metric('anxin_gate_journal_depth', 'gauge', 'Journaled events not yet acknowledged by the cloud.', [
    [gate, m.status.journalDepth],
  ]);
  metric('anxin_gate_replica_rev', 'gauge', 'Revision of the replica.', [[gate, m.status.rev]]);
  metric('anxin_gate_stale', 'gauge', '1 when the gate has not heard from the cloud for too long.', [
    [gate, m.status.stale ? 1 : 0],
  ]);
  metric(
    'anxin_gate_device_ok',
    'gauge',
    '1 when the device works (0: fault or absent).',
    Object.entries(m.status.devices).map(([device, state]) => [
      `${gate},device="${label(device)}"`,
      state === 'ok' ? 1 : 0,
    ]),
  );
  metric('anxin_gate_decisions_total', 'counter', 'Decisions made.', [[gate, m.counters.decisions]]);
  metric('anxin_gate_journal_errors_total', 'counter', 'Passages that could not be journaled.', [
    [gate, m.counters.journalErrors],
  ]);
  metric('anxin_gate_alarms_total', 'counter', 'Alarms raised.', [[gate, m.counters.alarms]]);
  metric('anxin_gate_terminal_refused_total', 'counter', 'Terminal requests refused for a foreign Host or Origin.', [
    [`${gate},reason="host"`, m.terminal.foreignHost],
    [`${gate},reason="origin"`, m.terminal.foreignOrigin],
  ]);
  metric('anxin_gate_guard_sign_ins_total', 'counter', 'Guard sign-ins at the terminal, by outcome.', [
    [`${gate},outcome="ok"`, m.guards.signIns],
    [`${gate},outcome="refused"`, m.guards.failures],
    [`${gate},outcome="locked"`, m.guards.lockouts],
  ]);
  return `${lines.join('\n')}\n`;
}
