/** OSDP command, reply and NAK reason codes (docs/devices.md §5, IEC 60839-11-5 / OSDP v2.2 §6–7). */

export const OsdpCommand = {
  POLL: 0x60,
  ID: 0x61,
  CAP: 0x62,
  LSTAT: 0x64,
  ISTAT: 0x65,
  OSTAT: 0x66,
  RSTAT: 0x67,
  OUT: 0x68,
  LED: 0x69,
  BUZ: 0x6a,
  TEXT: 0x6b,
  COMSET: 0x6e,
  KEYSET: 0x75,
  CHLNG: 0x76,
  SCRYPT: 0x77,
  MFG: 0x80,
} as const;
export type OsdpCommandName = keyof typeof OsdpCommand;
export const OSDP_COMMAND_NAMES = Object.keys(OsdpCommand) as OsdpCommandName[];

export const OsdpReply = {
  ACK: 0x40,
  NAK: 0x41,
  PDID: 0x45,
  PDCAP: 0x46,
  LSTATR: 0x48,
  ISTATR: 0x49,
  OSTATR: 0x4a,
  RSTATR: 0x4b,
  RAW: 0x50,
  KEYPAD: 0x53,
  COM: 0x54,
  BUSY: 0x79,
  MFGREP: 0x90,
} as const;

/** The reason byte of osdp_NAK. */
export const OsdpNakReason = {
  CHECK_CHARACTER: 1,
  COMMAND_LENGTH: 2,
  UNKNOWN_COMMAND: 3,
  SEQUENCE: 4,
  SECURE_CHANNEL_UNSUPPORTED: 5,
  SECURITY_CONDITIONS: 6,
} as const;

const NAMES = new Map<number, string>([
  ...Object.entries(OsdpCommand).map(([name, code]) => [code, name] as [number, string]),
]);
const REPLY_NAMES = new Map<number, string>(
  Object.entries(OsdpReply).map(([name, code]) => [code, name] as [number, string]),
);
const NAK_NAMES = new Map<number, string>(
  Object.entries(OsdpNakReason).map(([name, code]) => [code, name.toLowerCase().replaceAll('_', '-')]),
);

const hex = (n: number) => `0x${n.toString(16).padStart(2, '0').toUpperCase()}`;

/** `POLL`, `PDID`, … or the hex code when unknown. Command and reply codes overlap (0x53), hence `isReply`. */
export function osdpCodeName(code: number, isReply: boolean): string {
  return (isReply ? REPLY_NAMES : NAMES).get(code) ?? hex(code);
}

/** `sequence`, `unknown-command`, … or `reason-0x..` for a code outside docs/devices.md §5. */
export function osdpNakReasonName(reason: number): string {
  return NAK_NAMES.get(reason) ?? `reason-${hex(reason)}`;
}
