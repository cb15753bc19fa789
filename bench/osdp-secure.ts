/**
 * What the OSDP secure channel costs the gate's CPU per message (docs/devices.md §8): sealing a
 * command (AES-CBC encryption of its data + the chained MAC) and opening the PD's reply (MAC check,
 * decryption), as the control panel does for every unlock and every poll; and one whole handshake
 * (session keys, cryptograms, initial R-MAC) as at every bring-up. Beside it, the plain frame the
 * same command costs without the secure channel. No I/O: the processing only, so that it can be
 * compared with the 5 ms scan → unlock budget whatever the load of the machine.
 *
 *   node --import tsx bench/osdp-secure.ts [--quick] [--messages 20000]
 */
import { randomBytes } from 'node:crypto';
import { OsdpCommand } from '../firmware-bridge/osdp/codes.ts';
import { encodeOut, OutputControl } from '../firmware-bridge/osdp/commands.ts';
import { OsdpFrame } from '../firmware-bridge/osdp/frame.ts';
import {
  clientCryptogram,
  deriveSessionKeys,
  initialRmac,
  SecureSession,
  serverCryptogram,
} from '../firmware-bridge/osdp/secure-channel.ts';
import { intFlag, runBench } from './lib/cli.ts';
import { latencyFigures } from './lib/report.ts';
import { Samples } from './lib/samples.ts';

const USAGE = `bench osdp-secure [--quick] [--messages N] [--json FILE]
  OSDP secure channel: seal an osdp_OUT + open its ACK, a POLL/ACK pair, one handshake; plain frames beside.`;

/** The per-unlock budget is 5 ms end to end; the secure channel should be a small part of it. */
const TARGET_P99_MS = 0.5;

await runBench('osdp-secure', USAGE, { messages: { type: 'string' } }, async (ctx) => {
  const { report, quick, values } = ctx;
  const messages = intFlag(values, 'messages', quick ? 2_000 : 20_000);
  const scbk = randomBytes(16);
  const rndA = randomBytes(8);
  const rndB = randomBytes(8);
  const keys = deriveSessionKeys(scbk, rndA);
  const rmac = initialRmac(keys, serverCryptogram(keys.sEnc, rndA, rndB));
  const cp = new SecureSession(keys, rmac);
  const pd = new SecureSession(keys, rmac);
  const out = encodeOut([{ output: 0, control: OutputControl.TEMPORARY_ON, timer: 30 }]);

  const unlock = new Samples();
  const poll = new Samples();
  const plain = new Samples();
  const handshake = new Samples();
  for (let i = 0; i < messages; i++) {
    const sequence = ((i % 3) + 1) as 1 | 2 | 3;
    // One unlock: the CP seals the OUT; the PD opens it and seals its ACK; the CP opens the ACK.
    // Only the CP's share is timed (what runs on the gate).
    let t = process.hrtime.bigint();
    const command = cp.sealCommand({ address: 0, sequence, code: OsdpCommand.OUT, data: out });
    let cpNs = process.hrtime.bigint() - t;
    pd.openCommand(OsdpFrame.fromBuffer(command));
    const reply = OsdpFrame.fromBuffer(pd.sealReply({ address: 0, sequence, code: 0x40 }));
    t = process.hrtime.bigint();
    cp.openReply(reply);
    cpNs += process.hrtime.bigint() - t;
    unlock.addNs(cpNs);

    t = process.hrtime.bigint();
    const pollBytes = cp.sealCommand({ address: 0, sequence, code: OsdpCommand.POLL });
    cpNs = process.hrtime.bigint() - t;
    pd.openCommand(OsdpFrame.fromBuffer(pollBytes));
    const ack = OsdpFrame.fromBuffer(pd.sealReply({ address: 0, sequence, code: 0x40 }));
    t = process.hrtime.bigint();
    cp.openReply(ack);
    poll.addNs(process.hrtime.bigint() - t + cpNs);

    t = process.hrtime.bigint();
    new OsdpFrame({ address: 0, sequence, code: OsdpCommand.OUT, data: out }).toBuffer();
    plain.addNs(process.hrtime.bigint() - t);

    if (i % 10 === 0) {
      t = process.hrtime.bigint();
      const k = deriveSessionKeys(scbk, rndA);
      clientCryptogram(k.sEnc, rndA, rndB);
      initialRmac(k, serverCryptogram(k.sEnc, rndA, rndB));
      handshake.addNs(process.hrtime.bigint() - t);
    }
  }
  report.add(
    ...latencyFigures('secure osdp_OUT: seal command + open ACK (CP side)', unlock.distribution(), {
      p99: TARGET_P99_MS,
    }),
  );
  report.add(...latencyFigures('secure POLL: seal + open ACK (CP side)', poll.distribution()));
  report.add(...latencyFigures('plain osdp_OUT frame (peer: no secure channel)', plain.distribution()));
  report.add(...latencyFigures('handshake crypto (keys, cryptograms, R-MAC)', handshake.distribution()));
  report.note('processing only: wire time of the 30-byte secure OUT is 2.6 ms at 115200 (12-byte plain: 1.0 ms)');
});
