// A small baseline JPEG encoder (ITU-T T.81, sequential DCT, Huffman, 8-bit), enough to
// make the test photos the center accepts ("What a center keeps is always a JPEG",
// docs/protocol.md): no npm package, no image tool needed on the machine.
//
// YCbCr without subsampling (4:4:4, one 8x8 block per component per MCU), the example
// quantisation and Huffman tables of T.81 Annex K, a JFIF APP0 segment and nothing else
// (no EXIF).
//
//   encodeJpeg({width, height, rgb: Uint8Array(width * height * 3)}, {quality}) -> Buffer
//   testImage(width, height, seed) -> {width, height, rgb}: a deterministic picture

// Annex K.1, in natural (row-major) order.
const LUMA_Q = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
  18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100,
  103, 99,
];
const CHROMA_Q = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
  ...Array(32).fill(99),
];

// Annex K.3: counts of codes of each length 1-16, then the symbols.
const DC_LUMA = { bits: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] };
const DC_CHROMA = { bits: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] };
const AC_LUMA = {
  bits: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
  values: [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81,
    0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18,
    0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75,
    0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
    0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5,
    0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
  ],
};
const AC_CHROMA = {
  bits: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
  values: [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08,
    0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25,
    0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47,
    0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74,
    0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
    0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba,
    0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4,
    0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
  ],
};

/** Zigzag position k -> natural index (row * 8 + column), walked diagonal by diagonal. */
const ZIGZAG = (() => {
  const order = [];
  for (let s = 0; s < 15; s++) {
    const lo = Math.max(0, s - 7);
    const hi = Math.min(s, 7);
    if (s % 2 === 0) for (let row = hi; row >= lo; row--) order.push(row * 8 + (s - row));
    else for (let row = lo; row <= hi; row++) order.push(row * 8 + (s - row));
  }
  return order;
})();

/** Every symbol a baseline AC table must code: EOB, ZRL, and run 0-15 x size 1-10. */
function checkTable({ bits, values }, ac) {
  const count = bits.reduce((a, b) => a + b, 0);
  if (count !== values.length || new Set(values).size !== values.length) throw new Error('jpeg: a Huffman table is malformed');
  const wanted = ac ? [0x00, 0xf0, ...Array.from({ length: 160 }, (_, i) => ((i / 10) << 4) | ((i % 10) + 1))] : [...Array(12).keys()];
  if (wanted.length !== values.length || !wanted.every((v) => values.includes(v))) throw new Error('jpeg: a Huffman table lacks a symbol');
  // Kraft: codes of lengths 1-16 fit, and the all-ones code stays unused.
  let room = 0;
  for (let i = 0; i < 16; i++) room += bits[i] * 2 ** (15 - i);
  if (room > 2 ** 16 - 1) throw new Error('jpeg: a Huffman table overflows');
}

/** Canonical codes (T.81 Annex C): symbol -> [code, length]. */
function huffmanCodes({ bits, values }) {
  const codes = new Map();
  let code = 0;
  let k = 0;
  for (let length = 1; length <= 16; length++) {
    for (let i = 0; i < bits[length - 1]; i++) codes.set(values[k++], [code++, length]);
    code <<= 1;
  }
  return codes;
}

for (const [table, ac] of [
  [DC_LUMA, false],
  [DC_CHROMA, false],
  [AC_LUMA, true],
  [AC_CHROMA, true],
]) {
  checkTable(table, ac);
}
const CODES = { dc: [huffmanCodes(DC_LUMA), huffmanCodes(DC_CHROMA)], ac: [huffmanCodes(AC_LUMA), huffmanCodes(AC_CHROMA)] };

function scaledTable(base, quality) {
  const q = Math.min(100, Math.max(1, quality));
  const scale = q < 50 ? 5000 / q : 200 - 2 * q; // the IJG convention
  return base.map((v) => Math.min(255, Math.max(1, Math.floor((v * scale + 50) / 100))));
}

const COS = Array.from({ length: 8 }, (_, x) => Array.from({ length: 8 }, (_, u) => Math.cos(((2 * x + 1) * u * Math.PI) / 16)));
const C = (u) => (u === 0 ? Math.SQRT1_2 : 1);

/** The forward DCT of one level-shifted 8x8 block (natural order in and out). */
function fdct(block) {
  const out = new Float64Array(64);
  for (let v = 0; v < 8; v++) {
    for (let u = 0; u < 8; u++) {
      let sum = 0;
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) sum += block[y * 8 + x] * COS[x][u] * COS[y][v];
      out[v * 8 + u] = 0.25 * C(u) * C(v) * sum;
    }
  }
  return out;
}

class BitWriter {
  constructor() {
    this.bytes = [];
    this.acc = 0;
    this.n = 0;
  }

  write(code, length) {
    for (let i = length - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((code >> i) & 1);
      this.n += 1;
      if (this.n === 8) {
        this.bytes.push(this.acc);
        if (this.acc === 0xff) this.bytes.push(0x00); // byte stuffing
        this.acc = 0;
        this.n = 0;
      }
    }
  }

  /** Pads the last byte with 1 bits (T.81 F.1.2.3). */
  finish() {
    if (this.n > 0) this.write((1 << (8 - this.n)) - 1, 8 - this.n);
    return this.bytes;
  }
}

/** Magnitude category and the bits that follow it (T.81 F.1.2.1). */
function category(value) {
  const magnitude = Math.abs(value);
  let size = 0;
  while (magnitude >> size) size++;
  const bits = value < 0 ? value + (1 << size) - 1 : value;
  return [size, bits];
}

