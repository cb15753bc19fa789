/**
 * The mosquitto generator: dynamic-security password hashes that the real plugin agrees with
 * (`mosquitto_ctrl dynsec init` writes one we check), roles that grant exactly what
 * `broker/acl.ts` grants (checked with a small evaluator of the plugin's pattern rules over every
 * contract topic), and a mosquitto.conf that loads the plugin with `max_packet_size`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type BrokerIdentity, canPublish, canSubscribe } from '../../broker/acl.ts';
import {
  type DynsecRole,
  DYNSEC_PLUGIN_PATHS,
  findDynsecPlugin,
  generateMosquittoConfig,
  hashDynsecPassword,
  type MosquittoAccount,
  mosquittoAccounts,
  verifyDynsecPassword,
} from '../../broker/mosquitto-config.ts';
import { CLOUD_STATUS_TOPIC, GATE_TOPIC_KINDS, topics } from '../../shared/topics.ts';

const run = promisify(execFile);

const accounts: MosquittoAccount[] = mosquittoAccounts(
  {
    gates: [
      { id: 'g1', compound: 'c1' },
      { id: 'g2', compound: 'c2' },
    ],
    clouds: ['cloud'],
    observers: ['watcher'],
  },
  (claims) => `token-of-${claims.sub}`,
);
const admin = { password: 'admin-secret' };

interface DynsecFile {
  clients: { username: string; password: string; salt: string; iterations: number; roles: { rolename: string }[] }[];
  roles: DynsecRole[];
  defaultACLAccess: Record<string, boolean>;
}

/** mosquitto_topic_matches_sub for one concrete topic (or a filter checked as a topic, as the plugin does). */
function matches(pattern: string, topic: string): boolean {
  const p = pattern.split('/');
  const t = topic.split('/');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '#') return true;
    if (i >= t.length) return false;
    if (p[i] !== '+' && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}

function allows(file: DynsecFile, user: string, acltype: string, topic: string): boolean {
  const client = file.clients.find((c) => c.username === user)!;
  const acls = client.roles.flatMap((r) => file.roles.find((role) => role.rolename === r.rolename)!.acls);
  const rule = acls.find((acl) => acl.acltype === acltype && matches(acl.topic, topic));
  return rule ? rule.allow : false;
}

