/**
 * A minimal DER (X.690) element walker, for the few places where the exact encoded bytes matter more than the
 * decoded value: the signed TBSCertificate and the SubjectPublicKeyInfo that RA-TLS hashes. Decoding through a
 * schema and re-encoding could normalize a sloppy encoding and so hash other bytes than the peer signed.
 */

/** One TLV element: its tag byte and where its header and value lie in the input. */
export interface DerElement {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first value byte. */
  valueStart: number;
  /** Offset just past the value. */
  end: number;
}

/** Reads the element at `offset` of `bytes`, or returns undefined when it is not a complete DER TLV. */
export function readDerElement(bytes: Uint8Array, offset: number, limit = bytes.length): DerElement | undefined {
  if (offset + 2 > limit) return undefined;
  const tag = bytes[offset]!;
  // High-tag-number form (tag bits 11111) never occurs in the certificate fields we walk.
  if ((tag & 0x1f) === 0x1f) return undefined;
  let p = offset + 1;
  const first = bytes[p++]!;
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    const n = first & 0x7f;
    // 0x80 is BER's indefinite length (not DER); more than 4 length octets cannot fit any input we accept.
    if (n === 0 || n > 4 || p + n > limit) return undefined;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + bytes[p++]!;
  }
  const end = p + length;
  if (end > limit) return undefined;
  return { tag, start: offset, valueStart: p, end };
}

/** The children of a constructed element, in order; undefined when they do not exactly fill it. */
export function derChildren(bytes: Uint8Array, parent: DerElement): DerElement[] | undefined {
  const out: DerElement[] = [];
  let p = parent.valueStart;
  while (p < parent.end) {
    const e = readDerElement(bytes, p, parent.end);
    if (e === undefined) return undefined;
    out.push(e);
    p = e.end;
  }
  return out;
}

/** The encoded bytes (header and value) of an element. */
export function derBytes(bytes: Uint8Array, e: DerElement): Uint8Array {
  return bytes.subarray(e.start, e.end);
}

/**
 * Why `bytes` is not one well-formed DER element, or undefined when it is: a single element that spans exactly
 * the input, every constructed element exactly filled by its children (recursively), every length in its
 * shortest form (X.690 §10.1). A lenient decoder accepts an outer length that is too short or an element that
 * runs past its parent, so bytes no signature covers (a certificate's outer SEQUENCE, its signatureAlgorithm)
 * could change without changing what is decoded; checking the structure first closes that.
 */
export function derStructureError(bytes: Uint8Array): string | undefined {
  const top = readDerElement(bytes, 0);
  if (top === undefined) return 'it does not start with a complete DER element';
  if (top.end !== bytes.length) return `${bytes.length - top.end} bytes follow the outer element`;
  const stack: DerElement[] = [top];
  while (stack.length > 0) {
    const e = stack.pop()!;
    const lengthOctets = e.valueStart - e.start - 1;
    const length = e.end - e.valueStart;
    if (lengthOctets > 1 && (bytes[e.start + 2] === 0 || length < 0x80)) return `the length at offset ${e.start + 1} is not in its shortest form`;
    if ((e.tag & 0x20) === 0) continue;
    const children = derChildren(bytes, e);
    if (children === undefined) return `the contents of the element at offset ${e.start} do not exactly hold its parts`;
    stack.push(...children);
  }
  return undefined;
}
