#!/usr/bin/env node
// Deterministic generator for tests/data/mask/corpus.jsonl: a labelled corpus used to measure
// the precision and recall of the sensitive-data detectors.
//
//   node tests/data/mask/make_corpus.mjs        (no npm dependencies; writes corpus.jsonl next
//                                                to this file and prints counts to stdout)
//
// Every line is {"id","text","entities":[{"type","start","end"}]}; start/end are BYTE offsets
// into the UTF-8 text (end exclusive). "entities" lists every real sensitive value, sorted by
// start; decoys (values that look similar but break a rule) are not listed.
//
// Self-checks, all fatal:
//  - each real value passes its rule (Luhn + issuer, SSN ranges, IBAN length/BBAN/mod-97, ...);
//  - each decoy breaks the rule it imitates;
//  - a reference scanner that implements the rules literally finds, in every text, exactly the
//    labelled spans (same type, same bytes) and nothing else - so no decoy, filler word or
//    neighbouring value is detected, and no labelled value merges with its surroundings. A
//    sample that fails this is redrawn (same item kinds, new values and wording); the number of
//    redraws per reason is printed.
//  - Buffer.from(text).subarray(start, end) equals the value for every entity.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = join(HERE, 'corpus.jsonl');
const SEED = 0x7e57c0de;
const N_SAMPLES = 900;

// ---------------------------------------------------------------------------------------------
// PRNG and small helpers

function mulberry32(a) {
  return function () {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = mulberry32(SEED);
const ri = (a, b) => a + Math.floor(rnd() * (b - a + 1));
const pick = (arr) => arr[Math.floor(rnd() * arr.length)];
const chance = (p) => rnd() < p;
function shuffle(arr) {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [arr[i], arr[j]] = [arr[j], arr[i]];
  }
  return arr;
}
function weighted(pairs) { // [[value, weight], ...]
  const total = pairs.reduce((s, p) => s + p[1], 0);
  let r = rnd() * total;
  for (const [v, w] of pairs) { if ((r -= w) < 0) return v; }
  return pairs[pairs.length - 1][0];
}
const UP = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LO = 'abcdefghijklmnopqrstuvwxyz';
const DG = '0123456789';
const ALNUM = UP + LO + DG;
const B32 = UP + '234567';
const B64 = ALNUM + '+/';
const B64URL = ALNUM + '-_';
const HEX = '0123456789abcdef';
const rs = (set, n) => { let s = ''; for (let i = 0; i < n; i++) s += set[Math.floor(rnd() * set.length)]; return s; };
const digits = (n) => rs(DG, n);
const nz = () => String(ri(2, 9));
const d2 = () => digits(2);
const pad = (n, w) => String(n).padStart(w, '0');
const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
const bytes = (s) => Buffer.byteLength(s, 'utf8');
const maxDigitRun = (s) => Math.max(0, ...(s.match(/\d+/g) || []).map((x) => x.length));

// ---------------------------------------------------------------------------------------------
// Rules (used both to assert generated values and by the reference scanner)

function luhnValid(d) {
  let sum = 0, dbl = false;
  for (let i = d.length - 1; i >= 0; i--) {
    let x = d.charCodeAt(i) - 48;
    if (dbl) { x *= 2; if (x > 9) x -= 9; }
    sum += x; dbl = !dbl;
  }
  return sum % 10 === 0;
}
function luhnCheckDigit(partial) {
  for (let c = 0; c < 10; c++) if (luhnValid(partial + c)) return String(c);
  throw new Error('unreachable');
}
const ISSUERS = [ // [test on the digit string, allowed lengths]
  [(d) => d[0] === '4', [13, 16, 19]],                                     // Visa
  [(d) => { const p = +d.slice(0, 2), q = +d.slice(0, 4); return (p >= 51 && p <= 55) || (q >= 2221 && q <= 2720); }, [16]], // Mastercard
  [(d) => ['34', '37'].includes(d.slice(0, 2)), [15]],                      // Amex
  [(d) => d.startsWith('6011') || (+d.slice(0, 3) >= 644 && +d.slice(0, 3) <= 649) || d.startsWith('65'), [16, 17, 18, 19]], // Discover
  [(d) => d.startsWith('36'), [14]],                                        // Diners
  [(d) => +d.slice(0, 3) >= 300 && +d.slice(0, 3) <= 305, [14]],            // Diners
  [(d) => ['38', '39'].includes(d.slice(0, 2)), [16]],                      // Diners
  [(d) => +d.slice(0, 4) >= 3528 && +d.slice(0, 4) <= 3589, [16, 17, 18, 19]], // JCB
  [(d) => d.startsWith('62'), [16, 17, 18, 19]],                            // UnionPay
];
const issuerOk = (d) => ISSUERS.some(([t, lens]) => t(d) && lens.includes(d.length));
const cardDigitsValid = (d) => /^\d{13,19}$/.test(d) && luhnValid(d) && issuerOk(d);
function cardValid(s) { // contiguous, or groups separated by one and the same single separator
  if (!/^\d+(?:([ -])\d+(?:\1\d+)*)?$/.test(s)) return false;
  return cardDigitsValid(s.replace(/[ -]/g, ''));
}

function ssnValid(s) {
  const m = /^(\d{3})([- ])(\d{2})\2(\d{4})$/.exec(s);
  if (!m) return false;
  const area = +m[1];
  return area !== 0 && area !== 666 && area < 900 && m[3] !== '00' && m[4] !== '0000';
}

function mod97(str) { // str: letters and digits; letters A=10..Z=35
  let r = 0;
  for (const ch of str) {
    const v = ch >= 'A' && ch <= 'Z' ? String(ch.charCodeAt(0) - 55) : ch;
    for (const c of v) r = (r * 10 + (c.charCodeAt(0) - 48)) % 97;
  }
  return r;
}
const ibanCheckDigits = (cc, bban) => pad(98 - mod97(bban + cc + '00'), 2);
const atMostOneLetter = (n) => (s) => s.length === n && /^[0-9A-Z]+$/.test(s) && (s.match(/[A-Z]/g) || []).length <= 1;
const onlyDigits = (n) => (s) => new RegExp(`^\\d{${n}}$`).test(s);
const bankLetters = (n) => (s) => new RegExp(`^[A-Z]{4}\\d{${n}}$`).test(s);
const GB_BANKS = ['NWBK', 'BARC', 'HBUK', 'LOYD', 'MIDL', 'NAIA'];
const NL_BANKS = ['ABNA', 'INGB', 'RABO', 'TRIO', 'SNSB'];
const IE_BANKS = ['AIBK', 'BOFI', 'IPBS'];
const IBAN_SPEC = {
  DE: { len: 22, gen: () => digits(18), ok: onlyDigits(18) },
  GB: { len: 22, gen: () => (chance(0.6) ? pick(GB_BANKS) : rs(UP, 4)) + digits(14), ok: bankLetters(14) },
  FR: { len: 27, gen: () => { let b = digits(23); if (chance(0.4)) { const i = ri(10, 20); b = b.slice(0, i) + rs(UP, 1) + b.slice(i + 1); } return b; }, ok: atMostOneLetter(23) },
  ES: { len: 24, gen: () => digits(20), ok: onlyDigits(20) },
  IT: { len: 27, gen: () => rs(UP, 1) + digits(22), ok: atMostOneLetter(23) },
  NL: { len: 18, gen: () => (chance(0.6) ? pick(NL_BANKS) : rs(UP, 4)) + digits(10), ok: bankLetters(10) },
  BE: { len: 16, gen: () => digits(12), ok: onlyDigits(12) },
  CH: { len: 21, gen: () => digits(17), ok: onlyDigits(17) },
  AT: { len: 20, gen: () => digits(16), ok: onlyDigits(16) },
  PL: { len: 28, gen: () => digits(24), ok: onlyDigits(24) },
  SE: { len: 24, gen: () => digits(20), ok: onlyDigits(20) },
  IE: { len: 22, gen: () => (chance(0.6) ? pick(IE_BANKS) : rs(UP, 4)) + digits(14), ok: bankLetters(14) },
  NO: { len: 15, gen: () => digits(11), ok: onlyDigits(11) },
  DK: { len: 18, gen: () => digits(14), ok: onlyDigits(14) },
  PT: { len: 25, gen: () => digits(21), ok: onlyDigits(21) },
};
function ibanCompact(s) {
  if (/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(s)) return s;
  if (/^[A-Z]{2}\d{2}(?: [A-Z0-9]{4})*(?: [A-Z0-9]{1,3})?$/.test(s)) return s.replace(/ /g, '');
  return null;
}
function ibanValid(s) {
  const c = ibanCompact(s);
  if (!c) return false;
  const spec = IBAN_SPEC[c.slice(0, 2)];
  if (!spec || c.length !== spec.len || !spec.ok(c.slice(4))) return false;
  return mod97(c.slice(4) + c.slice(0, 4)) === 1;
}

function emailValid(s) {
  const m = /^([A-Za-z0-9._+-]+)@((?:[A-Za-z0-9-]+\.)+)([A-Za-z]{2,6})$/.exec(s);
  if (!m) return false;
  const local = m[1];
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) return false;
  return m[2].slice(0, -1).split('.').every((l) => l.length > 0 && !l.startsWith('-') && !l.endsWith('-'));
}

const PHONE_NATIONAL = [
  /^\(\d{3}\) \d{3}-\d{4}$/, /^\d{3}-\d{3}-\d{4}$/, /^\d{3}\.\d{3}\.\d{4}$/, // US
  /^0\d{2} \d{4} \d{4}$/, /^0\d{4} \d{6}$/,                                  // UK
  /^0\d{2,4} \d{6,8}$/,                                                     // DE
  /^0\d(?: \d{2}){4}$/,                                                     // FR
];
function e164Valid(s) {
  if (!/^\+\d(?:[ -]?\d)+$/.test(s)) return false;
  if (s.includes(' ') && s.includes('-')) return false;
  const n = s.replace(/\D/g, '').length;
  return n >= 8 && n <= 15;
}
// National numbers have at least 10 digits (030 1234567, 020 7946 0958, 01 23 45 67 89).
const phoneValid = (s) => (s.startsWith('+') ? e164Valid(s) : PHONE_NATIONAL.some((re) => re.test(s)) && s.replace(/\D/g, '').length >= 10);

function ipv4Valid(s) {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  return !!m && m.slice(1).every((o) => /^(0|[1-9]\d{0,2})$/.test(o) && +o <= 255);
}
function ipv6Valid(s) {
  if (!/^[0-9A-Fa-f:]+$/.test(s)) return false;
  const hexGroup = (g) => /^[0-9A-Fa-f]{1,4}$/.test(g);
  const halves = s.split('::');
  if (halves.length > 2) return false;
  if (halves.length === 2) {
    const a = halves[0] === '' ? [] : halves[0].split(':');
    const b = halves[1] === '' ? [] : halves[1].split(':');
    return [...a, ...b].every(hexGroup) && a.length + b.length <= 7;
  }
  const g = s.split(':');
  return g.length === 8 && g.every(hexGroup);
}
const ipValid = (s) => ipv4Valid(s) || ipv6Valid(s);

