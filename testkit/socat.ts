/** The socat pty pairs live in firmware-bridge (the demo's `--pty` uses them too). */
export { openPtyPair, type PtyPair } from '../firmware-bridge/testing/socat-pty.ts';
