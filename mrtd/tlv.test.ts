import { describe, expect, it } from 'vitest';
import { TlvError, decodeTlv, decodeTlvList, encodeLength, encodedTlvList, tlv } from './tlv.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

describe('BER-TLV', () => {
  it('encodes short and long length forms', () => {
    expect(hex(encodeLength(0))).toBe('00');
    expect(hex(encodeLength(127))).toBe('7F');
    expect(hex(encodeLength(128))).toBe('8180');
    expect(hex(encodeLength(255))).toBe('81FF');
    expect(hex(encodeLength(256))).toBe('820100');
    expect(hex(encodeLength(65536))).toBe('83010000');
    expect(hex(encodeLength(0x1000000))).toBe('8401000000');
  });

  it('round-trips multi-byte tags and nested values', () => {
    const big = Buffer.alloc(20000, 7);
    const enc = tlv(0x75, [tlv(0x7f61, [tlv(0x02, Buffer.from([1])), tlv(0x5f2e, big)])]);
    const outer = decodeTlv(enc);
    expect(outer.tag).toBe(0x75);
    expect(outer.constructed).toBe(true);
    const [group] = decodeTlvList(outer.value);
    expect(group!.tag).toBe(0x7f61);
    const kids = decodeTlvList(group!.value);
    expect(kids.map((k) => k.tag)).toEqual([0x02, 0x5f2e]);
    expect(kids[1]!.value.equals(big)).toBe(true);
    expect(decodeTlv(tlv(0x5f1f, 'ABC')).value.toString()).toBe('ABC');
  });

  it('hands each object of a list over as the bytes it is encoded in, long-form lengths kept', () => {
    const parts = ['0201 01', '5F1F 81 03 414243', '30 82 0002 0500'].map((h) =>
      Buffer.from(h.replace(/ /g, ''), 'hex'),
    );
    expect(encodedTlvList(Buffer.concat(parts)).map(hex)).toEqual(parts.map(hex));
  });

  it('names what is wrong with malformed input', () => {
    expect(() => decodeTlv(Buffer.from('5F', 'hex'))).toThrow(/tag is truncated/);
    expect(() => decodeTlv(Buffer.from('61', 'hex'))).toThrow(/has no length/);
    expect(() => decodeTlv(Buffer.from('6105AABB', 'hex'))).toThrow(
      /announces 5 bytes but only 2 remain/,
    );
    expect(() => decodeTlv(Buffer.from('6182', 'hex'))).toThrow(/length of tag 61 is truncated/);
    expect(() => decodeTlv(Buffer.from('618500000000', 'hex'))).toThrow(/5-byte length/);
    expect(() => decodeTlv(Buffer.from('6180', 'hex'))).toThrow(/indefinite/);
    expect(() => decodeTlv(Buffer.from('6100FF', 'hex'))).toThrow(/1 unexpected bytes/);
    expect(() => decodeTlv(Buffer.alloc(0))).toThrow(TlvError);
  });
});