const cloudValid = (s) => /^(?:(?:AKIA|ASIA)[A-Z2-7]{16}|AIza[0-9A-Za-z_-]{35})$/.test(s);

const PEM_RE = /^-----BEGIN ((?:RSA |EC |OPENSSH )?)PRIVATE KEY-----\n((?:[A-Za-z0-9+/=]+\n)+)-----END \1PRIVATE KEY-----$/;
function pemValid(s) {
  const m = PEM_RE.exec(s);
  if (!m) return false;
  const lines = m[2].slice(0, -1).split('\n');
  if (lines.length < 2 || lines.length > 8) return false;
  return lines.every((l, i) => (i < lines.length - 1 ? l.length === 64 && !l.includes('=') : l.length >= 1 && l.length <= 64 && /^[A-Za-z0-9+/]+={0,2}$/.test(l)));
}

function b64urlJson(seg) {
  if (!/^[A-Za-z0-9_-]+$/.test(seg)) return null;
  try {
    const txt = Buffer.from(seg.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    const v = JSON.parse(txt);
    return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch { return null; }
}
function jwtShapeValid(s) { // what the scanner accepts: eyJ.eyJ.sig, header and payload JSON objects
  const p = s.split('.');
  return p.length === 3 && p[0].startsWith('eyJ') && p[1].startsWith('eyJ') && /^[A-Za-z0-9_-]+$/.test(p[2]) && !!b64urlJson(p[0]) && !!b64urlJson(p[1]);
}
function jwtStrictValid(s) { // what the generator promises on top
  if (!jwtShapeValid(s)) return false;
  const [h, pl, sig] = s.split('.');
  const H = b64urlJson(h), P = b64urlJson(pl);
  return typeof H.alg === 'string' && 'sub' in P && Number.isInteger(P.iat) && Number.isInteger(P.exp) && (sig.length === 43 || sig.length === 86);
}

function bearerValid(tok) {
  if (!/^[A-Za-z0-9._~+/-]+=*$/.test(tok)) return false;
  const base = tok.replace(/=+$/, '');
  return base.length >= 20 && base.length <= 60 && !tok.startsWith('eyJ');
}

const CRED_KEYS = ['password', 'passwd', 'pwd', 'secret', 'client_secret', 'api_key', 'apikey', 'api-key', 'access_token', 'auth_token', 'secret_key'];
function credValueValid(v) {
  return v.length >= 6 && v.length <= 40 && /^[^\s"',]+$/.test(v);
}
function credValueLooksLikeOther(v) {
  // (an all-lower-case word is left out too: "password: forgotten" reads as prose)
  return /^[a-z]+$/.test(v) || v.startsWith('eyJ') || /AKIA|ASIA|AIza/.test(v) || (v.includes('@') && v.includes('.')) || maxDigitRun(v) > 6 || /^[\d.:-]+$/.test(v);
}

// ---------------------------------------------------------------------------------------------
// Reference scanner: the rules above, applied to free text. Returns byte spans.

const CRED_RE = new RegExp(
  `(?<![\\w-])(["']?)(${[...CRED_KEYS].sort((a, b) => b.length - a.length).map((k) => k.replace('-', '\\-')).join('|')})\\1 ?[:=] ?(?:(["'])([^\\s"',]{6,40})\\3|([^\\s"',]{6,40})(?![^\\s"',]))`,
  'gi');
const IBAN_RES = Object.entries(IBAN_SPEC).flatMap(([cc, { len }]) => {
  const n = len - 4, k = Math.floor(n / 4), r = n % 4;
  return [
    new RegExp(`(?<![A-Za-z0-9])${cc}\\d{2}[A-Z0-9]{${n}}(?![A-Za-z0-9])`, 'g'),
    new RegExp(`(?<![A-Za-z0-9])${cc}\\d{2}(?: [A-Z0-9]{4}){${k}}${r ? `(?: [A-Z0-9]{${r}})` : ''}(?![A-Za-z0-9])`, 'g'),
  ];
});

function scan(text) {
  const hits = [];
  const add = (type, idx, len) => hits.push({ type, s: idx, e: idx + len });
  const each = (re, fn) => { re.lastIndex = 0; for (const m of text.matchAll(re)) fn(m); };

  // CREDIT_CARD: maximal runs of digit groups joined by single spaces or dashes
  each(/(?<![\w+.\/-])\d+(?:[ -]\d+)*/g, (m) => {
    const nx = text[m.index + m[0].length];
    if (nx && /\w/.test(nx)) return;
    if (cardValid(m[0])) add('CREDIT_CARD', m.index, m[0].length);
  });
  // US_SSN
  each(/(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w-])/g, (m) => { if (ssnValid(m[0])) add('US_SSN', m.index, m[0].length); });
  // IBAN (per country, exact length, contiguous or in groups of four)
  for (const re of IBAN_RES) each(re, (m) => { if (ibanValid(m[0])) add('IBAN', m.index, m[0].length); });
  // EMAIL
  each(/(?<![A-Za-z0-9._%+-])[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,6}(?![A-Za-z0-9-]|\.[A-Za-z0-9])/g, (m) => {
    if (emailValid(m[0])) add('EMAIL', m.index, m[0].length);
  });
  // PHONE
  each(/(?<![\w+])\+\d(?:[ -]?\d){7,14}(?!\d)/g, (m) => {
    const rest = text.slice(m.index + m[0].length);
    if (/^[ -]\d/.test(rest)) return; // number continues: ambiguous, not a clean detection
    if (e164Valid(m[0])) add('PHONE', m.index, m[0].length);
  });
  const natTail = '(?![\\w-]|[.:]\\d| \\d)';
  for (const src of [
    `\\(\\d{3}\\) \\d{3}-\\d{4}`, `\\d{3}-\\d{3}-\\d{4}`, `\\d{3}\\.\\d{3}\\.\\d{4}`,
    `0\\d{2} \\d{4} \\d{4}`, `0\\d{4} \\d{6}`, `0\\d{2,4} \\d{6,8}`, `0\\d(?: \\d{2}){4}`,
  ]) each(new RegExp(`(?<![\\w+.-])${src}${natTail}`, 'g'), (m) => add('PHONE', m.index, m[0].length));
  // IP_ADDRESS
  each(/(?<![\w.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?!\w|\.\d)/g, (m) => { if (ipv4Valid(m[0])) add('IP_ADDRESS', m.index, m[0].length); });
  each(/(?<![\w:])[0-9A-Fa-f:]+(?![\w:])/g, (m) => {
    if ((m[0].match(/:/g) || []).length >= 2 && ipv6Valid(m[0])) add('IP_ADDRESS', m.index, m[0].length);
  });
  // CLOUD_ACCESS_KEY
  each(/(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z2-7]{16}(?![A-Za-z0-9])/g, (m) => add('CLOUD_ACCESS_KEY', m.index, m[0].length));
  each(/(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])/g, (m) => add('CLOUD_ACCESS_KEY', m.index, m[0].length));
  // PRIVATE_KEY
  each(/-----BEGIN ((?:RSA |EC |OPENSSH )?)PRIVATE KEY-----\n(?:[A-Za-z0-9+/=]+\n)+-----END \1PRIVATE KEY-----/g, (m) => {
    if (pemValid(m[0])) add('PRIVATE_KEY', m.index, m[0].length);
  });
  // JWT
  each(/(?<![\w-])eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+(?![\w-])/g, (m) => { if (jwtShapeValid(m[0])) add('JWT', m.index, m[0].length); });
  // BEARER_TOKEN (span = token only)
  each(/(?<![A-Za-z0-9])[Bb]earer ([A-Za-z0-9._~+/-]+=*)/g, (m) => {
    if (bearerValid(m[1])) add('BEARER_TOKEN', m.index + m[0].length - m[1].length, m[1].length);
  });
  // CREDENTIAL (span = value only)
  each(CRED_RE, (m) => {
    const quoted = m[4] !== undefined, v = quoted ? m[4] : m[5];
    add('CREDENTIAL', m.index + m[0].length - v.length - (quoted ? 1 : 0), v.length);
  });

  // to byte offsets, dedupe
  const seen = new Set();
  const out = [];
  for (const h of hits) {
    const s = bytes(text.slice(0, h.s)), e = s + bytes(text.slice(h.s, h.e));
    const k = `${h.type}:${s}:${e}`;
    if (!seen.has(k)) { seen.add(k); out.push({ type: h.type, start: s, end: e }); }
  }
  return out.sort((a, b) => a.start - b.start || a.end - b.end);
}

// ---------------------------------------------------------------------------------------------
// Real value generators

const GROUPS = { 13: [4, 4, 5], 14: [4, 6, 4], 15: [4, 6, 5], 16: [4, 4, 4, 4], 17: [4, 4, 4, 5], 18: [4, 4, 4, 6], 19: [4, 4, 4, 4, 3] };
const fmtGroups = (d, groups, sep) => { const out = []; let i = 0; for (const n of groups) { out.push(d.slice(i, i + n)); i += n; } return out.join(sep); };
const BRANDS = [
  [() => ({ p: '4', L: pick([16, 16, 16, 13, 19]) }), 4],
  [() => ({ p: String(ri(51, 55)), L: 16 }), 3],
  [() => ({ p: String(ri(2221, 2720)), L: 16 }), 1],
  [() => ({ p: pick(['34', '37']), L: 15 }), 2],
  [() => ({ p: pick(['6011', String(ri(644, 649)), '65']), L: pick([16, 16, 17, 18, 19]) }), 1.5],
  [() => ({ p: '36', L: 14 }), 0.5],
  [() => ({ p: String(ri(300, 305)), L: 14 }), 0.5],
  [() => ({ p: pick(['38', '39']), L: 16 }), 0.5],
  [() => ({ p: String(ri(3528, 3589)), L: pick([16, 16, 17, 18, 19]) }), 1],
  [() => ({ p: '62', L: pick([16, 16, 17, 18, 19]) }), 1],
];
const FAMOUS_CARDS = ['4111111111111111', '5555555555554444', '378282246310005', '4012888888881881', '6011111111111117', '3530111333300000', '5105105105105100', '30569309025904', '4242424242424242', '371449635398431'];
for (const c of FAMOUS_CARDS) assert.ok(cardDigitsValid(c), c);
function genCardDigits(lengthFilter) {
  for (;;) {
    const { p, L } = weighted(BRANDS)();
    if (lengthFilter && !lengthFilter(L)) continue;
    const body = p + digits(L - 1 - p.length);
    return body + luhnCheckDigit(body);
  }
}
function genCard() {
  const d = chance(0.15) ? pick(FAMOUS_CARDS) : genCardDigits();
  const r = rnd();
  const s = r < 0.4 ? d : fmtGroups(d, GROUPS[d.length], r < 0.75 ? ' ' : '-');
  assert.ok(cardValid(s), s);
  return { value: s };
}

function genSSN() {
  let area; do area = ri(1, 899); while (area === 666);
  const sep = chance(0.85) ? '-' : ' ';
  const s = `${pad(area, 3)}${sep}${pad(ri(1, 99), 2)}${sep}${pad(ri(1, 9999), 4)}`;
  assert.ok(ssnValid(s), s);
  return { value: s };
}

const FAMOUS_IBANS = ['DE89370400440532013000', 'GB29NWBK60161331926819', 'FR1420041010050500013M02606', 'NL91ABNA0417164300', 'ES9121000418450200051332', 'IT60X0542811101000000123456', 'BE68539007547034', 'CH9300762011623852957', 'AT611904300234573201', 'PL61109010140000071219812874', 'SE4550000000058398257466', 'IE29AIBK93115212345678', 'NO9386011117947', 'DK5000400440116243', 'PT50000201231234567890154'];
for (const i of FAMOUS_IBANS) assert.ok(ibanValid(i), i);
const groupIban = (c) => c.match(/.{1,4}/g).join(' ');
function ibanCompactFor(cc) { const bban = IBAN_SPEC[cc].gen(); return cc + ibanCheckDigits(cc, bban) + bban; }
function genIBAN() {
  const c = chance(0.15) ? pick(FAMOUS_IBANS) : ibanCompactFor(pick(Object.keys(IBAN_SPEC)));
  const s = chance(0.5) ? c : groupIban(c);
  assert.ok(ibanValid(s), s);
  return { value: s };
}

const FIRST = ['jane', 'john', 'maria', 'li', 'ahmed', 'olga', 'sam', 'priya', 'lucas', 'emma', 'noah', 'fatima', 'kenji', 'sofia', 'david', 'chen', 'amara', 'tom'];
const LAST = ['doe', 'smith', 'mueller', 'garcia', 'nguyen', 'kowalski', 'rossi', 'tanaka', 'okafor', 'jensen', 'silva', 'martin', 'novak'];
const DOMAINS = ['example.com', 'example.org', 'mail.example.net', 'acme-corp.io', 'example.co.uk', 'uni-hamburg.de', 'contoso.com', 'corp.example.com', 'fabrikam.de', 'startup.ai', 'globex.fr', 'initech.co', 'shop-example.nl', 'eu.example.info'];
function genEmail() {
  const f = pick(FIRST), l = pick(LAST);
  let local;
  switch (ri(0, 6)) {
    case 0: local = `${f}.${l}`; break;
    case 1: local = `${f[0]}${l}`; break;
    case 2: local = `${f}+${pick(['billing', 'test', 'news', 'support'])}`; break;
    case 3: local = `${f}_${l}${ri(1, 99)}`; break;
    case 4: local = `${f}-${l}`; break;
    case 5: local = pick(['support', 'billing', 'admin', 'noreply', 'security', 'hr', 'it-helpdesk', 'ops.team']); break;
    default: local = `${f}${ri(70, 99)}`;
  }
  let e = `${local}@${pick(DOMAINS)}`;
  if (chance(0.1)) e = cap(e);
  assert.ok(emailValid(e), e);
  return { value: e };
}

const FAMOUS_PHONES = ['+14155552671', '+44 20 7946 0958', '+49 30 12345678', '+33 1 23 45 67 89', '(415) 555-2671', '415-555-2671', '415.555.2671', '020 7946 0958', '07700 900123', '030 12345678', '0171 1234567', '01 23 45 67 89'];
function genPhoneRaw() {
  switch (ri(0, 11)) {
    case 0: { const a = nz() + d2(), b = nz() + d2(), c = digits(4); return pick([`+1${a}${b}${c}`, `+1 ${a} ${b} ${c}`, `+1-${a}-${b}-${c}`]); }
    case 1: return pick([`+44 20 ${nz()}${digits(3)} ${digits(4)}`, `+44 7${digits(3)} ${digits(6)}`, `+447${digits(9)}`]);
    case 2: return pick([`+49 30 ${nz()}${digits(7)}`, `+49 1${pick(['5', '6', '7'])}${digits(1)} ${nz()}${digits(6)}`, `+4989${nz()}${digits(6)}`]);
    case 3: return pick([`+33 ${ri(1, 9)} ${d2()} ${d2()} ${d2()} ${d2()}`, `+33${pick(['6', '7'])}${digits(8)}`]);
    case 4: return pick([`+61 2 ${nz()}${digits(3)} ${digits(4)}`, `+81 3 ${nz()}${digits(3)} ${digits(4)}`, `+91 ${pick(['9', '8', '7'])}${digits(4)} ${digits(5)}`, `+34 6${d2()} ${digits(3)} ${digits(3)}`, `+31 20 ${nz()}${d2()} ${digits(4)}`, `+46 8 ${nz()}${d2()} ${digits(3)} ${d2()}`, `+41-44-${nz()}${d2()}-${d2()}-${d2()}`]);
    case 5: case 6: { const a = nz() + d2(), b = nz() + d2(), c = digits(4); return pick([`(${a}) ${b}-${c}`, `${a}-${b}-${c}`, `${a}.${b}.${c}`]); }
    case 7: return pick(FAMOUS_PHONES);
    case 8: return pick([`020 ${nz()}${digits(3)} ${digits(4)}`, `029 ${nz()}${digits(3)} ${digits(4)}`, `07${digits(3)} ${digits(6)}`]);
    case 9: return pick([`0${pick(['30', '40', '89', '69'])} ${nz()}${digits(ri(6, 7))}`, `0221 ${nz()}${digits(ri(5, 7))}`, `01${pick(['51', '52', '60', '62', '70', '71', '72', '76'])} ${nz()}${digits(6)}`]);
    default: return `0${ri(1, 7)} ${d2()} ${d2()} ${d2()} ${d2()}`;
  }
}
function genPhone() {
  for (;;) {
    const p = genPhoneRaw();
    assert.ok(phoneValid(p), p);
    if (cardDigitsValid(p.replace(/\D/g, ''))) continue; // keep phones from also reading as a card
    return { value: p };
  }
}

function genIPv4() {
  switch (ri(0, 6)) {
    case 0: return `10.${ri(0, 255)}.${ri(0, 255)}.${ri(1, 254)}`;
    case 1: return `192.168.${ri(0, 255)}.${ri(1, 254)}`;
    case 2: return `172.${ri(16, 31)}.${ri(0, 255)}.${ri(1, 254)}`;
    case 3: return `203.0.113.${ri(1, 254)}`;
    case 4: return `198.51.100.${ri(1, 254)}`;
    case 5: return pick(['8.8.8.8', '1.1.1.1', '127.0.0.1', '0.0.0.0', '255.255.255.255', '9.9.9.9', '169.254.169.254']);
    default: return `${ri(1, 223)}.${ri(0, 255)}.${ri(0, 255)}.${ri(1, 254)}`;
  }
}
function genIPv6() {
  let s;
  const r = ri(0, 5);
  if (r === 0) s = pick(['::1', 'fe80::1', '2001:db8::1', '2001:0db8:85a3:0000:0000:8a2e:0370:7334', 'fe80::1ff:fe23:4567:890a', '2001:db8:85a3::8a2e:370:7334']);
  else {
    const g = Array.from({ length: 8 }, () => ri(0, 0xffff).toString(16));
    if (r <= 2) g[0] = pick(['2001', 'fe80', '2a00', '2607', 'fd00']);
    if (r === 1) g[1] = 'db8';
    if (r === 5) s = g.map((x) => x.padStart(4, '0')).join(':'); // full form
    else {
      const i = ri(1, 5), j = Math.min(7, i + ri(2, 4)); // never a trailing '::'
      for (let k = i; k < j; k++) g[k] = '0';
      s = g.slice(0, i).join(':') + '::' + g.slice(j).join(':');
    }
  }
  if (chance(0.2)) s = s.toUpperCase();
  return s;
}
function genIP() {
  const s = chance(0.6) ? genIPv4() : genIPv6();
  assert.ok(ipValid(s), s);
  return { value: s, v6: s.includes(':') };
}

function genCloud() {
  const s = chance(0.6) ? pick(['AKIA', 'AKIA', 'ASIA']) + rs(B32, 16) : 'AIza' + rs(ALNUM + '_-', 34) + rs(ALNUM, 1);
  assert.ok(cloudValid(s), s);
  return { value: s, google: s.startsWith('AIza') };
}

const PEM_PREFIX = { '': 'MIIE', 'RSA ': 'MIIE', 'EC ': 'MHcCAQEE', 'OPENSSH ': 'b3BlbnNzaC1rZXktdjEAAAAA' };
function pemBody(prefix, nLines) {
  const lines = [];
  for (let i = 0; i < nLines; i++) lines.push(rs(B64, 64));
  lines[0] = prefix + lines[0].slice(prefix.length);
  if (chance(0.7)) { // shorter last line, length multiple of 4, maybe padded
    let last = rs(B64, 4 * ri(2, 15));
    const padN = pick([0, 1, 2]);
    if (padN) last = last.slice(0, -padN) + '='.repeat(padN);
    lines[nLines - 1] = nLines === 1 ? lines[0] : last;
  }
  return lines.join('\n');
}
function genPEM() {
  const kind = pick(['', '', 'RSA ', 'EC ', 'OPENSSH ']);
  const s = `-----BEGIN ${kind}PRIVATE KEY-----\n${pemBody(PEM_PREFIX[kind], ri(2, 8))}\n-----END ${kind}PRIVATE KEY-----`;
  assert.ok(pemValid(s), s);
  return { value: s };
}

const b64url = (str) => Buffer.from(str).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
function genJWT() {
  const header = pick([{ alg: 'HS256', typ: 'JWT' }, { alg: 'RS256', kid: 'k1' }, { alg: 'RS256', typ: 'JWT', kid: rs(HEX, 8) }, { alg: 'ES256', typ: 'JWT' }, { alg: 'HS512', typ: 'JWT' }]);
  const iat = ri(1700000000, 1740000000);
  const payload = { sub: pick([String(ri(1000000000, 1999999999)), `user_${ri(1, 9999)}`, 'svc-gateway', `${rs(HEX, 8)}-${rs(HEX, 4)}-${rs(HEX, 4)}`]) };
  if (chance(0.4)) payload.name = pick(['Jane Doe', 'John Smith', 'Kenji Tanaka', 'Priya Patel']);
  if (chance(0.4)) payload.iss = pick(['https://auth.example.com', 'https://login.example.org/tenant']);
  if (chance(0.3)) payload.role = pick(['admin', 'reader', 'agent']);
  payload.iat = iat;
  payload.exp = iat + pick([900, 3600, 86400]);
  const s = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${rs(B64URL, pick([43, 86]))}`;
  assert.ok(s.startsWith('eyJ') && s.split('.')[1].startsWith('eyJ'));
  assert.ok(jwtStrictValid(s), s);
  return { value: s };
}

function genBearer() {
  for (;;) {
    let t;
    switch (ri(0, 6)) {
      case 0: t = rs(ALNUM, ri(24, 48)); break;
      case 1: t = 'sk-' + rs(ALNUM, 48); break;
      case 2: t = 'sk-proj-' + rs(ALNUM + '-', ri(30, 46)) + rs(ALNUM, 1); break;
      case 3: t = 'ya29.' + rs(ALNUM + '-.', ri(30, 48)) + rs(ALNUM, 1); break;
      case 4: { const n = 4 * ri(6, 13); t = rs(ALNUM, 1) + rs(B64, n - 2) + rs(ALNUM, 1); const p = pick([0, 1, 2]); if (p) t = t.slice(0, -p) + '='.repeat(p); break; }
      case 5: t = rs(HEX, 40); break;
      default: t = `${rs(ALNUM, 8)}~${rs(ALNUM, 12)}/${rs(ALNUM, ri(6, 20))}`; break;
    }
    if (t.startsWith('eyJ') || t.length > 60 || /[^A-Za-z0-9=]$/.test(t) || /AKIA|ASIA|AIza/.test(t) || maxDigitRun(t) > 6) continue;
    assert.ok(bearerValid(t), t);
    return { value: t };
  }
}

const PASS_WORDS = ['Winter', 'Summer', 'Dragon', 'Monkey', 'Sunshine', 'Falcon', 'Orange', 'Tiger', 'Gateway', 'Hunter', 'Coffee', 'Rainbow'];
function genCredValue() {
  for (;;) {
    let v;
    switch (ri(0, 6)) {
      case 0: v = pick(PASS_WORDS) + ri(10, 2099) + pick(['!', '#', '$', '%', '*', '']); break;
      case 1: v = rs(ALNUM, 1) + rs(ALNUM + '!#$%^*_+-~', ri(9, 27)); break;
      case 2: v = rs(HEX, 32); break;
      case 3: v = pick(['sk_live_', 'sk_test_', 'whsec_', 'key-']) + rs(ALNUM, ri(20, 28)); break;
      case 4: { const n = 4 * ri(4, 10); v = rs(ALNUM, 1) + rs(B64, n - 1); const p = pick([0, 1, 2]); if (p) v = v.slice(0, -p) + '='.repeat(p); break; }
      case 5: v = pick(['P@ssw0rd', 'S3cr3t!', 'Tr0ub4dor3', 'letmein', 'Qwerty', 'Ch4ngeMe']) + pick(['', '2024', '!!', '_prod', '123']); break;
      default: v = shuffle(['correct', 'horse', 'battery', 'staple', 'purple', 'river', 'lamp']).slice(0, ri(3, 4)).join(pick(['-', '_', '+']));
    }
    if (!credValueValid(v) || credValueLooksLikeOther(v)) continue;
    return v;
  }
}
function genCredential() {
  const key = pick(CRED_KEYS);
  const cased = weighted([[key, 7], [key.toUpperCase(), 1.5], [cap(key), 1.5]]);
  return { value: genCredValue(), key: cased };
}

const GEN = {
  CREDIT_CARD: genCard, US_SSN: genSSN, IBAN: genIBAN, EMAIL: genEmail, PHONE: genPhone, IP_ADDRESS: genIP,
  CLOUD_ACCESS_KEY: genCloud, PRIVATE_KEY: genPEM, JWT: genJWT, BEARER_TOKEN: genBearer, CREDENTIAL: genCredential,
};
const CHECK = {
  CREDIT_CARD: cardValid, US_SSN: ssnValid, IBAN: ibanValid, EMAIL: emailValid, PHONE: phoneValid, IP_ADDRESS: ipValid,
  CLOUD_ACCESS_KEY: cloudValid, PRIVATE_KEY: pemValid, JWT: jwtStrictValid, BEARER_TOKEN: bearerValid,
  CREDENTIAL: (v) => credValueValid(v) && !credValueLooksLikeOther(v),
};
const TYPES = Object.keys(GEN);

// ---------------------------------------------------------------------------------------------
// Frames: how a real value is written into text. A frame returns {parts, pos?, block?}; parts
// are strings and the value object itself. pos 'first'/'last' asks for the start/end of text;
// block frames sit on their own lines.

const GENERIC_FRAMES = [
  (v, L) => ({ parts: [`${cap(L)}: `, v, '.'] }),
  (v, L) => ({ parts: [`The ${L} on the ticket is `, v, ', can you confirm it?'] }),
  (v, L) => ({ parts: [`I double-checked the ${L} (`, v, ') and it matches our records.'] }),
  (v, L) => ({ parts: [`The form field "${L}" was set to "`, v, '".'] }),
  (v, L) => ({ parts: [v, ` is the ${L} we have on file.`], pos: 'first' }),
  (v, L) => ({ parts: [`Please verify the ${L} `, v], pos: 'last' }),
  (v, L) => ({ parts: [`${cap(L)}:\n`, v, '\n'], block: true }),
  (v, L) => ({ parts: [`Updated ${L} to '`, v, "'; no other changes."] }),
  (v, L) => ({ parts: [`- ${L}: `, v, '\n'], block: true }),
  (v, L) => ({ parts: [`Customer wrote: "my ${L} is `, v, '" and asked us to fix the record.'] }),
  (v, L) => ({ parts: [`Flagged ${L} `, v, '; escalating to tier two.'] }),
  (v, L) => ({ parts: [`${cap(L)} `, v, ' appears twice in the export.'] }),
  (v, L) => ({ parts: [`Can you remove the ${L} from the log line (it shows `, v, ')?'] }),
  (v, L) => ({ parts: ['Note: ', v, ` is the only ${L} we could find, so please double-check it.`] }),
];
const LABELS = {
  CREDIT_CARD: ['card number', 'credit card', 'card', 'payment card'],
  US_SSN: ['SSN', 'social security number', 'Social Security number'],
  IBAN: ['IBAN', 'bank account', 'payout IBAN', 'account number'],
  EMAIL: ['email', 'email address', 'contact address', 'reply-to address'],
  PHONE: ['phone', 'phone number', 'mobile', 'callback number'],
  IP_ADDRESS: ['IP', 'IP address', 'client IP', 'source address'],
  CLOUD_AWS: ['AWS access key id', 'access key id', 'AWS key'],
  CLOUD_GOOGLE: ['Google Maps key', 'GCP browser key', 'Firebase web key'],
};
const SPECIFIC_FRAMES = {
  CREDIT_CARD: [
    (v) => ({ parts: ['Payment failed for card ', v, ' (declined by the issuer).'] }),
    (v) => ({ parts: ['Please charge ', v, ' for the annual plan.'] }),
    (v) => ({ parts: ['cc=', v, ' amount=49.99 currency=EUR'] }),
    (v) => ({ parts: ['Card: ', v, ', exp 09/27, name on card Jane Doe.'] }),
    (v) => ({ parts: ['Why did the bot echo my card number ', v, ' back to me?'] }),
  ],
  US_SSN: [
    (v) => ({ parts: ['My SSN is ', v, ' if you need it for verification.'] }),
    (v) => ({ parts: ['applicant_ssn=', v, ' status=pending'] }),
    (v) => ({ parts: ['The tax form lists ', v, ' as the SSN.'] }),
    (v) => ({ parts: ['SSN ', v, ' was pasted into the prompt by the user.'] }),
  ],
  IBAN: [
    (v) => ({ parts: ['Please wire the refund to ', v, '.'] }),
    (v) => ({ parts: ['IBAN ', v, ' (account holder: Jane Doe).'] }),
    (v) => ({ parts: ['Bank details: ', v, ', BIC COBADEFFXXX.'] }),
    (v) => ({ parts: ['The invoice footer shows ', v, ' as our account.'] }),
  ],
  EMAIL: [
    (v) => ({ parts: ['You can reach me at ', v, '.'] }),
    (v) => ({ parts: ['From: ', v, '\n'], block: true }),
    (v) => ({ parts: ['Jane Doe <', v, '> wrote:\n'], block: true }),
    (v) => ({ parts: ['mailto:', v], pos: 'last' }),
    (v) => ({ parts: ['Please add ', v, ' to the allowlist.'] }),
    (v) => ({ parts: ['The model leaked ', v, ' in its answer, which is a real customer address.'] }),
  ],
  PHONE: [
    (v) => ({ parts: ['Call me back at ', v, ' after lunch.'] }),
    (v) => ({ parts: ['Tel: ', v, '\n'], block: true }),
    (v) => ({ parts: ['Best number to reach me: ', v], pos: 'last' }),
    (v) => ({ parts: ['The hotline (', v, ') is staffed around the clock.'] }),
    (v) => ({ parts: ['Text ', v, ' when the deploy is done.'] }),
  ],
  IP_ADDRESS: [
    (v) => ({ parts: ['Connection refused from ', v, ' after three attempts.'] }),
    (v) => ({ parts: ['Blocked ', v, ' at the firewall.'] }),
    (v) => ({ parts: ['upstream ', v, ' timed out; retrying on the next node.'] }),
    (v) => ({ parts: ['client_ip="', v, '" method=POST path=/v1/chat'] }),
    (v) => ({ parts: ['Please allowlist ', v, ', it is our NAT gateway.'] }),
  ],
  CLOUD_AWS: [
    (v) => ({ parts: ['aws_access_key_id = ', v, '\n'], block: true }),
    (v) => ({ parts: ['Found ', v, ' hardcoded in deploy.sh.'] }),
    (v) => ({ parts: ['The access key id ', v, ' was rotated yesterday.'] }),
    (v) => ({ parts: ['AWS_ACCESS_KEY_ID=', v], pos: 'last' }),
  ],
  CLOUD_GOOGLE: [
    (v) => ({ parts: ['<script src="https://maps.googleapis.com/maps/api/js?key=', v, '&callback=initMap"></script>'] }),
    (v) => ({ parts: ['GOOGLE_MAPS_KEY=', v], pos: 'last' }),
    (v) => ({ parts: ['The Firebase config still contains ', v, ', please restrict it.'] }),
  ],
};
const JWT_FRAMES = [
  (v) => ({ parts: ['The JWT ', v, ' expired an hour ago.'] }),
  (v) => ({ parts: ['decode this: ', v], pos: 'last' }),
  (v) => ({ parts: ['Here is the JWT:\n', v, '\n'], block: true }),
  (v) => ({ parts: ['The login response contained ', v, ', but the client rejected it.'] }),
  (v) => ({ parts: ['WARN auth rejected jwt ', v, ' (signature mismatch)'] }),
  (v) => ({ parts: ['jwt.io says ', v, ' has an invalid signature.'] }),
  (v) => ({ parts: ['Cookie: session=', v, '; Path=/; HttpOnly'] }),
  (v) => ({ parts: [v, ' is what the identity provider returned.'], pos: 'first' }),
];
const JWT_BEARER_FRAMES = [
  (v) => ({ parts: ['Authorization: Bearer ', v, '\n'], block: true }),
  (v) => ({ parts: ['curl -H "Authorization: Bearer ', v, '" https://gateway.example.com/v1/models'] }),
  (v) => ({ parts: ['The client sends Bearer ', v, ' and gets a 401.'] }),
];
const BEARER_FRAMES = [
  (v) => ({ parts: ['Authorization: Bearer ', v, '\n'], block: true }),
  (v) => ({ parts: ["curl -H 'Authorization: Bearer ", v, "' https://api.example.com/v1/chat/completions"] }),
  (v) => ({ parts: ['curl -H "Authorization: bearer ', v, '" https://gateway.internal/v1/models'] }),
  (v) => ({ parts: ['headers = {"Authorization": "Bearer ', v, '"}'] }),
  (v) => ({ parts: ['The request was sent with Bearer ', v, ' and came back 401.'] }),
  (v) => ({ parts: ['DEBUG outbound header Authorization=Bearer ', v, '\n'], block: true }),
  (v) => ({ parts: ['We use "Bearer ', v, '" for the staging tenant.'] }),
  (v) => ({ parts: ['Bearer ', v, ' works in Postman but not from the SDK.'], pos: 'first' }),
  (v) => ({ parts: ['Authorization: Bearer ', v], pos: 'last' }),
];
const CRED_FRAMES = [
  (v, K) => ({ parts: [`${K}=`, v, '\n'], block: true }),
  (v, K) => ({ parts: [`${K}: `, v, '\n'], block: true }),
  (v, K) => ({ parts: [`${K} = "`, v, '"\n'], block: true }),
  (v, K) => ({ parts: [`{"user": "svc-gateway", "${K}": "`, v, '"}'] }),
  (v, K) => ({ parts: [`${K}='`, v, "'"] }),
  (v, K) => ({ parts: [`I set ${K}: `, v, ', but login still fails.'] }),
  (v, K) => ({ parts: [`${K} = `, v, ' # TODO rotate this\n'], block: true }),
  (v, K) => ({ parts: [`The config has ${K}="`, v, '" hardcoded, is that a problem?'] }),
  (v, K) => ({ parts: [`Try again with ${K}=`, v, ' and tell me what happens.'] }),
  (v, K) => ({ parts: [`${K}:`, v], pos: 'last' }),
];
const CRED_KEYED_FRAMES = [
  [(K) => !K.includes('-'), (v, K) => ({ parts: [`export ${K.toUpperCase()}=`, v, '\n'], block: true })],
  [(K) => /^(api_key|apikey|access_token|auth_token)$/i.test(K), (v, K) => ({ parts: [`GET https://api.example.com/v1/data?${K}=`, v, ' returned 403'] })],
  [(K) => /^pwd$/i.test(K), (v, K) => ({ parts: [`Server=db01;Database=billing;Uid=app;${K}=`, v], pos: 'last' })],
  [(K) => /^(password|passwd)$/i.test(K), (v, K) => ({ parts: [`mysql://app@db01/billing ${K}=`, v, ' (from the old runbook)'] })],
];
const PEM_FRAMES = [
  (v) => ({ parts: ['Here is the key I used:\n', v, '\nIt still fails with "bad decrypt".'] }),
  (v) => ({ parts: ['$ cat deploy_key\n', v], pos: 'last' }),
  (v) => ({ parts: [v, '\nThat is the key from the old server, please revoke it.'], pos: 'first' }),
  (v) => ({ parts: ['Contents of server.key:\n', v, '\n'], block: true }),
  (v) => ({ parts: ['Please rotate this immediately:\n\n', v, '\n'], block: true }),
];

function realFrames(item) {
  const { type, meta } = item;
  switch (type) {
    case 'CLOUD_ACCESS_KEY': {
      const k = meta.google ? 'CLOUD_GOOGLE' : 'CLOUD_AWS';
      return [...SPECIFIC_FRAMES[k], ...SPECIFIC_FRAMES[k], ...GENERIC_FRAMES.map((f) => (v) => f(v, pick(LABELS[k])))];
    }
    case 'PRIVATE_KEY': return PEM_FRAMES;
    case 'JWT': return chance(0.2) ? JWT_BEARER_FRAMES : JWT_FRAMES;
    case 'BEARER_TOKEN': return BEARER_FRAMES;
    case 'CREDENTIAL': {
      const extra = CRED_KEYED_FRAMES.filter(([ok]) => ok(meta.key)).map(([, f]) => f);
      return [...CRED_FRAMES, ...extra, ...extra].map((f) => (v) => f(v, meta.key));
    }
    default:
      return [...SPECIFIC_FRAMES[type], ...GENERIC_FRAMES.map((f) => (v) => f(v, pick(LABELS[type])))];
  }
}

// Keys used when a value is a field in CSV / JSON / a log line.
const REAL_KEYS = {
  CREDIT_CARD: ['card_number', 'cc', 'card'], US_SSN: ['ssn', 'applicant_ssn'], IBAN: ['iban', 'payout_iban'],
  EMAIL: ['email', 'contact_email', 'user_email'], PHONE: ['phone', 'mobile', 'tel'], IP_ADDRESS: ['ip', 'client_ip', 'remote_addr'],
  CLOUD_AWS: ['aws_key_id', 'access_key_id'], CLOUD_GOOGLE: ['maps_key', 'gcp_key'], JWT: ['jwt', 'session_jwt'],
};
function realKeys(item) {
  if (item.type === 'CLOUD_ACCESS_KEY') return REAL_KEYS[item.meta.google ? 'CLOUD_GOOGLE' : 'CLOUD_AWS'];
  return REAL_KEYS[item.type] || null;
}

// ---------------------------------------------------------------------------------------------
// Decoys: {gen, bad (must hold for the generated string), frames, keys (csv/json/log field names)}

const F = (...parts) => () => ({ parts }); // a decoy frame; the string 'V' marks where the decoy goes
const isoDate = () => `${ri(2019, 2025)}-${pad(ri(1, 12), 2)}-${pad(ri(1, 28), 2)}`;
const hms = () => `${pad(ri(0, 23), 2)}:${pad(ri(0, 59), 2)}:${pad(ri(0, 59), 2)}`;
function isbn13() {
  const body = pick(['978', '979']) + digits(9);
  let s = 0;
  for (let i = 0; i < 12; i++) s += (+body[i]) * (i % 2 ? 3 : 1);
  const d = body + ((10 - (s % 10)) % 10);
  const g = pick([[3, 1, 2, 6, 1], [3, 1, 3, 5, 1], [3, 1, 4, 4, 1], [3, 2, 3, 4, 1]]);
  return fmtGroups(d, g, '-');
}
function badIban(kind) {
  if (kind === 'checksum') {
    const c = ibanCompactFor(pick(Object.keys(IBAN_SPEC)));
    const idx = [...c].map((ch, i) => (i >= 4 && /\d/.test(ch) ? i : -1)).filter((i) => i >= 0);
    const i = pick(idx);
    const nd = String((+c[i] + ri(1, 9)) % 10);
    return c.slice(0, i) + nd + c.slice(i + 1);
  }
  if (kind === 'length') {
    const cc = pick(Object.keys(IBAN_SPEC).filter((k) => !['GB', 'NL', 'IE', 'FR', 'IT'].includes(k)));
    const n = IBAN_SPEC[cc].len - 4 + pick([-2, -1, 1, 2]);
    const bban = digits(n);
    return cc + ibanCheckDigits(cc, bban) + bban; // checksum right, length wrong
  }
  const cc = pick(['XX', 'ZZ', 'QQ', 'YY', 'US', 'AA']);
  const bban = digits(pick([16, 18, 20]));
  return cc + ibanCheckDigits(cc, bban) + bban; // checksum right, no such country
}
const ibanFmt = (c) => (chance(0.5) ? c : groupIban(c));
function noValidIbanPrefix(s) { // no known-country prefix of any length is a valid IBAN
  const c = s.replace(/ /g, '');
  for (let n = 5; n <= c.length; n++) if (ibanValid(c.slice(0, n))) return false;
  return true;
}
const IBAN_DECOY_FRAMES = [
  F('IBAN ', 'V', ' was rejected by the bank.'),
  F('The customer typed ', 'V', ' but the transfer bounced.'),
  F('Is ', 'V', ' a valid account number?'),
];
const certBlock = (label) => `-----BEGIN ${label}-----\n${pemBody(label === 'CERTIFICATE' ? 'MIID' : label === 'PUBLIC KEY' ? 'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A' : 'MIIBCgKCAQEA', ri(3, 8))}\n-----END ${label}-----`;
const BLOCK_FRAMES = [
  () => ({ parts: ['The server presented this:\n', 'V', '\n'], block: true }),
  () => ({ parts: ['Safe to share, it is public material:\n', 'V', '\n'], block: true }),
  () => ({ parts: ['V', '\nIs this the right file to upload?'], pos: 'first' }),
];

const DECOYS = {
  card_luhn_invalid: {
    gen: () => {
      const d0 = chance(0.25) ? pick(FAMOUS_CARDS.filter((c) => c.length === 16)) : genCardDigits((L) => L === 16);
      const d = d0.slice(0, -1) + String((+d0.slice(-1) + ri(1, 9)) % 10);
      return chance(0.8) ? fmtGroups(d, GROUPS[16], pick([' ', '-'])) : d;
    },
    bad: (v) => { const d = v.replace(/[ -]/g, ''); return d.length === 16 && issuerOk(d) && !luhnValid(d); },
    frames: [F('The test card ', 'V', ' keeps getting rejected as invalid.'), F('Card number ', 'V', ' fails the checksum, please re-enter it.'), F('Typo? ', 'V', ' does not look right.')],
    keys: ['card_number'],
  },
  card_unknown_prefix: {
    gen: () => {
      const body = pick(['1', '7', '8', '9']) + digits(14);
      const d = body + luhnCheckDigit(body);
      return chance(0.7) ? fmtGroups(d, GROUPS[16], pick([' ', '-'])) : d;
    },
    bad: (v) => { const d = v.replace(/[ -]/g, ''); return d.length === 16 && luhnValid(d) && !issuerOk(d); },
    frames: [F('Loyalty member number ', 'V', ' was merged.'), F('Gift card ', 'V', ' has a zero balance.'), F('Shipment reference ', 'V', ' is attached to the claim.')],
    keys: ['member_no', 'gift_card'],
  },
  order_id: {
    gen: () => pick([`ORD-${ri(2019, 2025)}-${pad(ri(1, 999999), 6)}`, `INV-${ri(10000, 99999)}`, `PO-${ri(2019, 2025)}-${pad(ri(1, 9999), 4)}`, `#${ri(10000000, 99999999)}`]),
    bad: () => true,
    frames: (v) => (v.startsWith('#') ? [F('Re: order ', 'V', ', still not delivered.'), F('I am asking about order ', 'V', '.')] : [F('Your order ', 'V', ' has shipped.'), F('Invoice reference: ', 'V', '.'), F('Refund for ', 'V', ' was approved.')]),
    keys: ['order_id', 'invoice'],
  },
  tracking_number: {
    gen: () => '1Z' + rs(UP + DG, 3) + rs(UP, 3) + digits(10),
    bad: (v) => !/AKIA|ASIA/.test(v),
    frames: [F('Tracking number ', 'V', ' (UPS) shows it out for delivery.'), F('The parcel ', 'V', ' is stuck in customs.')],
    keys: ['tracking'],
  },
  isbn: {
    gen: isbn13,
    bad: (v) => !cardValid(v),
    frames: [F('ISBN ', 'V', ' is out of stock.'), F('Please cite the book (ISBN ', 'V', ') in the report.')],
    keys: ['isbn'],
  },
  long_timestamp: {
    gen: () => isoDate().replace(/-/g, '') + hms().replace(/:/g, ''),
    bad: (v) => /^\d{14}$/.test(v) && !cardDigitsValid(v),
    frames: [F('Snapshot ', 'V', ' was restored.'), F('The batch ', 'V', ' finished without errors.')],
    keys: ['batch_id', 'snapshot'],
  },
  ssn_invalid: {
    gen: () => {
      const sep = chance(0.85) ? '-' : ' ';
      let a = pad(ri(1, 899), 3), g = pad(ri(1, 99), 2), s = pad(ri(1, 9999), 4);
      switch (ri(0, 4)) { case 0: a = '000'; break; case 1: a = '666'; break; case 2: a = String(ri(900, 999)); break; case 3: g = '00'; break; default: s = '0000'; }
      return `${a}${sep}${g}${sep}${s}`;
    },
    bad: (v) => /^\d{3}([- ])\d{2}\1\d{4}$/.test(v) && !ssnValid(v),
    frames: [F('SSN ', 'V', ' was rejected by validation.'), F('The sample value ', 'V', ' from the docs is not a real SSN.'), F('Form shows SSN: ', 'V', ' (invalid).')],
    keys: ['ssn'],
  },
  zip4: {
    gen: () => `${pad(ri(10000, 99999), 5)}-${pad(ri(0, 9999), 4)}`,
    bad: () => true,
    frames: [F('Ship to 500 Market St, San Francisco, CA ', 'V', '.'), F('The ZIP+4 code ', 'V', ' did not validate.')],
    keys: ['zip'],
  },
  date: {
    gen: () => { const y = ri(2019, 2025), m = ri(1, 12), d = ri(1, 28); return pick([`${y}-${pad(m, 2)}-${pad(d, 2)}`, `${pad(m, 2)}/${pad(d, 2)}/${y}`, `${pad(d, 2)}.${pad(m, 2)}.${y}`]); },
    bad: (v) => !ipValid(v),
    frames: [F('The incident happened on ', 'V', '.'), F('Contract start date: ', 'V', ', renewal yearly.'), F('V', ' was the last successful sync.')],
    keys: ['date', 'created'],
  },
  time: {
    gen: () => (chance(0.8) ? hms() : hms().slice(0, 5)),
    bad: (v) => !ipValid(v),
    frames: [F('The outage began at ', 'V', ' UTC.'), F('Scheduled for ', 'V', ', please be online.')],
    keys: ['time'],
  },
  version: {
    gen: () => pick([`v${ri(0, 9)}.${ri(0, 30)}.${ri(0, 20)}`, `${ri(0, 9)}.${ri(0, 30)}.${ri(0, 20)}`, `10.0.${ri(17000, 22999)}.${ri(256, 5000)}`, `${ri(1, 9)}.${ri(0, 9)}.${ri(300, 9999)}.${ri(0, 99)}`]),
    bad: (v) => !ipValid(v.replace(/^v/, '')),
    frames: [F('Upgraded to ', 'V', ' last week.'), F('The crash happens on build ', 'V', ' only.'), F('Client version ', 'V', ' is no longer supported.')],
    keys: ['version', 'build'],
  },
  semver_prerelease: {
    gen: () => `${ri(0, 5)}.${ri(0, 20)}.${ri(0, 9)}-${pick(['rc', 'beta', 'alpha'])}.${ri(1, 9)}`,
    bad: (v) => !ipValid(v),
    frames: [F('Please test ', 'V', ' before the release.'), F('We pinned the SDK to ', 'V', ' for now.')],
    keys: ['release'],
  },
  iban_bad_checksum: { gen: () => ibanFmt(badIban('checksum')), bad: (v) => !ibanValid(v) && noValidIbanPrefix(v), frames: IBAN_DECOY_FRAMES, keys: ['iban', 'old_iban'] },
  iban_wrong_length: { gen: () => ibanFmt(badIban('length')), bad: (v) => !ibanValid(v) && noValidIbanPrefix(v) && mod97(v.replace(/ /g, '').slice(4) + v.slice(0, 4)) === 1, frames: IBAN_DECOY_FRAMES, keys: ['iban', 'new_iban'] },
  iban_unknown_country: { gen: () => ibanFmt(badIban('country')), bad: (v) => !ibanValid(v) && !IBAN_SPEC[v.slice(0, 2)], frames: IBAN_DECOY_FRAMES, keys: ['iban', 'alt_iban'] },
  ipv4_invalid: {
    gen: () => pick([`256.${ri(0, 255)}.${ri(0, 255)}.${ri(0, 255)}`, `${ri(1, 9)}.${ri(1, 9)}.${ri(1, 9)}`, `192.168.${ri(0, 255)}`, '300.300.300.300', `${ri(1, 223)}.${ri(0, 255)}.${ri(256, 999)}.${ri(1, 254)}`, `999.${ri(0, 255)}.${ri(0, 255)}.${ri(0, 255)}`]),
    bad: (v) => !ipValid(v),
    frames: [F('Ping to ', 'V', ' fails because the address is malformed.'), F('The config lists ', 'V', ' as the gateway, which is not a valid address.'), F('Typo in the allowlist: ', 'V', ' should be fixed.')],
    keys: ['ip', 'addr'],
  },
  mac_address: {
    gen: () => { let s = Array.from({ length: 6 }, () => rs(HEX, 2)).join(pick([':', ':', '-'])); return chance(0.6) ? s.toUpperCase() : s; },
    bad: (v) => !ipValid(v),
    frames: [F('Device MAC ', 'V', ' registered on the guest network.'), F('The DHCP lease for ', 'V', ' expired.')],
    keys: ['mac'],
  },
  serial_number: {
    gen: () => `${pick(['SN', 'S/N', 'SN:'])} ${digits(4)}-${digits(3)}-${digits(4)}`,
    bad: () => true,
    frames: [F('Replace the unit with ', 'V', ' printed on the back.'), F('Warranty claim for ', 'V', ' was approved.')],
    keys: ['serial'],
  },
  part_number: {
    gen: () => pick([`PN-${digits(3)}-${digits(4)}-${d2()}`, `PN-555-0199-${d2()}`, `P/N ${digits(3)}-${digits(4)}-${d2()}`]),
    bad: () => true,
    frames: [F('Order part ', 'V', ' from the catalog.'), F('The replacement fan is ', 'V', '.')],
    keys: ['part_no'],
  },
  short_number: {
    gen: () => pick(['911', '112', '999', String(ri(200, 9999))]),
    bad: (v) => v.length <= 4,
    frames: (v) => (['911', '112', '999'].includes(v) ? [F('In an emergency, call ', 'V', '.'), F('Dial ', 'V', ' only for emergencies.')] : [F('Ask for extension ', 'V', ' at reception.'), F('Room ', 'V', ' is on the third floor.')]),
    keys: ['ext'],
  },
  price: {
    gen: () => pick([`$${ri(1, 9)},${ri(100, 999)}.${d2()}`, `${ri(1, 9)},${ri(100, 999)}.00`, `EUR ${ri(1, 999)}.${d2()}`]),
    bad: () => true,
    frames: [F('Total: ', 'V', ' including VAT.'), F('The quote came to ', 'V', ', which is over budget.')],
    keys: [],
  },
  quantity: {
    gen: () => `${ri(10, 99)} ${pad(ri(0, 999), 3)}`,
    bad: (v) => maxDigitRun(v.replace(/ /g, '')) < 10,
    frames: [F('We shipped ', 'V', ' units last quarter.'), F('Stock level is ', 'V', ' pieces.')],
    keys: ['qty'],
  },
  year_range: {
    gen: () => { const a = ri(1995, 2020); return `${a}-${a + ri(1, 6)}`; },
    bad: () => true,
    frames: [F('Employment history ', 'V', ' at Acme.'), F('The data covers ', 'V', ' only.')],
    keys: ['years'],
  },
  at_mention: {
    gen: () => '@' + pick([pick(FIRST) + pick(LAST), pick(FIRST) + '_' + ri(1, 99), 'support-team', 'oncall', pick(FIRST) + '-' + pick(LAST)]),
    bad: (v) => !emailValid(v),
    frames: [F('Thanks ', 'V', ', merged.'), F('Can ', 'V', ' take a look at this?'), F('cc ', 'V', ' for visibility')],
    keys: ['handle'],
  },
  obfuscated_email: {
    gen: () => { const f = pick(FIRST), l = pick(LAST); return pick([`${f} at example dot com`, `${f}.${l} [at] example [dot] org`, `${f}(at)example(dot)de`, `${f} AT contoso DOT com`]); },
    bad: (v) => !v.includes('@'),
    frames: [F('Write to ', 'V', ' if the form fails.'), F('My address is ', 'V', ' (spelled out to avoid spam).')],
    keys: ['contact_hint'],
  },
  email_no_tld: {
    gen: () => pick(['foo@bar', `${pick(['root', 'admin', 'deploy', 'ubuntu', 'git'])}@${pick(['localhost', 'db01', 'bastion', 'build-agent-3', 'gw02'])}`]),
    bad: (v) => !emailValid(v),
    frames: [F('I logged in as ', 'V', ' on the jump host.'), F('The cron job runs as ', 'V', ' and fails.'), F('Placeholder ', 'V', ' should never reach production.')],
    keys: ['login'],
  },
  akia_short: {
    gen: () => pick(['AKIA12345', 'AKIA' + rs(UP + DG, ri(4, 12)), 'ASIA' + rs(UP, ri(5, 10))]),
    bad: (v) => !cloudValid(v) && v.length < 20,
    frames: [F('The key ', 'V', ' in the screenshot is truncated.'), F('Only the prefix ', 'V', ' was logged, which is fine.')],
    keys: ['key_prefix'],
  },
  akia_example_word: {
    gen: () => pick(['AKIAEXAMPLE', 'ASIAEXAMPLE', 'AKIAXXXXXXXX', 'AKIA...']),
    bad: (v) => !cloudValid(v),
    frames: [F('Replace ', 'V', ' with your own key id.'), F('The docs use ', 'V', ' as a placeholder.')],
    keys: [],
  },
  random_upper20: {
    gen: () => { for (;;) { const s = rs(UP, 2) + rs(UP, 2) + rs(UP + '234567', 16); if (!/^(AKIA|ASIA|ABIA|ACCA)/.test(s)) return s; } }, // ABIA/ACCA: other AWS id prefixes, kept out
    bad: (v) => v.length === 20 && !cloudValid(v),
    frames: [F('Job id ', 'V', ' finished.'), F('Request ID: ', 'V', ', please quote it in replies.')],
    keys: ['job_id', 'request_id'],
  },
  certificate_block: {
    gen: () => certBlock('CERTIFICATE'),
    bad: (v) => !pemValid(v),
    frames: BLOCK_FRAMES,
    keys: [],
  },
  public_key_block: {
    gen: () => certBlock(pick(['PUBLIC KEY', 'PUBLIC KEY', 'RSA PUBLIC KEY'])),
    bad: (v) => !pemValid(v),
    frames: BLOCK_FRAMES,
    keys: [],
  },
  eyj_no_segments: {
    gen: () => (chance(0.6) ? 'eyJ' + rs(ALNUM, ri(20, 60)) : 'eyJ' + rs(ALNUM, ri(15, 30)) + '.eyJ' + rs(ALNUM, ri(15, 40))),
    bad: (v) => !jwtShapeValid(v),
    frames: [F('The cookie value was ', 'V', ' but it is truncated.'), F('Log shows ', 'V', ', which cannot be decoded.')],
    keys: ['cookie'],
  },
  dotted_segments: {
    gen: () => pick(['abc.def.ghi', 'xxxxx.yyyyy.zzzzz', 'header.payload.signature', 'aaa.bbb.ccc', 'foo.bar.baz']),
    bad: (v) => !jwtShapeValid(v),
    frames: [F('Use a placeholder like ', 'V', ' in the docs.'), F('The example token ', 'V', ' is obviously fake.')],
    keys: ['placeholder'],
  },
  dotted_identifier: {
    gen: () => pick(['com.example.app', 'org.apache.kafka.clients', 'io.grpc.netty.shaded', 'com.google.android.gms', 'net.example.gateway.core']),
    bad: (v) => !jwtShapeValid(v),
    frames: [F('The bundle id is ', 'V', '.'), F('Logger ', 'V', ' is too noisy.')],
    keys: ['bundle_id', 'package'],
  },
  bearer_prose: {
    gen: () => pick([
      'The bearer of this card is entitled to free shipping.', 'Bearer tokens are short-lived by design.',
      'We switched the API to Bearer token auth last month.', 'Is the bearer token sent on every request?',
      'Pay to the bearer on demand.', 'Bearer authentication is described in RFC 6750.',
      'The bearer scheme is case-insensitive.', 'The header has no Bearer prefix, so the gateway rejects it.']),
    bad: () => true,
    frames: [F('V')],
    keys: [],
  },
  credential_prose: {
    gen: () => pick([
      'Your password must be at least 12 characters long.', 'The secret is safe with us.', 'An api_key is required for every request.',
      'Set the token in the header, not in the query string.', 'Rotate the client_secret every 90 days.',
      'Never paste your password into a chat window.', 'Forgot your password? Use the reset link on the login page.',
      'The access_token expires after one hour.', 'Store the secret_key in the vault, not in the repo.',
      'Where do I find my apikey in the dashboard?', 'Passwords are hashed with bcrypt.']),
    bad: () => true,
    frames: [F('V')],
    keys: [],
  },
};
const DECOY_KINDS = Object.keys(DECOYS);

const decoyRedraws = {};
function genDecoy(kind) { // a draw that happens to satisfy the rule (rare) is redrawn; a kind that never breaks it is a bug
  const spec = DECOYS[kind];
  for (let i = 0; i < 50; i++) {
    const v = spec.gen();
    if (spec.bad(v)) return v;
    decoyRedraws[kind] = (decoyRedraws[kind] || 0) + 1;
  }
  throw new Error(`decoy ${kind} keeps satisfying the rule it should break`);
}
function decoyFrames(item) {
  const spec = DECOYS[item.kind];
  const fr = typeof spec.frames === 'function' ? spec.frames(item.value) : spec.frames;
  return fr.map((f) => (vobj) => { const r = f(); return { ...r, parts: r.parts.map((p) => (p === 'V' ? vobj : p)) }; });
}

// ---------------------------------------------------------------------------------------------
// Filler sentences (must contain nothing sensitive and nothing decoy-like)

const FILLERS = [
  'Thanks for reaching out.', 'Let me know if that helps.', 'The issue started after the last deploy.', 'I have attached the screenshot.',
  'Please advise on next steps.', 'This is blocking our release.', 'Sure, here is what I found.', 'The gateway returned an error on the second attempt.',
  'Nothing else changed on our side.', 'Can you take a look today?', 'We are on the enterprise plan.', 'The dashboard shows the same thing.',
  'I tried clearing the cache first.', 'Happy to jump on a call if needed.', 'The export finished without warnings.', 'Our auditors asked about this.',
  'It works in staging but not in production.', 'Sorry for the late reply.', 'The model answered in under a second.', 'Ticket priority is high.',
  'See the notes below.', 'We rolled back at noon.', 'Retrying did not help.', 'As an assistant I cannot verify this, but here is the record.',
  'Here is the summary you asked for.', 'The policy blocked the request, which is what we expected.', 'I will close the ticket once you confirm.',
  'The nightly job failed again.', 'Could the redaction step have missed something?', 'Please keep this out of the shared channel.',
  // non-ASCII, to exercise byte offsets
  'Danke, Jürgen!', 'José from the Madrid team confirmed it.', 'Zoë will follow up tomorrow.', 'The café wifi was flaky — not our gateway.',
  'Łukasz reopened the ticket.', 'Prices are shown in €.', 'Naïve retry logic caused the spike.', 'Merci beaucoup, François.', 'Grüße aus München.',
];
const NAMES = ['Jane Doe', 'John Smith', 'María García', 'Kenji Tanaka', 'Olga Petrova', 'Priya Patel', 'Jürgen Weiß', 'Chloé Martin', 'Sam Lee'];
const SUBJECTS = ['Billing question', 'Access problem', 'Re: ticket update', 'Data export', 'Urgent: account change', 'Follow-up', 'Gateway logs'];
const LEVELS = ['INFO', 'WARN', 'DEBUG', 'ERROR'];
const COMPONENTS = ['gateway', 'auth', 'billing', 'proxy', 'policy', 'recorder'];
const logTs = () => `${isoDate()}T${hms()}Z`;

// ---------------------------------------------------------------------------------------------
// Rendering

const valObj = (item) => (item.real ? { t: item.type, v: item.value } : { d: item.kind, v: item.value });

function proseSnippets(items) {
  let firstTaken = false, lastTaken = false;
  const snippets = [];
  for (const item of items) {
    const frames = item.real ? realFrames(item) : decoyFrames(item);
    let fr;
    for (let k = 0; k < 20; k++) {
      fr = pick(frames)(valObj(item));
      if ((fr.pos === 'first' && firstTaken) || (fr.pos === 'last' && lastTaken)) continue;
      break;
    }
    if (fr.pos === 'first') firstTaken = true;
    if (fr.pos === 'last') lastTaken = true;
    snippets.push(fr);
  }
  return snippets;
}
function orderSnippets(snips) {
  shuffle(snips);
  const first = snips.filter((s) => s.pos === 'first');
  const last = snips.filter((s) => s.pos === 'last');
  const mid = snips.filter((s) => !s.pos);
  return [...first, ...mid, ...last];
}
function joinSnippets(snips) {
  const parts = [];
  let prevEndsNl = true;
  for (const s of snips) {
    if (parts.length) {
      if (s.block && !prevEndsNl) parts.push('\n');
      else if (!prevEndsNl) parts.push(' ');
    }
    parts.push(...s.parts);
    const last = s.parts[s.parts.length - 1];
    prevEndsNl = typeof last === 'string' && last.endsWith('\n');
  }
  return parts;
}
const filler = () => ({ parts: [pick(FILLERS)] });

function renderProse(items) {
  const snips = proseSnippets(items);
  const nFill = items.length ? Math.max(0, Math.min(4 - snips.length, ri(0, 2))) : ri(1, 4);
  for (let i = 0; i < nFill; i++) snips.push(filler());
  return joinSnippets(orderSnippets(snips));
}
function renderEmail(items) {
  const snips = proseSnippets(items);
  if (!items.length || chance(0.5)) snips.push(filler());
  const body = joinSnippets(orderSnippets(snips));
  const lb = body.length - 1;
  if (typeof body[lb] === 'string') body[lb] = body[lb].replace(/\n+$/, '');
  const to = pick(NAMES).split(' ')[0];
  return [`Subject: ${pick(SUBJECTS)}\n\nHi ${pick(['team', 'support', to])},\n\n`, ...body, `\n\n${pick(['Thanks', 'Best', 'Regards', 'Cheers'])},\n${pick(NAMES)}`];
}
function keyFor(item, used) {
  const ks = item.real ? realKeys(item) : DECOYS[item.kind].keys;
  for (const k of ks) if (!used.has(k)) { used.add(k); return k; }
  let n = 2; while (used.has(`${ks[0]}_${n}`)) n++;
  used.add(`${ks[0]}_${n}`);
  return `${ks[0]}_${n}`;
}
function renderCsv(items) {
  const used = new Set(['id', 'name']);
  const keys = items.map((it) => keyFor(it, used));
  const order = shuffle(items.map((_, i) => i));
  const parts = [];
  if (chance(0.5)) parts.push(pick(['Export attached:\n', 'Rows from the failing import:\n', 'CSV sample (first row only):\n']));
  parts.push(['id', 'name', ...order.map((i) => keys[i])].join(',') + '\n');
  parts.push(`${ri(1000, 9999)},${pick(NAMES)}`);
  for (const i of order) parts.push(',', valObj(items[i]));
  return parts;
}
function renderJson(items) {
  const used = new Set(['id', 'user']);
  const pretty = chance(0.5);
  const fields = [];
  fields.push([`"id": ${ri(1000, 9999)}`]);
  for (const it of shuffle([...items])) {
    if (it.real && it.type === 'CREDENTIAL') fields.push([`"${it.meta.key}": "`, valObj(it), '"']);
    else if (it.real && it.type === 'BEARER_TOKEN') fields.push(['"Authorization": "Bearer ', valObj(it), '"']);
    else fields.push([`"${keyFor(it, used)}": "`, valObj(it), '"']);
  }
  const parts = [];
  if (chance(0.4)) parts.push(pick(['Request body:\n', 'The payload we logged:\n', 'Here is the JSON the agent sent:\n']));
  parts.push(pretty ? '{\n  ' : '{');
  fields.forEach((f, i) => { if (i) parts.push(pretty ? ',\n  ' : ', '); parts.push(...f); });
  parts.push(pretty ? '\n}' : '}');
  return parts;
}
function renderLines(items) {
  const used = new Set();
  const lines = [];
  for (const it of shuffle([...items])) {
    const head = `${logTs()} ${pick(LEVELS)} ${pick(COMPONENTS)}: `;
    if (it.real && it.type === 'CREDENTIAL') lines.push([head + `loaded ${it.meta.key}=`, valObj(it)]);
    else if (it.real && it.type === 'BEARER_TOKEN') lines.push([head + 'forwarding Authorization: Bearer ', valObj(it), ' upstream=primary']);
    else if (it.real) lines.push([head + `${keyFor(it, used)}=`, valObj(it), pick(['', ' action=login', ' status=403', ' retry=false'])]);
    else if (DECOYS[it.kind].keys.length && chance(0.6)) lines.push([head + `${keyFor(it, used)}=`, valObj(it)]);
    else {
      const fr = pick(decoyFrames(it))(valObj(it));
      if (fr.block) { const ps = [...fr.parts]; const l = ps.length - 1; if (typeof ps[l] === 'string') ps[l] = ps[l].replace(/\n+$/, ''); lines.push(ps.filter((p) => p !== '')); }
      else lines.push([head, ...fr.parts]);
    }
  }
  const parts = [];
  lines.forEach((l, i) => { if (i) parts.push('\n'); parts.push(...l); });
  return parts;
}

function chooseStyle(items) {
  const style = weighted([['prose', 50], ['lines', 15], ['csv', 10], ['json', 12], ['email', 13]]);
  const hasKey = (it) => (it.real ? !!realKeys(it) : DECOYS[it.kind].keys.length > 0);
  if (!items.length) return chance(0.2) ? 'email' : 'prose';
  if (style === 'csv' && !items.every(hasKey)) return 'prose';
  if (style === 'json' && !items.every((it) => (it.real ? it.type !== 'PRIVATE_KEY' : hasKey(it)))) return 'prose';
  if (style === 'lines' && items.some((it) => it.real && it.type === 'PRIVATE_KEY')) return 'prose';
  return style;
}

function assemble(parts) {
  let text = '', off = 0;
  const entities = [], decoys = [];
  for (const p of parts) {
    const s = typeof p === 'string' ? p : p.v;
    if (typeof p !== 'string') {
      if (p.t) entities.push({ type: p.t, start: off, end: off + bytes(s) });
      else decoys.push(p.d);
    }
    text += s;
    off += bytes(s);
  }
  // trailing newlines (from a last block frame) are noise
  const trimmed = text.replace(/\n+$/, '');
  for (const e of entities) assert.ok(e.end <= bytes(trimmed));
  return { text: trimmed, entities, decoys };
}

function newItem(real, what) {
  if (real) {
    const g = GEN[what]();
    const { value, ...meta } = g;
    assert.ok(CHECK[what](value), `${what} fails its rule: ${value}`);
    return { real: true, type: what, value, meta };
  }
  return { real: false, kind: what, value: genDecoy(what) };
}

const redraws = {};
function buildSample(realTypes, decoyKinds) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const items = [...realTypes.map((t) => newItem(true, t)), ...decoyKinds.map((k) => newItem(false, k))];
    const style = chooseStyle(items);
    let parts;
    switch (style) {
      case 'csv': parts = renderCsv(items); break;
      case 'json': parts = renderJson(items); break;
      case 'lines': parts = renderLines(items); break;
      case 'email': parts = renderEmail(items); break;
      default: parts = renderProse(items);
    }
    const { text, entities, decoys } = assemble(parts);
    const found = scan(text);
    const key = (e) => `${e.type}:${e.start}:${e.end}`;
    const want = new Set(entities.map(key)), got = new Set(found.map(key));
    const missing = entities.filter((e) => !got.has(key(e)));
    const extra = found.filter((e) => !want.has(key(e)));
    if (!missing.length && !extra.length) return { text, entities, decoys, style };
    const reason = [...missing.map((e) => `missed ${e.type}`), ...extra.map((e) => `unexpected ${e.type}`)].join(', ');
    redraws[reason] = (redraws[reason] || 0) + 1;
    if (attempt === 199) throw new Error(`cannot build a clean sample for ${realTypes} / ${decoyKinds}: ${reason}\n${text}`);
  }
  throw new Error('unreachable');
}

// ---------------------------------------------------------------------------------------------
// Corpus plan

function makeBag(values) { let bag = []; return (exclude) => {
  if (!bag.length) bag = shuffle([...values]);
  let i = bag.findIndex((v) => !exclude.includes(v));
  if (i < 0) { bag.push(...shuffle([...values])); i = bag.findIndex((v) => !exclude.includes(v)); }
  return bag.splice(i, 1)[0];
}; }
const drawType = makeBag(TYPES);
const drawDecoy = makeBag(DECOY_KINDS);

const plan = [];
const nPlain = Math.round(N_SAMPLES * 0.10), nRealOnly = Math.round(N_SAMPLES * 0.36), nMixed = Math.round(N_SAMPLES * 0.29);
const nDecoyOnly = N_SAMPLES - nPlain - nRealOnly - nMixed;
for (let i = 0; i < nPlain; i++) plan.push('plain');
for (let i = 0; i < nRealOnly; i++) plan.push('real');
for (let i = 0; i < nMixed; i++) plan.push('mixed');
for (let i = 0; i < nDecoyOnly; i++) plan.push('decoy');
shuffle(plan);

const samples = [];
const realCount = Object.fromEntries(TYPES.map((t) => [t, 0]));
const decoyCount = Object.fromEntries(DECOY_KINDS.map((k) => [k, 0]));
const styleCount = {};
let withDecoys = 0, withReal = 0, plainCount = 0, nonAscii = 0;
plan.forEach((cat, idx) => {
  const reals = [], decoys = [];
  if (cat === 'real' || cat === 'mixed') {
    const n = weighted([[1, 40], [2, 35], [3, 25]]);
    for (let i = 0; i < n; i++) reals.push(drawType(reals));
  }
  if (cat === 'mixed') {
    const n = reals.length === 3 ? 1 : weighted([[1, 60], [2, 40]]);
    for (let i = 0; i < n; i++) decoys.push(drawDecoy(decoys));
  }
  if (cat === 'decoy') {
    const n = weighted([[1, 35], [2, 40], [3, 25]]);
    for (let i = 0; i < n; i++) decoys.push(drawDecoy(decoys));
  }
  const s = buildSample(reals, decoys);
  const id = `s${pad(idx + 1, 4)}`;
  // final checks on the sample
  const buf = Buffer.from(s.text, 'utf8');
  let prevStart = -1;
  s.entities.forEach((e) => {
    assert.ok(e.start >= prevStart, `${id}: entities not sorted`);
    prevStart = e.start;
    const val = buf.subarray(e.start, e.end).toString('utf8');
    assert.ok(CHECK[e.type](val), `${id}: span is not a valid ${e.type}: ${val}`);
  });
  assert.deepEqual(s.entities.map((e) => e.type).sort(), [...reals].sort());
  assert.deepEqual([...s.decoys].sort(), [...decoys].sort());
  for (const e of s.entities) realCount[e.type]++;
  for (const d of s.decoys) decoyCount[d]++;
  styleCount[s.style] = (styleCount[s.style] || 0) + 1;
  if (s.decoys.length) withDecoys++;
  if (s.entities.length) withReal++;
  if (!s.decoys.length && !s.entities.length) plainCount++;
  if (/[^\x00-\x7f]/.test(s.text)) nonAscii++;
  samples.push({ id, text: s.text, entities: s.entities.map(({ type, start, end }) => ({ type, start, end })) });
});

// corpus-level requirements
assert.ok(samples.length >= 700);
for (const t of TYPES) assert.ok(realCount[t] >= (['PRIVATE_KEY', 'JWT', 'BEARER_TOKEN'].includes(t) ? 40 : 60), `too few ${t}: ${realCount[t]}`);
for (const k of DECOY_KINDS) assert.ok(decoyCount[k] >= 15, `too few decoys ${k}: ${decoyCount[k]}`);
assert.ok(withDecoys / samples.length >= 0.5, 'fewer than 50% of samples carry a decoy');

writeFileSync(OUT, samples.map((s) => JSON.stringify(s)).join('\n') + '\n');

const total = (o) => Object.values(o).reduce((a, b) => a + b, 0);
console.log(`wrote ${samples.length} samples to ${OUT}`);
console.log(`samples with real values: ${withReal} (${(100 * withReal / samples.length).toFixed(1)}%), with decoys: ${withDecoys} (${(100 * withDecoys / samples.length).toFixed(1)}%), plain: ${plainCount} (${(100 * plainCount / samples.length).toFixed(1)}%), non-ASCII: ${nonAscii}`);
console.log(`styles: ${Object.entries(styleCount).map(([k, v]) => `${k}=${v}`).join(' ')}`);
console.log(`\nreal values (${total(realCount)}):`);
for (const t of TYPES) console.log(`  ${t.padEnd(18)} ${realCount[t]}`);
console.log(`\ndecoys (${total(decoyCount)}):`);
for (const k of DECOY_KINDS) console.log(`  ${k.padEnd(22)} ${decoyCount[k]}`);
console.log(`\nredraws (sample rejected by the reference scanner, then regenerated): ${total(redraws)}`);
for (const [r, n] of Object.entries(redraws).sort((a, b) => b[1] - a[1])) console.log(`  ${n}\t${r}`);
console.log(`decoy values redrawn because they happened to satisfy the rule: ${total(decoyRedraws)}`);
for (const [k, n] of Object.entries(decoyRedraws)) console.log(`  ${n}\t${k}`);