describe('dynamic-security passwords', () => {
  it('are PBKDF2-SHA512 with 101 rounds and a 12-byte salt', () => {
    const stored = hashDynsecPassword('secret', Buffer.alloc(12, 7));
    expect(stored.iterations).toBe(101);
    expect(Buffer.from(stored.salt, 'base64')).toHaveLength(12);
    expect(Buffer.from(stored.password, 'base64')).toHaveLength(64);
    expect(verifyDynsecPassword('secret', stored)).toBe(true);
    expect(verifyDynsecPassword('Secret', stored)).toBe(false);
  });

  it('agree with the real mosquitto_ctrl dynsec init', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'anxin-dynsec-'));
    try {
      const file = join(dir, 'dynsec.json');
      await run('mosquitto_ctrl', ['dynsec', 'init', file, 'someone', 'token-with.dots_and-dashes']);
      const written = JSON.parse(await readFile(file, 'utf8')) as DynsecFile;
      const client = written.clients.find((c) => c.username === 'someone')!;
      expect(verifyDynsecPassword('token-with.dots_and-dashes', client)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('hold one client per account plus the administrator, never a token itself', () => {
    const text = generateMosquittoConfig({ dir: '/etc/anxin', port: 1883, accounts, admin, pluginPath: '/p.so' })[
      'dynamic-security.json'
    ];
    const file = JSON.parse(text) as DynsecFile;
    expect(file.clients.map((c) => c.username)).toEqual(['anxin-admin', 'g1', 'g2', 'cloud', 'watcher']);
    expect(text).not.toContain('token-of');
    expect(text).not.toContain('admin-secret');
    expect(verifyDynsecPassword('token-of-g1', file.clients[1]!)).toBe(true);
    expect(verifyDynsecPassword('admin-secret', file.clients[0]!)).toBe(true);
    expect(file.defaultACLAccess).toEqual({
      publishClientSend: false,
      publishClientReceive: false,
      subscribe: false,
      unsubscribe: true,
    });
  });
});

describe('mosquitto.conf', () => {
  it('turns anonymous access off, loads the plugin, and bounds packets with max_packet_size', () => {
    const files = generateMosquittoConfig({
      dir: '/etc/anxin',
      port: 18830,
      host: '127.0.0.1',
      accounts,
      admin,
      maxPayload: 2048,
      pluginPath: '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
      tls: { certFile: '/etc/anxin/cert.pem', keyFile: '/etc/anxin/key.pem' },
    });
    const lines = files['mosquitto.conf'].split('\n');
    for (const line of [
      'allow_anonymous false',
      'plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
      'plugin_opt_config_file /etc/anxin/dynamic-security.json',
      'max_packet_size 3072',
      // The cloud's flow control: a window of 100 unacked messages, the rest queued by size (1 GiB).
      'max_inflight_messages 100',
      'max_queued_messages 1000000',
      'max_queued_bytes 1073741824',
      'user mosquitto',
      'listener 18830 127.0.0.1',
      'use_username_as_clientid true',
      'certfile /etc/anxin/cert.pem',
      'keyfile /etc/anxin/key.pem',
    ]) {
      expect(lines).toContain(line);
    }
    expect(files['mosquitto.conf']).not.toMatch(/message_size_limit|password_file|acl_file/);
    expect(JSON.parse(files['admin.json'])).toEqual({
      url: 'mqtts://127.0.0.1:18830',
      username: 'anxin-admin',
      password: 'admin-secret',
    });
  });

  it('refuses a max_queued_bytes that cannot hold one largest packet (0 would mean no limit)', () => {
    const base = { dir: '/d', port: 1883, accounts: [], admin, pluginPath: '/p.so' };
    for (const maxQueuedBytes of [0, 1024 * 1024 + 1023, 1.5e6 + 0.5, Number.NaN]) {
      expect(() => generateMosquittoConfig({ ...base, maxQueuedBytes }), String(maxQueuedBytes)).toThrow(
        /maxQueuedBytes: .* at least 1049600/,
      );
    }
    const conf = generateMosquittoConfig({ ...base, maxQueuedBytes: 1024 * 1024 + 1024 })['mosquitto.conf'];
    expect(conf.split('\n')).toContain('max_queued_bytes 1049600');
  });

  it('finds the plugin where Debian installs it', () => {
    expect(findDynsecPlugin((p) => p === DYNSEC_PLUGIN_PATHS[1])).toBe(DYNSEC_PLUGIN_PATHS[1]);
    expect(findDynsecPlugin(() => false)).toBeUndefined();
    expect(findDynsecPlugin()).toBeDefined();
  });

  it('refuses duplicate or unsafe usernames and wildcard gate ids', () => {
    const base = { dir: '/d', port: 1, admin, pluginPath: '/p.so' };
    const dup = [...accounts, accounts[0]!];
    expect(() => generateMosquittoConfig({ ...base, accounts: dup })).toThrow(/duplicate/);
    const clash: MosquittoAccount = { username: 'anxin-admin', role: 'cloud', password: 'x' };
    expect(() => generateMosquittoConfig({ ...base, accounts: [clash] })).toThrow(/duplicate/);
    const colon: MosquittoAccount = { username: 'a:b', role: 'cloud', password: 'x' };
    expect(() => generateMosquittoConfig({ ...base, accounts: [colon] })).toThrow(/not a safe/);
    expect(() => mosquittoAccounts({ gates: [{ id: '+', compound: 'c1' }] }, () => 't')).toThrow();
  });
});

describe('dynamic-security roles', () => {
  const file = JSON.parse(
    generateMosquittoConfig({ dir: '/d', port: 1883, accounts, admin, pluginPath: '/p.so' })['dynamic-security.json'],
  ) as DynsecFile;
  const identities: BrokerIdentity[] = [
    { clientId: 'g1', role: 'gate', compound: 'c1' },
    { clientId: 'g2', role: 'gate', compound: 'c2' },
    { clientId: 'cloud', role: 'cloud' },
    { clientId: 'watcher', role: 'observer' },
  ];
  const concrete = [
    ...GATE_TOPIC_KINDS.flatMap((kind) => ['g1', 'g2', 'g3'].map((g) => `anxin/v1/gates/${g}/${kind}`)),
    ...['c1', 'c2', 'c3'].map((c) => topics.compoundChanges(c)),
    CLOUD_STATUS_TOPIC,
  ];

  it('grant exactly what broker/acl.ts grants, for every account and contract topic', () => {
    for (const identity of identities) {
      for (const topic of concrete) {
        const where = `${identity.clientId} ${topic}`;
        expect(allows(file, identity.clientId, 'publishClientSend', topic), `write ${where}`).toBe(
          canPublish(identity, topic).allowed,
        );
        const readable = canSubscribe(identity, topic).allowed;
        expect(allows(file, identity.clientId, 'subscribePattern', topic), `subscribe ${where}`).toBe(readable);
        expect(allows(file, identity.clientId, 'publishClientReceive', topic), `receive ${where}`).toBe(readable);
      }
    }
  });

  it('give one role to each gate, and $share patterns to the cloud only', () => {
    const names = file.roles.map((r) => r.rolename);
    expect(names).toEqual(['anxin-admin', 'anxin-gate-g1', 'anxin-gate-g2', 'anxin-cloud', 'anxin-observer']);
    const shared = (rolename: string) =>
      file.roles.find((r) => r.rolename === rolename)!.acls.filter((a) => a.topic.startsWith('$share/'));
    expect(shared('anxin-cloud').map((a) => a.topic)).toContain('$share/+/anxin/v1/gates/+/events');
    expect(shared('anxin-gate-g1')).toEqual([]);
    expect(shared('anxin-observer')).toEqual([]);
  });
});
