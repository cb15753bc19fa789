/**
 * The turnstile's wiring on the control-panel side (firmware-bridge/osdp/turnstile-contacts.ts,
 * docs/devices.md §4), apart from any OSDP frame: edges of mapped inputs, the normally-closed fire
 * loop, the unlock outputs, and wirings refused with the option named.
 */
import { describe, expect, it } from 'vitest';
import { TurnstileContacts } from '../../../firmware-bridge/osdp/turnstile-contacts.ts';

describe('TurnstileContacts', () => {
  it('reports edges of mapped inputs only, the fire loop inverted (closed = no fire)', () => {
    const contacts = new TurnstileContacts();
    // At rest: the fire loop closed; nothing passing.
    expect(contacts.apply([false, false, false, true, false])).toEqual([]);
    expect(contacts.apply([true, false, false, true, false, true])).toEqual([['passed-in', true]]);
    expect(contacts.apply([false, false, false, false, false])).toEqual([
      ['passed-in', false],
      ['fire', true],
    ]);
    expect(contacts.states.get('fire')).toBe(true);
    // A short report leaves the inputs it does not cover as they were.
    expect(contacts.apply([false])).toEqual([]);
    expect(contacts.states.get('fire')).toBe(true);
  });

  it('every input starts inactive: a first report with the loop open is a fire edge', () => {
    const contacts = new TurnstileContacts();
    expect(contacts.states.get('fire')).toBe(false);
    expect(contacts.apply([false, false, false, false, false])).toEqual([['fire', true]]);
  });

  it('follows a custom wiring: inputs, outputs, normally-closed set', () => {
    const contacts = new TurnstileContacts({
      inputMap: { 7: 'tamper', 2: 'passed-out' },
      outputMap: { unlockIn: 3, unlockOut: 4 },
      normallyClosed: ['tamper'],
    });
    expect(contacts.unlockOutput('in')).toBe(3);
    expect(contacts.unlockOutput('out')).toBe(4);
    const raw = Array.from({ length: 8 }, () => false);
    expect(contacts.apply(raw)).toEqual([['tamper', true]]);
    raw[7] = true;
    raw[2] = true;
    // In input-number order.
    expect(contacts.apply(raw)).toEqual([
      ['passed-out', true],
      ['tamper', false],
    ]);
  });

  it('refuses wirings that cannot be right, naming the option', () => {
    expect(() => new TurnstileContacts({ inputMap: { 256: 'fire' } })).toThrow(/inputMap key/);
    expect(() => new TurnstileContacts({ inputMap: { 1: 'smoke' as never } })).toThrow(/inputMap\[1\]/);
    expect(() => new TurnstileContacts({ outputMap: { unlockIn: -1, unlockOut: 1 } })).toThrow(/outputMap\.unlockIn/);
  });
});
