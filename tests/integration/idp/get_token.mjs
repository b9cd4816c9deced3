// Fetch a client_credentials access token from an OpenID Connect provider.
//
//   node get_token.mjs --issuer URL --client ID --secret SECRET [--resource URI] [--scope S]
//
// Prints only the raw access token (no trailing newline) on stdout; exits 1 with a message on error.
import { parseArgs } from 'node:util';

try {
  const { values: a } = parseArgs({
    options: {
      issuer: { type: 'string' },
      client: { type: 'string' },
      secret: { type: 'string' },
      resource: { type: 'string' },
      scope: { type: 'string' },
    },
  });
  if (!a.issuer || !a.client || !a.secret) {
    throw new Error('usage: node get_token.mjs --issuer URL --client ID --secret SECRET [--resource URI] [--scope S]');
  }

  const discoveryUrl = `${a.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const discovery = await fetch(discoveryUrl);
  if (!discovery.ok) throw new Error(`discovery ${discoveryUrl}: HTTP ${discovery.status}`);
  const { token_endpoint: tokenEndpoint } = await discovery.json();
  if (!tokenEndpoint) throw new Error(`discovery ${discoveryUrl}: no token_endpoint`);

  // RFC 6749 section 2.3.1: form-urlencode id and secret before base64.
  const basic = Buffer.from(`${encodeURIComponent(a.client)}:${encodeURIComponent(a.secret)}`).toString('base64');
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (a.resource) form.set('resource', a.resource);
  if (a.scope) form.set('scope', a.scope);

  const res = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`token ${tokenEndpoint}: HTTP ${res.status}: ${text}`);
  const token = JSON.parse(text).access_token;
  if (!token) throw new Error(`token ${tokenEndpoint}: no access_token in ${text}`);
  process.stdout.write(token);
} catch (err) {
  console.error(`get_token: ${err.message}`);
  process.exit(1);
}
