/**
 * setInterval on logical time, for the cloud's keepalive timer (`CloudMqttClientOptions.keepaliveTimer`:
 * MQTT.js's and the holds'): `advance` runs every interval due, in order — so "a hold of N
 * keepalives" is exact logical time, not a sleep, and a busy machine changes nothing.
 */
import type { IntervalTimer } from '../../../cloud/mqtt/keepalive-during-holds.ts';

export class ManualIntervals implements IntervalTimer {
  private now = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { callback: () => void; every: number; due: number }>();

  set(callback: () => void, ms: number): number {
    const id = this.nextId++;
    this.timers.set(id, { callback, every: ms, due: this.now + ms });
    return id;
  }

  clear(id: unknown): void {
    this.timers.delete(id as number);
  }

  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let next: [number, { callback: () => void; every: number; due: number }] | undefined;
      for (const entry of this.timers) if (entry[1].due <= end && (!next || entry[1].due < next[1].due)) next = entry;
      if (!next) break;
      this.now = next[1].due;
      next[1].due += next[1].every;
      next[1].callback();
    }
    this.now = end;
  }
}
