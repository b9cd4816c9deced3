#!/usr/bin/env node
// For the benchmark: makes an RSA signing key, writes its public JWKS to --jwks FILE and
// prints one RS256 JWT access token for --issuer/--audience (subject "bench", groups
// ["engineering"], valid for an hour). Node built-ins only.
import { createSign, generateKeyPairSync, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { issuer: { type: 'string' }, audience: { type: 'string' }, jwks: { type: 'string' } } });
if (!values.issuer || !values.audience || !values.jwks) {
  console.error('usage: node make_token.mjs --issuer URL --audience AUD --jwks FILE');
  process.exit(2);
}
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = randomUUID();
writeFileSync(values.jwks, JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' }] }));
const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const now = Math.floor(Date.now() / 1000);
const input = `${b64({ alg: 'RS256', typ: 'at+jwt', kid })}.${b64({
  iss: values.issuer, aud: values.audience, sub: 'bench', groups: ['engineering'], iat: now, exp: now + 3600,
})}`;
const signature = createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url');
process.stdout.write(`${input}.${signature}`);
