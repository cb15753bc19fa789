/**
 * Writes the files of `mosquitto-config.ts` so that Mosquitto can use them after it drops its
 * privileges (docs/deploy.md, "Using Mosquitto"). Started as root, Mosquitto reads
 * `mosquitto.conf`, then becomes user `mosquitto`; the dynamic-security plugin then reads its
 * JSON and rewrites it (to `<file>.new`, renamed into place) on every change, and a SIGHUP makes
 * Mosquitto re-read `mosquitto.conf` as that user. So, when we run as root and that user exists:
 *
 * | path | owner | mode | why |
 * |---|---|---|---|
 * | the directory | mosquitto:mosquitto | 0750 | the plugin creates its `.new` file here |
 * | mosquitto.conf | root:mosquitto | 0640 | re-read on SIGHUP, not writable by the broker |
 * | dynamic-security.json | mosquitto:mosquitto | 0600 | the plugin's own state (password hashes) |
 * | admin.json | root:root | 0600 | the administrator's password: for the cloud and `anxin gate add`, not the broker |
 *
 * Otherwise (not root, so Mosquitto runs as the same user) everything is the caller's, 0600/0700.
 */
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MosquittoFiles } from './mosquitto-config.ts';

export interface SystemUser {
  uid: number;
  gid: number;
}

/** Looks a user up in /etc/passwd (Node has no getpwnam); undefined when absent. */
export function lookUpUser(name: string, passwd = '/etc/passwd'): SystemUser | undefined {
  let text: string;
  try {
    text = readFileSync(passwd, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

export interface WriteMosquittoFilesOptions {
  /** The user Mosquitto drops to (its `user` setting; default `mosquitto`). */
  user?: string;
}

/** Writes the files into `dir` (created if missing) with the owners and modes above; returns their paths. */
export function writeMosquittoFiles(
  dir: string,
  files: MosquittoFiles,
  options: WriteMosquittoFilesOptions = {},
): string[] {
  const asRoot = process.getuid?.() === 0;
  const broker = asRoot ? lookUpUser(options.user ?? 'mosquitto') : undefined;
  mkdirSync(dir, { recursive: true });
  const write = (name: keyof MosquittoFiles, mode: number, owner?: { uid: number; gid: number }) => {
    const path = join(dir, name);
    writeFileSync(path, files[name], { mode });
    chmodSync(path, mode);
    if (owner) chownSync(path, owner.uid, owner.gid);
    return path;
  };
  if (!broker || broker.uid === 0) {
    chmodSync(dir, 0o700);
    return [write('mosquitto.conf', 0o600), write('dynamic-security.json', 0o600), write('admin.json', 0o600)];
  }
  chownSync(dir, broker.uid, broker.gid);
  chmodSync(dir, 0o750);
  return [
    write('mosquitto.conf', 0o640, { uid: 0, gid: broker.gid }),
    write('dynamic-security.json', 0o600, broker),
    write('admin.json', 0o600, { uid: 0, gid: 0 }),
  ];
}
