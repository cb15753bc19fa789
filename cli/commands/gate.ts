/**
 * `anxin gate add`: provision one gate without the demo — register it in the cloud's database
 * (when `--db` is given), sign its device token with the deployment key, and print a ready
 * `gate.json` for `anxin edge --config gate.json`. The token is printed once; keep it secret.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { dynsecBrokerAccounts, readMosquittoAdmin } from '../../broker/mosquitto-dynsec.ts';
import { SqliteCloudStore } from '../../cloud/store/sqlite-store.ts';
import type { EdgeConfigInput } from '../../edge-agent/config.ts';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { AnxinError, ConfigError } from '../../shared/errors.ts';
import { isValidId } from '../../shared/ids.ts';
import { readKeysFile } from '../../shared/keys.ts';
import { signToken } from '../../shared/token.ts';
import { OSDP_PAIR_HELP } from './gate-osdp-pair.ts';
import { DEFAULT_KEYS_PATH } from './keys.ts';
import { usageError } from '../command-errors.ts';
import { guardPinHelp, runGuardPin } from './guard-pin.ts';

export const help = `Usage: anxin gate add --compound ID --id ID [flags]
       anxin gate list [--db FILE] [--compound ID]

list prints the gates registered in the cloud's database (default data/cloud.db), one per line:
id, compound, name, and the last status heard (online/offline, version, how long ago).

Provisions a gate: signs its device token (MQTT password, role gate) with the deployment key,
registers it in the cloud database when --db is given, and prints a ready gate.json.

  --compound ID      the gate's compound (must exist in --db when --db is given)
  --id ID            the gate id ([a-z0-9-]{1,64}), e.g. north-in
  --name TEXT        display name (default: the id)
  --keys FILE        deployment keys file (default ${DEFAULT_KEYS_PATH})
  --db FILE          the cloud's SQLite database to register the gate in (optional)
  --mqtt URL         the broker URL written into gate.json (default mqtt://127.0.0.1:1883)
  --mqtt-ca FILE     mqtt.caFile written into gate.json: the PEM CA that signed the broker's
                     certificate (a private CA), as the gate will find it (copy it there too)
  --mosquitto-admin FILE
                     the admin.json of \`anxin broker mosquitto-config\`: also create the gate's
                     account on that running Mosquitto, with this token as its password
  --days N           token lifetime in days (default 365)
  --data-dir DIR     dataDir written into gate.json: where the gate keeps gate.db
                     (default /var/lib/anxin/ID, the production layout of docs/hardware.md;
                     give a directory you can write to when you run the gate as yourself)
  --qr PATH          the QR scanner's serial port
  --idreader PATH    the ID-card reader's serial port
  --turnstile PATH   the turnstile's RS-485 (OSDP) port
  --qr-out PATH      a QR scanner on the exit side of a two-way lane (docs/lanes.md)
  --idreader-out PATH an ID-card reader on the exit side
                     With any device flag, gate.json lists only the devices given; without
                     any, all three with placeholder paths to fill in. --qr and --idreader
                     face in.
  --out FILE         write gate.json there instead of stdout (refuses to overwrite)

The guard terminal is written bound to 127.0.0.1:8090: a kiosk on the gate's own screen needs
nothing more. Its guard panel (/guard) needs a guard sign-in (add guards with guard-pin below). To reach it from the guard
booth's LAN, set http.host in gate.json (or run anxin edge --http-host ADDR) deliberately.

${OSDP_PAIR_HELP}
${guardPinHelp}`;

const DAY_MS = 86_400_000;

const fail = (message: string): number => usageError('gate', message);

type Devices = NonNullable<EdgeConfigInput['devices']>;

/** The devices given by flag; without any device flag, all three with placeholder paths. */
function devicesOf(values: Record<string, string | undefined>): Devices {
  const { qr, idreader, turnstile } = values;
  const qrOut = values['qr-out'];
  const idreaderOut = values['idreader-out'];
  if ([qr, idreader, turnstile, qrOut, idreaderOut].every((path) => path === undefined)) {
    return {
      idreader: { path: '/dev/serial/by-id/REPLACE-idreader', baudRate: 115200, direction: 'in' },
      qr: { path: '/dev/serial/by-id/REPLACE-qr', baudRate: 9600, direction: 'in' },
      turnstile: { path: '/dev/serial/by-id/REPLACE-rs485', baudRate: 115200, address: 0 },
    };
  }
  const devices: Devices = {};
  if (qrOut !== undefined || idreaderOut !== undefined) {
    // A two-way lane: every reader in the list form, named after its kind and side.
    const readers: NonNullable<Devices['readers']> = [];
    const add = (kind: 'qr' | 'idreader', path: string | undefined, direction: 'in' | 'out') => {
      if (path === undefined) return;
      const side = direction === 'in' ? 'entry' : 'exit';
      const baudRate = kind === 'qr' ? 9600 : 115200;
      readers.push({ kind, name: `${kind === 'qr' ? 'qr' : 'id'}-${side}`, path, baudRate, direction });
    };
    add('qr', qr, 'in');
    add('idreader', idreader, 'in');
    add('qr', qrOut, 'out');
    add('idreader', idreaderOut, 'out');
    devices.readers = readers;
  } else {
    if (idreader !== undefined) devices.idreader = { path: idreader, baudRate: 115200, direction: 'in' };
    if (qr !== undefined) devices.qr = { path: qr, baudRate: 9600, direction: 'in' };
  }
  if (turnstile !== undefined) devices.turnstile = { path: turnstile, baudRate: 115200, address: 0 };
  return devices;
}

