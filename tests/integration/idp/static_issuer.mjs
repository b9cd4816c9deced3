#!/usr/bin/env node
// A minimal OpenID Connect issuer for tests that forge their own tokens: it serves the
// discovery document and a JWKS read from a file on every request (so a test can change
// its keys), and nothing else. Node built-ins only.
//   node static_issuer.mjs --port PORT --jwks FILE [--discovery FILE]
// --discovery serves that file as the discovery document instead (read on every request,
// "$ISS" replaced by the issuer URL), so a test can make it wrong and then right.
// Prints {"msg":"listening","url":"http://127.0.0.1:PORT"} when ready.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, jwks: { type: 'string' }, discovery: { type: 'string' } } });
if (!values.jwks) {
  console.error('usage: node static_issuer.mjs --port PORT --jwks FILE');
  process.exit(2);
}

let issuer = '';
let requests = 0;
const server = http.createServer((req, res) => {
  requests += 1;
  const send = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.url === '/.well-known/openid-configuration' && values.discovery) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(readFileSync(values.discovery, 'utf8').replaceAll('$ISS', issuer));
  } else if (req.url === '/.well-known/openid-configuration') {
    send(200, { issuer, jwks_uri: `${issuer}/jwks`, id_token_signing_alg_values_supported: ['RS256'] });
  } else if (req.url === '/jwks') {
    try {
      send(200, JSON.parse(readFileSync(values.jwks, 'utf8')));
    } catch (err) {
      send(500, { error: String(err) });
    }
  } else if (req.url === '/_requests') {
    send(200, { requests });  // how often the gateway came (rate-limit tests)
  } else {
    send(404, { error: 'not found' });
  }
});
server.listen(Number(values.port), '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  console.log(JSON.stringify({ msg: 'listening', url: issuer }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
