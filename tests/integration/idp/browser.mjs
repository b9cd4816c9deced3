// Plays the person at the browser for the console's sign-in test: opens the authorization
// URL, signs in on the provider's development login page as LOGIN, consents, and follows
// the redirect back to the console's loopback address.
//
//   node browser.mjs --url AUTHORIZATION_URL --login LOGIN
//
// Prints {"ok":true,"redirect":"http://127.0.0.1:PORT/callback?..."} or {"ok":false,"error":...}.
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({ options: { url: { type: 'string' }, login: { type: 'string' } } });
const cookies = new Map();

function remember(res) {
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const eq = pair.indexOf('=');
    cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
}
const cookieHeader = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');

async function go(url, init = {}) {
  const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers ?? {}), cookie: cookieHeader() } });
  remember(res);
  return res;
}

try {
  if (!a.url || !a.login) throw new Error('usage: node browser.mjs --url URL --login LOGIN');
  let url = a.url;
  for (let step = 0; step < 20; step++) {
    const res = await go(url);
    if (res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.get('location'), url).toString();
      if (next.startsWith('http://127.0.0.1') && new URL(next).pathname === '/callback') {
        // Back to the console: deliver the code as the browser would.
        const done = await fetch(next);
        console.log(JSON.stringify({ ok: done.ok, redirect: next.replace(/code=[^&]+/, 'code=...') }));
        process.exit(done.ok ? 0 : 1);
      }
      url = next;
      continue;
    }
    const html = await res.text();
    const form = html.match(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/);
    if (!form) throw new Error(`no form on ${url} (HTTP ${res.status}): ${html.slice(0, 300)}`);
    const fields = new URLSearchParams();
    for (const [tag] of form[2].matchAll(/<input[^>]*>/g)) {
      const name = tag.match(/name="([^"]+)"/);
      const value = tag.match(/value="([^"]*)"/);
      if (name) fields.set(name[1], value ? value[1] : '');
    }
    if (fields.has('login')) fields.set('login', a.login);
    if (fields.has('password')) fields.set('password', 'any password');
    const post = await go(new URL(form[1], url).toString(), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: fields,
    });
    if (post.status < 300 || post.status >= 400) throw new Error(`form ${form[1]}: HTTP ${post.status}: ${(await post.text()).slice(0, 300)}`);
    url = new URL(post.headers.get('location'), url).toString();
  }
  throw new Error('too many steps');
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: String(err.message ?? err) }));
  process.exit(1);
}
