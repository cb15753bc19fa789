import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { envToConfig, loadConfig } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';

const schema = z.object({
  port: z.number().int().min(1).max(65535).default(8080),
  mqttUrl: z.string().url(),
  serial: z.object({ qr: z.object({ path: z.string(), baud: z.number().int().default(9600) }) }).optional(),
});

describe('loadConfig', () => {
  it('merges flags over env over file', () => {
    const cfg = loadConfig(schema, {
      file: {
        name: 'gate.json',
        text: JSON.stringify({ port: 1, mqttUrl: 'mqtt://file', serial: { qr: { path: '/dev/a' } } }),
      },
      env: { ANXIN_PORT: '2', ANXIN_SERIAL__QR__BAUD: '115200', HOME: '/root' },
      flags: { port: '3' },
    });
    expect(cfg).toEqual({ port: 3, mqttUrl: 'mqtt://file', serial: { qr: { path: '/dev/a', baud: 115200 } } });
  });

  it('maps ANXIN_ env names to camelCase paths', () => {
    expect(envToConfig({ ANXIN_MQTT_URL: 'mqtt://x', ANXIN_SERIAL__QR__PATH: '/dev/ttyS1', OTHER: '1' })).toEqual({
      mqttUrl: 'mqtt://x',
      serial: { qr: { path: '/dev/ttyS1' } },
    });
  });

  it('reports every problem as a path: message line', () => {
    try {
      loadConfig(schema, { flags: { port: '70000', 'serial.qr.baud': 'fast' }, env: {} });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems;
      expect(problems.some((p) => p.startsWith('port: '))).toBe(true);
      expect(problems.some((p) => p.startsWith('mqttUrl: '))).toBe(true);
      expect(problems.some((p) => p.startsWith('serial.qr.path: '))).toBe(true);
      expect(problems.some((p) => p.startsWith('serial.qr.baud: '))).toBe(true);
    }
  });

  it('reads a string from env or flags as the schema expects it at that path', () => {
    const typed = z.object({
      password: z.string().min(8),
      gateId: z.string().regex(/^[a-z0-9-]{1,64}$/),
      port: z.coerce.number().int().default(8080),
      pty: z.boolean().default(false),
      mode: z.enum(['normal', 'lockdown']).optional(),
      limit: z.union([z.number(), z.literal('auto')]).optional(),
      nested: z.object({ retries: z.number().optional(), label: z.string().optional() }).optional(),
    });
    const cfg = loadConfig(typed, {
      env: { ANXIN_PASSWORD: '12345678', ANXIN_NESTED__LABEL: '007', ANXIN_NESTED__RETRIES: '3' },
      flags: { 'gate-id': '101', port: '9090', pty: 'true', limit: '5' },
    });
    expect(cfg).toEqual({
      password: '12345678',
      gateId: '101',
      port: 9090,
      pty: true,
      limit: 5,
      nested: { label: '007', retries: 3 },
    });
    expect(
      loadConfig(typed, { flags: { password: 'password', 'gate-id': 'a', limit: 'auto', 'nested.label': 'true' } }),
    ).toMatchObject({ limit: 'auto', nested: { label: 'true' } });
    // Not a number where one is wanted: the schema says so, by path.
    expect(() => loadConfig(typed, { flags: { password: '12345678', 'gate-id': 'a', port: 'eighty' } })).toThrow(
      ConfigError,
    );
  });

  it('reports a broken file by name', () => {
    expect(() => loadConfig(schema, { file: { name: 'gate.json', text: '{nope' } })).toThrow(
      /gate\.json: not valid JSON/,
    );
  });
});