export async function run(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === 'osdp-pair') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(OSDP_PAIR_HELP);
      return 0;
    }
    return (await import('./gate-osdp-pair.ts')).runOsdpPair(rest);
  }
  if (verb === 'list') return list(rest);
  if (verb === 'guard-pin') return runGuardPin(rest);
  if (verb !== 'add')
    return fail(
      verb
        ? `unknown sub-command "${verb}" (expected: add, list, osdp-pair, guard-pin)`
        : 'expected: anxin gate add … or anxin gate list',
    );
  return add(rest);
}

type AddFlags = Record<string, string | undefined>;

/** `anxin gate add`'s flags, parsed strictly; a string is the usage problem. */
function parseAddFlags(rest: string[]): AddFlags | string {
  try {
    return parseArgs({
      args: rest,
      strict: true,
      allowPositionals: false,
      options: {
        compound: { type: 'string' },
        id: { type: 'string' },
        name: { type: 'string' },
        keys: { type: 'string', default: DEFAULT_KEYS_PATH },
        db: { type: 'string' },
        mqtt: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
        'mqtt-ca': { type: 'string' },
        days: { type: 'string', default: '365' },
        'data-dir': { type: 'string' },
        qr: { type: 'string' },
        idreader: { type: 'string' },
        turnstile: { type: 'string' },
        'qr-out': { type: 'string' },
        'idreader-out': { type: 'string' },
        out: { type: 'string' },
        'mosquitto-admin': { type: 'string' },
      },
    }).values;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The first problem of flags that parsed but cannot be used, or undefined. */
function addFlagsProblem(values: AddFlags): string | undefined {
  if (!isValidId(values.compound)) return '--compound: expected [a-z0-9-]{1,64}';
  if (!isValidId(values.id)) return '--id: expected [a-z0-9-]{1,64}';
  const days = Number(values.days);
  if (!Number.isInteger(days) || days < 1 || days > 3650) return '--days: expected a whole number from 1 to 3650';
  if (values.out && existsSync(values.out)) return `${values.out} exists; not overwriting it`;
  const caFile = values['mqtt-ca'];
  if (
    caFile !== undefined &&
    existsSync(caFile) &&
    !readFileSync(caFile, 'latin1').includes('-----BEGIN CERTIFICATE-----')
  ) {
    return `--mqtt-ca: ${caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`;
  }
  return undefined;
}

/**
 * Registers gate `id` in the cloud database at `db` (or, registered already in the same compound,
 * only audits the new token). Audited as the cloud audits the same acts over HTTP (POST /gates →
 * gate.register, POST /gates/:id/token → gate.token), with the command line as the actor, as
 * `user add` does. Returns a problem, or undefined.
 */
async function registerGate(db: string, compound: string, id: string, name: string, exp: number) {
  const store = new SqliteCloudStore({ path: db });
  try {
    if (!(await store.getCompound(compound))) return `--compound: no compound "${compound}" in ${db}`;
    const now = Date.now();
    const audit = (action: string, detail: Record<string, unknown>) =>
      store.recordAudit({ at: now, actor: 'cli', role: 'admin', action, compoundId: compound, target: id, detail });
    const existing = await store.getGate(id);
    if (existing) {
      if (existing.compoundId !== compound) {
        return `--id: gate ${id} is registered in compound "${existing.compoundId}", not "${compound}"`;
      }
      process.stderr.write(`anxin gate: ${id} is already registered; issuing a new token only\n`);
      await audit('gate.token', { expiresAt: exp });
    } else {
      const gate = await store.createGate({ id, compoundId: compound, name, antiPassback: false }, now);
      await audit('gate.register', { name: gate.name });
    }
    return undefined;
  } finally {
    await store.close();
  }
}

/** `anxin gate add`: a gate token, the gate registered (with --db), and its gate.json. */
async function add(rest: string[]): Promise<number> {
  const values = parseAddFlags(rest);
  if (typeof values === 'string') return fail(values);
  const problem = addFlagsProblem(values);
  if (problem) return fail(problem);
  const compound = values.compound!;
  const id = values.id!;
  const days = Number(values.days);
  const caFile = values['mqtt-ca'];
  if (caFile === undefined && /^(mqtts|wss|ssl):/.test(values.mqtt!)) {
    process.stderr.write(
      `anxin gate: ${values.mqtt} is verified against the system's CAs; a broker certificate from a private CA needs --mqtt-ca FILE\n`,
    );
  }

  try {
    const keys = readKeysFile(values.keys!);
    if (!keys.signing) return fail(`${values.keys}: no private key to sign with (this is a public-only keys file)`);
    const exp = Date.now() + days * DAY_MS;
    const token = signToken({ sub: id, role: 'gate', compound, exp }, keys.signing);

    if (values.db) {
      const refused = await registerGate(values.db, compound, id, values.name ?? id, exp);
      if (refused) return fail(refused);
    }

    const gateJson: EdgeConfigInput = {
      gateId: id,
      compoundId: compound,
      mqtt: { url: values.mqtt!, token, ...(caFile === undefined ? {} : { caFile }) },
      keys: { ...keys.file, keys: keys.file.keys.map(({ kid, publicKey }) => ({ kid, publicKey })) },
      dataDir: values['data-dir'] ?? `/var/lib/anxin/${id}`,
      // Loopback unless exposed on purpose: the public screen is for the gate's own kiosk.
      http: { port: 8090, host: '127.0.0.1' },
      devices: devicesOf(values),
    };
    parseEdgeConfig(gateJson);
    if (values['mosquitto-admin']) {
      // Before gate.json is written: a gate whose account could not be made is not half-provisioned.
      const admin = readMosquittoAdmin(values['mosquitto-admin']);
      await dynsecBrokerAccounts(admin).putGate({ id, compoundId: compound }, token);
      process.stderr.write(`anxin gate: account ${id} created on ${admin.url}\n`);
    }
    const text = `${JSON.stringify(gateJson, null, 2)}\n`;
    if (values.out) {
      writeFileSync(values.out, text, { mode: 0o600, flag: 'wx' });
      process.stderr.write(`wrote ${values.out} (token expires ${new Date(exp).toISOString()})\n`);
    } else {
      process.stdout.write(text);
    }
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.problems.join('; '));
    if (err instanceof AnxinError) return fail(err.message);
    throw err;
  }
}

/** `anxin gate list`: the registered gates and what each last said about itself. */
async function list(argv: string[]): Promise<number> {
  let values: { db: string; compound?: string | undefined };
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { db: { type: 'string', default: 'data/cloud.db' }, compound: { type: 'string' } },
    }).values;
  } catch (err) {
    return fail((err as Error).message);
  }
  if (!existsSync(values.db)) return fail(`--db: ${values.db} does not exist (the cloud's database; give its path)`);
  const store = new SqliteCloudStore({ path: values.db });
  try {
    const gates = await store.listGates(values.compound);
    const statuses = new Map((await store.latestStatuses(values.compound)).map((s) => [s.gateId, s]));
    const now = Date.now();
    const rows = gates.map((gate) => {
      const status = statuses.get(gate.id);
      const heard = status
        ? `${status.status.online ? 'online' : 'offline'} v${status.status.version} ${ago(now - status.receivedAt)} ago`
        : 'never heard';
      return [gate.id, gate.compoundId, gate.name, heard];
    });
    const widths = [0, 1, 2].map((i) =>
      Math.max(...rows.map((r) => r[i]!.length), ['id', 'compound', 'name'][i]!.length),
    );
    const line = (r: string[]) => `${r.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ')}\n`;
    process.stdout.write(line(['id', 'compound', 'name', 'status']));
    for (const row of rows) process.stdout.write(line(row));
    return 0;
  } finally {
    await store.close();
  }
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}
