#!/usr/bin/env node
// Drives Vigil with the official OpenAI Node SDK and prints ONE line of JSON.
//
// Usage:
//   node sdk_client.mjs --base-url URL --api-key KEY --mode chat|stream|embeddings|models
//                       [--model M] [--prompt TEXT] [--header Name=Value ...]
//
// Success: {"ok":true,"mode":...,...}; exit 0.
// Failure: {"ok":false,"mode":...,"error_class":...,"status":...,"code":...,"message":...}; exit 1.
// The API key is never printed.
import OpenAI from 'openai';

const USAGE =
  'usage: node sdk_client.mjs --base-url URL --api-key KEY --mode chat|stream|embeddings|models ' +
  '[--model M] [--prompt TEXT] [--header Name=Value ...]';
const MODES = ['chat', 'stream', 'embeddings', 'models'];

function parseArgs(argv) {
  const opts = { model: null, prompt: 'Hello from the OpenAI Node SDK', headers: {} };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') throw new Error(USAGE);
    if (i + 1 >= argv.length) throw new Error(`missing value for ${flag}\n${USAGE}`);
    const value = argv[++i];
    switch (flag) {
      case '--base-url': opts.baseURL = value; break;
      case '--api-key': opts.apiKey = value; break;
      case '--mode': opts.mode = value; break;
      case '--model': opts.model = value; break;
      case '--prompt': opts.prompt = value; break;
      case '--header': {
        const eq = value.indexOf('=');
        if (eq <= 0) throw new Error(`--header expects Name=Value, got "${value}"`);
        opts.headers[value.slice(0, eq)] = value.slice(eq + 1);
        break;
      }
      default: throw new Error(`unknown argument ${flag}\n${USAGE}`);
    }
  }
  if (!opts.baseURL || !opts.apiKey || !opts.mode) throw new Error(`--base-url, --api-key and --mode are required\n${USAGE}`);
  if (!MODES.includes(opts.mode)) throw new Error(`unknown mode "${opts.mode}" (expected ${MODES.join('|')})`);
  // Defaults match the mock upstream's model ids.
  opts.model ??= opts.mode === 'embeddings' ? 'mock-embedding' : 'mock-gpt';
  return opts;
}

async function runChat(client, opts) {
  const { data, response } = await client.chat.completions
    .create({ model: opts.model, messages: [{ role: 'user', content: opts.prompt }] })
    .withResponse();
  const choice = data.choices?.[0];
  return {
    text: choice?.message?.content ?? null,
    id: data.id,
    model: data.model,
    finish_reason: choice?.finish_reason ?? null,
    request_id: response.headers.get('x-request-id'),
  };
}

async function runStream(client, opts, partial) {
  const started = performance.now();
  const stream = await client.chat.completions.create({
    model: opts.model,
    messages: [{ role: 'user', content: opts.prompt }],
    stream: true,
  });
  let chunks = 0, firstMs = null, lastMs = null, finishReason = null;
  partial.text = '';
  for await (const chunk of stream) {
    const choice = chunk.choices?.[0];
    const content = choice?.delta?.content ?? '';
    if (content !== '') {
      const ms = Math.round(performance.now() - started);
      if (firstMs === null) firstMs = ms;
      lastMs = ms;
      chunks++;
      partial.text += content;
    }
    if (choice?.finish_reason != null) finishReason = choice.finish_reason;
  }
  return { text: partial.text, chunks, first_ms: firstMs, last_ms: lastMs, finish_reason: finishReason };
}

async function runEmbeddings(client, opts) {
  const res = await client.embeddings.create({ model: opts.model, input: [opts.prompt, opts.prompt + '!'] });
  const data = res.data ?? [];
  return {
    count: data.length,
    dims: data[0]?.embedding?.length ?? 0,
    finite: data.length > 0 && data.every((d) => Array.from(d.embedding ?? []).every((v) => typeof v === 'number' && Number.isFinite(v))),
  };
}

async function runModels(client) {
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  return { ids };
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function main() {
  let mode = null;
  const partial = {}; // text received before a mid-stream error
  try {
    const opts = parseArgs(process.argv.slice(2));
    mode = opts.mode;
    const client = new OpenAI({
      baseURL: opts.baseURL,
      apiKey: opts.apiKey,
      maxRetries: 0,
      timeout: 20000,
      defaultHeaders: opts.headers,
    });
    const runners = {
      chat: () => runChat(client, opts),
      stream: () => runStream(client, opts, partial),
      embeddings: () => runEmbeddings(client, opts),
      models: () => runModels(client),
    };
    emit({ ok: true, mode, ...(await runners[mode]()) });
  } catch (err) {
    const out = {
      ok: false,
      mode,
      error_class: err?.constructor?.name ?? typeof err,
      status: err?.status ?? null,
      code: err?.code ?? null,
      message: String(err?.message ?? err),
    };
    if (partial.text !== undefined) out.text = partial.text;
    emit(out);
    process.exitCode = 1;
  }
}

main();