function segment(marker, payload) {
  const length = payload.length + 2;
  return [0xff, marker, length >> 8, length & 0xff, ...payload];
}

/**
 * @param {{width: number, height: number, rgb: Uint8Array}} image 8-bit RGB, row by row
 * @param {{quality?: number}} options
 * @returns {Buffer}
 */
export function encodeJpeg({ width, height, rgb }, { quality = 75 } = {}) {
  if (!(width >= 1 && width <= 65535 && height >= 1 && height <= 65535)) throw new Error(`jpeg: bad size ${width}x${height}`);
  if (rgb.length !== width * height * 3) throw new Error('jpeg: rgb is not width * height * 3 bytes');
  const tables = [scaledTable(LUMA_Q, quality), scaledTable(CHROMA_Q, quality)];
  const out = [0xff, 0xd8];
  // JFIF 1.01, no units, 1:1 aspect, no thumbnail.
  out.push(...segment(0xe0, [0x4a, 0x46, 0x49, 0x46, 0x00, 1, 1, 0, 0, 1, 0, 1, 0, 0]));
  out.push(...segment(0xdb, [0x00, ...ZIGZAG.map((i) => tables[0][i]), 0x01, ...ZIGZAG.map((i) => tables[1][i])]));
  // SOF0: 8-bit, three components (Y, Cb, Cr), 1x1 sampling, Y on table 0, chroma on 1.
  out.push(...segment(0xc0, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1]));
  const dht = [];
  for (const [klass, id, t] of [
    [0, 0, DC_LUMA],
    [1, 0, AC_LUMA],
    [0, 1, DC_CHROMA],
    [1, 1, AC_CHROMA],
  ]) {
    dht.push((klass << 4) | id, ...t.bits, ...t.values);
  }
  out.push(...segment(0xc4, dht));
  out.push(...segment(0xda, [3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]));

  const bits = new BitWriter();
  const previousDc = [0, 0, 0];
  const block = [new Float64Array(64), new Float64Array(64), new Float64Array(64)];
  for (let by = 0; by < height; by += 8) {
    for (let bx = 0; bx < width; bx += 8) {
      for (let y = 0; y < 8; y++) {
        for (let x = 0; x < 8; x++) {
          // Edge blocks repeat the last row and column.
          const px = Math.min(bx + x, width - 1);
          const py = Math.min(by + y, height - 1);
          const at = (py * width + px) * 3;
          const [r, g, b] = [rgb[at], rgb[at + 1], rgb[at + 2]];
          block[0][y * 8 + x] = 0.299 * r + 0.587 * g + 0.114 * b - 128;
          block[1][y * 8 + x] = -0.168736 * r - 0.331264 * g + 0.5 * b;
          block[2][y * 8 + x] = 0.5 * r - 0.418688 * g - 0.081312 * b;
        }
      }
      for (let c = 0; c < 3; c++) {
        const t = c === 0 ? 0 : 1;
        const coefficients = fdct(block[c]);
        const q = ZIGZAG.map((i) => Math.round(coefficients[i] / tables[t][i]));
        const [size, extra] = category(q[0] - previousDc[c]);
        previousDc[c] = q[0];
        const [dcCode, dcLength] = CODES.dc[t].get(size);
        bits.write(dcCode, dcLength);
        if (size > 0) bits.write(extra, size);
        let run = 0;
        for (let k = 1; k < 64; k++) {
          if (q[k] === 0) {
            run += 1;
            continue;
          }
          while (run > 15) {
            const [zrl, zrlLength] = CODES.ac[t].get(0xf0);
            bits.write(zrl, zrlLength);
            run -= 16;
          }
          const [acSize, acExtra] = category(q[k]);
          if (acSize > 10) throw new Error('jpeg: an AC coefficient out of range');
          const [code, length] = CODES.ac[t].get((run << 4) | acSize);
          bits.write(code, length);
          bits.write(acExtra, acSize);
          run = 0;
        }
        if (run > 0) {
          const [eob, eobLength] = CODES.ac[t].get(0x00);
          bits.write(eob, eobLength);
        }
      }
    }
  }
  out.push(...bits.finish(), 0xff, 0xd9);
  return Buffer.from(out);
}

/** A deterministic picture: a colour gradient with rings and a little noise from `seed`. */
export function testImage(width, height, seed = 1) {
  const rgb = new Uint8Array(width * height * 3);
  let state = seed >>> 0 || 1;
  const noise = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return (state % 33) - 16;
  };
  const clamp = (v) => Math.max(0, Math.min(255, Math.round(v)));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const ring = 127 + 120 * Math.sin(Math.hypot(x - width / 2, y - height / 2) / 3);
      const at = (y * width + x) * 3;
      rgb[at] = clamp((255 * x) / Math.max(1, width - 1) + noise());
      rgb[at + 1] = clamp(ring + noise());
      rgb[at + 2] = clamp((255 * y) / Math.max(1, height - 1) + noise());
    }
  }
  return { width, height, rgb };
}

/** Width and height from a JPEG's SOF header, or null: what a reader checks first. */
export function jpegSize(bytes) {
  const b = Buffer.from(bytes);
  if (b[0] !== 0xff || b[1] !== 0xd8) return null;
  let at = 2;
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff) return null;
    const marker = b[at + 1];
    const length = b.readUInt16BE(at + 2);
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      return { height: b.readUInt16BE(at + 5), width: b.readUInt16BE(at + 7) };
    }
    at += 2 + length;
  }
  return null;
}
