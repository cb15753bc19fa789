/** Types of format.js's time functions (a browser module that the Node tests import too). */
export function setTimeZone(timeZone: string | undefined): void;
export function timeZone(): string;
export function zoneLabel(ts?: number): string;
export function clock(ts: number): string;
export function dateTime(ts: number): string;
export function localInputValue(ts: number): string;
export function fromLocalInput(value: string): number;
export function midnightOf(now: number): number;
export function duration(ms: number): string;
