/**
 * OSDP check characters (docs/devices.md §5): CRC-16/AUG-CCITT when CTRL bit 2 is set, otherwise an
 * 8-bit checksum. Both cover every byte from the 0x53 start of message through the last data byte.
 */

const CRC16_POLYNOMIAL = 0x1021;
/** AUG-CCITT starts from 0x1D0F (the register after feeding 0xFFFF two zero bytes), not 0xFFFF. */
const CRC16_INIT = 0x1d0f;

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ CRC16_POLYNOMIAL) & 0xffff : (crc << 1) & 0xffff;
    table[byte] = crc;
  }
  return table;
})();

/** CRC-16/AUG-CCITT (poly 0x1021, init 0x1D0F, not reflected, no final xor) of `bytes[start, end)`. O(n). */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = CRC16_INIT;
  for (let i = start; i < end; i++) crc = ((crc << 8) ^ CRC16_TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!) & 0xffff;
  return crc;
}

/** The OSDP checksum: two's complement of the 8-bit sum of `bytes[start, end)`, so that the sum including it is 0. */
export function checksum8(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum = (sum + bytes[i]!) & 0xff;
  return (0x100 - sum) & 0xff;
}
