/**
 * The turnstile behind an OSDP I/O board, as the control panel sees it (docs/devices.md §4): which
 * input contact means what (passed in, passed out, forced, the fire-alarm loop, tamper), which
 * contacts are wired normally closed (the fire loop: open means fire), and which output unlocks
 * which way. The link to the board (polls, sequence numbers, the secure channel) is pd-link.ts; this
 * file knows nothing of frames, only of contact states.
 */

export type TurnstileInput = 'passed-in' | 'passed-out' | 'forced' | 'fire' | 'tamper';
const TURNSTILE_INPUTS: readonly TurnstileInput[] = ['passed-in', 'passed-out', 'forced', 'fire', 'tamper'];

/** docs/devices.md §4: input 0 passed in, 1 passed out, 2 intrusion/forced, 3 fire-alarm loop, 4 tamper. */
const DEFAULT_INPUT_MAP: Readonly<Record<number, TurnstileInput>> = {
  0: 'passed-in',
  1: 'passed-out',
  2: 'forced',
  3: 'fire',
  4: 'tamper',
};
/** docs/devices.md §4: output 0 unlock in, output 1 unlock out. */
const DEFAULT_OUTPUT_MAP = { unlockIn: 0, unlockOut: 1 } as const;
/** The fire-alarm loop is normally closed: an open loop (input inactive) means fire. */
const DEFAULT_NORMALLY_CLOSED: readonly TurnstileInput[] = ['fire'];

export interface TurnstileWiring {
  /** PD input number → meaning. Default: docs/devices.md §4. */
  inputMap?: Record<number, TurnstileInput>;
  outputMap?: { unlockIn: number; unlockOut: number };
  /** Inputs wired normally closed, reported active when the PD says inactive. Default `['fire']`. */
  normallyClosed?: readonly TurnstileInput[];
}

/** The turnstile's contacts: the wiring, checked once, and the current state of every mapped input. */
export class TurnstileContacts {
  readonly #inputMap: ReadonlyMap<number, TurnstileInput>;
  readonly #outputMap: { unlockIn: number; unlockOut: number };
  readonly #normallyClosed: ReadonlySet<TurnstileInput>;
  readonly #states = new Map<TurnstileInput, boolean>();

  /** Throws a TypeError naming the option for a wiring that cannot be right. */
  constructor(wiring: TurnstileWiring = {}) {
    const inputMap = new Map<number, TurnstileInput>();
    for (const [key, name] of Object.entries(wiring.inputMap ?? DEFAULT_INPUT_MAP)) {
      const input = Number(key);
      if (!Number.isInteger(input) || input < 0 || input > 0xff) {
        throw new TypeError(`inputMap key must be an input number 0–255, got ${JSON.stringify(key)}`);
      }
      if (!TURNSTILE_INPUTS.includes(name)) {
        throw new TypeError(`inputMap[${key}] must be one of ${TURNSTILE_INPUTS.join(', ')}, got ${name}`);
      }
      inputMap.set(input, name);
    }
    const outputMap = wiring.outputMap ?? DEFAULT_OUTPUT_MAP;
    for (const [key, output] of Object.entries(outputMap)) {
      if (!Number.isInteger(output) || output < 0 || output > 0xff) {
        throw new TypeError(`outputMap.${key} must be an output number 0–255, got ${output}`);
      }
    }
    this.#inputMap = inputMap;
    this.#outputMap = { ...outputMap };
    this.#normallyClosed = new Set(wiring.normallyClosed ?? DEFAULT_NORMALLY_CLOSED);
    for (const name of inputMap.values()) this.#states.set(name, false);
  }

  /** Current state of every mapped input (normally-closed inputs already inverted). */
  get states(): ReadonlyMap<TurnstileInput, boolean> {
    return this.#states;
  }

  /** The output that unlocks `direction`. */
  unlockOutput(direction: 'in' | 'out'): number {
    return direction === 'in' ? this.#outputMap.unlockIn : this.#outputMap.unlockOut;
  }

  /**
   * Takes the PD's raw input states (osdp_ISTATR, index = input number) and returns the edges of
   * mapped inputs, in input order, corrected for normally-closed wiring; unmapped inputs and
   * inputs the report does not cover are ignored.
   */
  apply(raw: readonly boolean[]): [name: TurnstileInput, active: boolean][] {
    const edges: [TurnstileInput, boolean][] = [];
    for (const [input, name] of this.#inputMap) {
      const state = raw[input];
      if (state === undefined) continue;
      const active = this.#normallyClosed.has(name) ? !state : state;
      if (this.#states.get(name) === active) continue;
      this.#states.set(name, active);
      edges.push([name, active]);
    }
    return edges;
  }
}
