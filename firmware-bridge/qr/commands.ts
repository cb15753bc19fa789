/**
 * Command-triggered scanning (docs/devices.md §3). Vendors differ, so the model is configuration.
 * Most gates run scanners in continuous/auto-sense mode and need none of this ('none').
 */
export const TRIGGER_MODELS = ['none', 'gm65', 'honeywell'] as const;
export type TriggerModel = (typeof TRIGGER_MODELS)[number];

/** Generic GM65-type module: "start scanning" (write zone bit); the module stops by itself after a read or its timeout. */
export const GM65_TRIGGER = Buffer.from([0x7e, 0x00, 0x08, 0x01, 0x00, 0x02, 0x01, 0xab, 0xcd]);
/** Honeywell serial trigger: SYN 'T' CR starts a scan … */
export const HONEYWELL_TRIGGER_ON = Buffer.from([0x16, 0x54, 0x0d]);
/** … and SYN 'U' CR stops it. */
export const HONEYWELL_TRIGGER_OFF = Buffer.from([0x16, 0x55, 0x0d]);

/** The bytes that start a scan on `model`, or undefined when the model has no trigger. A fresh copy each call. */
export function triggerOnCommand(model: TriggerModel): Buffer | undefined {
  switch (model) {
    case 'gm65':
      return Buffer.from(GM65_TRIGGER);
    case 'honeywell':
      return Buffer.from(HONEYWELL_TRIGGER_ON);
    case 'none':
      return undefined;
  }
}

/** The bytes that stop a triggered scan, or undefined when the model has no such command (GM65 stops by itself). */
export function triggerOffCommand(model: TriggerModel): Buffer | undefined {
  return model === 'honeywell' ? Buffer.from(HONEYWELL_TRIGGER_OFF) : undefined;
}
