/**
 * The terminal's HTTP server on the gate: the guard sessions, the hono app over the agent's
 * terminal backend, listening on the configured host and port (docs/edge-agent.md "The terminal").
 */
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import type { Direction } from '../../shared/enums.ts';
import type { Logger } from '../../shared/log.ts';
import type { EdgeConfig } from '../config.ts';
import { GuardSessions } from './guard-session.ts';
import { createTerminalApp, type TerminalAppOptions } from './terminal-app.ts';

/** The lanes of the result screen: configured, or the directions the gate's readers face. */
function screenLanes(config: Pick<EdgeConfig, 'terminal' | 'devices'>): Direction[] {
  const configured = config.terminal.lanes;
  if (configured) return [...new Set(configured)];
  const lanes = new Set<Direction>(config.devices.readers.map((r) => r.direction));
  if (lanes.size === 0) lanes.add('in');
  return (['in', 'out'] as const).filter((d) => lanes.has(d));
}

export interface TerminalServerOptions extends Pick<TerminalAppOptions, 'counters' | 'now'> {
  /** The agent: state, updates, manual open, and the `/healthz` and `/metrics` bodies. */
  backend: TerminalAppOptions['backend'] & {
    health: TerminalAppOptions['health'];
    metrics: TerminalAppOptions['metrics'];
  };
  config: Pick<EdgeConfig, 'terminal' | 'devices' | 'http'>;
  logger: Logger;
  /** Too many failed sign-ins locked an account (raised as a `tamper` alarm). */
  onLockout: (detail: string) => void;
}

/** The server once listening, and its guard sessions (their counters go into `/metrics`). */
export class TerminalServer {
  private server: ServerType | undefined;
  private listening: AddressInfo | undefined;
  private sessions: GuardSessions | undefined;

  constructor(private readonly options: TerminalServerOptions) {}

  get address(): AddressInfo | undefined {
    return this.listening;
  }

  get guardCounters(): GuardSessions['counters'] {
    return this.sessions?.counters ?? { signIns: 0, failures: 0, lockouts: 0 };
  }

  async start(): Promise<void> {
    const { config, ...options } = this.options;
    const terminal = config.terminal;
    const sessions = new GuardSessions({
      guards: terminal.guards,
      idleMs: terminal.sessionIdleMs,
      maxMs: terminal.sessionMaxMs,
      now: options.now,
      logger: options.logger,
      onLockout: options.onLockout,
    });
    this.sessions = sessions;
    const app = createTerminalApp({
      backend: options.backend,
      sessions,
      screen: { lanes: screenLanes(config), holdMs: terminal.holdMs, clearMs: terminal.clearMs },
      listenHost: config.http.host,
      allowedHosts: terminal.allowedHosts,
      secureCookie: terminal.secureCookie,
      now: options.now,
      health: () => options.backend.health(),
      metrics: () => options.backend.metrics(),
      counters: options.counters,
    });
    const { port, host } = config.http;
    await new Promise<void>((resolve, reject) => {
      const server = serve({ fetch: app.fetch, port, hostname: host }, (address) => {
        this.listening = address;
        resolve();
      });
      server.once('error', reject);
      this.server = server;
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // SSE streams never end by themselves.
      if ('closeAllConnections' in server) server.closeAllConnections();
    });
  }
}
