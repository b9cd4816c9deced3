// A real OpenID Connect provider (oidc-provider) for Vigil's integration tests.
//
//   node idp.mjs --port PORT --keys FILE [--issuer-host 127.0.0.1] [--ttl SECONDS] [--generate-new-key]
//
// Issuer http://HOST:PORT (PORT 0 picks a free port). Signing keys are the private JWKS in FILE;
// a missing FILE, or --generate-new-key, writes a fresh RSA 2048 RS256 key with a random kid.
// Clients use client_credentials + client_secret_basic and get RS256 JWT access tokens
// (typ at+jwt) for the resource https://vigil.example/api carrying `groups` and `email`.
// People sign in through the authorization code flow with PKCE as the public native client
// "vigil-console" (any loopback port, RFC 8252), on the provider's development login pages
// (any password): their tokens carry the groups of PEOPLE below.
// When ready, prints one line: {"msg":"listening","url":"http://HOST:PORT","kid":"..."}.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';

// On Node < 22 oidc-provider prints an "Unsupported runtime" warning to stderr; it works on Node 20.
import Provider, { errors } from 'oidc-provider';

const RESOURCE = 'https://vigil.example/api';
const CLIENTS = {
  'ci-requester': { secret: 'ci-requester-secret', groups: ['engineering'] },
  'ci-approver': { secret: 'ci-approver-secret', groups: ['team-leads', 'engineering'] },
  'ci-nogroup': { secret: 'ci-nogroup-secret', groups: ['marketing'] },
};

const PEOPLE = {
  'lena.lead': { groups: ['team-leads', 'compliance'] },
  'rick.requester': { groups: ['engineering'] },
};

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    keys: { type: 'string' },
    'issuer-host': { type: 'string', default: '127.0.0.1' },
    ttl: { type: 'string', default: '600' },
    'generate-new-key': { type: 'boolean', default: false },
  },
});
if (args.port === undefined || !args.keys) {
  console.error('usage: node idp.mjs --port PORT --keys FILE [--issuer-host 127.0.0.1] [--ttl SECONDS] [--generate-new-key]');
  process.exit(2);
}
const ttl = Number(args.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) {
  console.error(`idp: bad --ttl ${args.ttl}`);
  process.exit(2);
}

function writeNewKeySet(file) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };
  const tmp = `${file}.tmp-${process.pid}`;
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(tmp, `${JSON.stringify({ keys: [jwk] }, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

if (args['generate-new-key'] || !fs.existsSync(args.keys)) writeNewKeySet(args.keys);
const jwks = JSON.parse(fs.readFileSync(args.keys, 'utf8'));
if (!Array.isArray(jwks.keys) || jwks.keys.length === 0 || !jwks.keys[0].d) {
  console.error(`idp: ${args.keys} is not a JWKS with private keys`);
  process.exit(2);
}

// Listen first so that --port 0 works: the issuer must name the real port.
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(args.port), args['issuer-host'], resolve);
});
const issuer = `http://${args['issuer-host']}:${server.address().port}`;

const provider = new Provider(issuer, {
  jwks,
  clients: [
    ...Object.entries(CLIENTS).map(([clientId, c]) => ({
      client_id: clientId,
      client_secret: c.secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'api',
    })),
    {
      client_id: 'vigil-console',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      scope: 'openid api',
    },
  ],
  findAccount: async (ctx, id) =>
    PEOPLE[id] ? { accountId: id, claims: async () => ({ sub: id, email: `${id}@example.com` }) } : undefined,
  scopes: ['openid', 'api'],
  // The console gets a refresh token (as an organisation's provider would issue to its
  // desktop app), so a sign-in outlives one access token.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  ttl: { ClientCredentials: ttl },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => RESOURCE,
      getResourceServerInfo: async (ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: 'api',
          audience: RESOURCE,
          accessTokenTTL: ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  extraTokenClaims: async (ctx, token) => {
    if (token.accountId && PEOPLE[token.accountId]) {
      return { groups: PEOPLE[token.accountId].groups, email: `${token.accountId}@example.com` };
    }
    const client = CLIENTS[token.clientId];
    return client ? { groups: client.groups, email: `${token.clientId}@example.com` } : undefined;
  },
});
provider.on('server_error', (ctx, err) => console.error('idp: server_error', err));
server.on('request', provider.callback());

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}

console.log(JSON.stringify({ msg: 'listening', url: issuer, kid: jwks.keys[0].kid }));
