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

  it('reports a broken file by name', () => {
    expect(() => loadConfig(schema, { file: { name: 'gate.json', text: '{nope' } })).toThrow(
      /gate\.json: not valid JSON/,
    );
  });
});
