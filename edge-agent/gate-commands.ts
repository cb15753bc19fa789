/**
 * The cloud's commands to the gate (`anxin/v1/gates/{gateId}/cmd`, docs/contract.md §2): `open`,
 * `resync`, `renew-token`, `reboot-devices`. Each is parsed against its schema, answered on
 * `cmd/result`, and executed at most once per `cmdId` (QoS 1 may deliver a command twice; a
 * repeated open must not open twice). A malformed command changes nothing and is counted.
 */
import type { Logger } from '../shared/log.ts';
import { type Command, type CommandResult, commandSchema } from '../shared/schemas/mqtt.ts';
import { topics } from '../shared/topics.ts';
import type { ManualOpenRequest } from './terminal/terminal-state.ts';
import type { EventPublisher } from './uplink.ts';

const SEEN_COMMANDS = 200;

/** What the commands act on. */
export interface CommandTarget {
  manualOpen(request: ManualOpenRequest): { seq: number | null };
  /** false when offline. */
  requestFullResync(): boolean;
  /** A renewed token was stored and is presented from now on (its expiry goes into the status). */
  tokenRenewed(): void;
  restartDevices(): Promise<void>;
}

export interface GateCommandsOptions {
  gateId: string;
  /** Answers go out on it; a renewed token is presented on it. */
  link: EventPublisher & { setToken(token: string): void };
  /** Keeps a renewed token beside the database (token-store.ts). */
  tokens: { accept(token: string): void };
  target: CommandTarget;
  counters: { commandsRejected: number };
  log: Logger;
}

export class GateCommands {
  private readonly seen = new Map<string, CommandResult>();

  constructor(private readonly o: GateCommandsOptions) {}

  async handle(payload: Buffer): Promise<void> {
    const cmd = this.parse(payload);
    if (!cmd) return;
    const seen = this.seen.get(cmd.cmdId);
    if (seen) {
      this.answer(seen);
      return;
    }
    let result: CommandResult;
    try {
      result = await this.execute(cmd);
    } catch (error) {
      result = { cmdId: cmd.cmdId, ok: false, error: (error as Error).message.slice(0, 500) };
    }
    this.seen.set(cmd.cmdId, result);
    if (this.seen.size > SEEN_COMMANDS) this.seen.delete(this.seen.keys().next().value!);
    this.answer(result);
  }

  /** The command, or undefined after refusing it (answered when its `cmdId` is readable). */
  private parse(payload: Buffer): Command | undefined {
    let json: unknown;
    try {
      json = JSON.parse(payload.toString());
    } catch {
      json = undefined;
    }
    const parsed = commandSchema.safeParse(json);
    if (parsed.success) return parsed.data;
    const { counters, log } = this.o;
    counters.commandsRejected += 1;
    const cmdId = (json as { cmdId?: unknown } | undefined)?.cmdId;
    log.warn({ cmdId, issues: parsed.error.issues.length, counter: counters.commandsRejected }, 'command rejected');
    if (typeof cmdId === 'string' && /^[a-z0-9-]{1,64}$/.test(cmdId)) {
      this.answer({ cmdId, ok: false, error: 'invalid command' });
    }
    return undefined;
  }

  private async execute(cmd: Command): Promise<CommandResult> {
    const { target } = this.o;
    const { cmdId } = cmd;
    switch (cmd.kind) {
      case 'open': {
        const { seq } = target.manualOpen({
          direction: cmd.direction ?? 'in',
          reason: cmd.reason ?? 'remote open',
          guard: cmd.by ?? 'cloud',
        });
        return seq === null ? { cmdId, ok: false, error: 'journal write failed' } : { cmdId, ok: true };
      }
      case 'resync':
        return target.requestFullResync() ? { cmdId, ok: true } : { cmdId, ok: false, error: 'offline' };
      case 'renew-token':
        if (cmd.token === undefined) return { cmdId, ok: false, error: 'no token' };
        this.o.tokens.accept(cmd.token);
        this.o.link.setToken(cmd.token);
        target.tokenRenewed();
        return { cmdId, ok: true };
      case 'reboot-devices':
        await target.restartDevices();
        return { cmdId, ok: true };
    }
  }

  private answer(result: CommandResult): void {
    this.o.link.publish(topics.gateCmdResult(this.o.gateId), JSON.stringify(result), { qos: 1 });
  }
}
