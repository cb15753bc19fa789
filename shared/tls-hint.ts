/**
 * What to do next after a TLS failure: Node names the problem (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
 * `ERR_TLS_CERT_ALTNAME_INVALID`, …) but not the remedy. Each client adds the option that fixes it
 * in its own words (`mqtt.caFile` in gate.json, `--mqtt-ca` for the cloud); docs/troubleshooting.md.
 */

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
]);

/** A hint for a TLS error, or undefined for anything else. `caOption` names the CA option of the caller. */
export function tlsHint(error: unknown, caOption: string): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === undefined) return undefined;
  if (UNTRUSTED.has(code)) {
    return `the broker's certificate is not signed by a CA this side trusts: give the CA that signed it with ${caOption} (never turn verification off)`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return "the broker's certificate does not name the host in the URL: connect by a name or IP in its subjectAltName, or reissue it (docs/deploy.md, TLS)";
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return "the broker's certificate is outside its validity period: renew it, and check this machine's clock (NTP)";
  }
  if (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
    return 'TLS handshake failed: is the URL mqtts:// against a plain-MQTT port (or mqtt:// against a TLS one)?';
  }
  return undefined;
}
