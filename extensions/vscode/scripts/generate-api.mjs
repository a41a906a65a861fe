// Generates src/generated/api.ts from rpc-schema/schema/api.json (the daemon's editor API: every
// type, the method table, notifications, error codes) and src/generated/config.ts from
// rpc-schema/schema/config.schema.json (the config file). With --check it writes nothing and
// exits 1 when a committed file differs from a fresh generation (the unit tests run that).
import { compile } from 'json-schema-to-typescript';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const extension = path.resolve(here, '..');
const schemaDir = path.resolve(extension, '../../rpc-schema/schema');
const script = 'extensions/vscode/scripts/generate-api.mjs';

const options = {
  additionalProperties: false,
  bannerComment: '',
  format: true,
  unreachableDefinitions: true,
  style: { singleQuote: false, printWidth: 100 },
};

/** json2ts output without the placeholder root and its "referenced by" notes. */
function tidy(ts, root) {
  return ts
    .replace(new RegExp(`export interface ${root} \\{\\}\\n`), '')
    .replace(/ \*\n \* This interface was referenced by `[^`]+`'s JSON-Schema\n \* via the `definition` "[^"]+".\n/g, '')
    .replace(/\/\*\*\n \* This interface was referenced by `[^`]+`'s JSON-Schema\n \* via the `definition` "[^"]+".\n \*\/\n/g, '');
}

/** The TypeScript type of a method's params/result/item schema: a `$ref`, or an inline schema
 * built from them. Anything else fails the generation, so a new shape is noticed. */
export function typeOf(schema, where) {
  if (schema === null) return 'null';
  if (schema === true) return 'unknown';
  if (schema.$ref) {
    const name = schema.$ref.replace(/^#\/\$defs\//, '');
    if (name === schema.$ref) throw new Error(`${where}: unsupported $ref ${schema.$ref}`);
    return name;
  }
  if (Array.isArray(schema.type)) {
    return schema.type.map((type) => typeOf({ ...schema, type }, where)).join(' | ');
  }
  switch (schema.type) {
    case 'null': return 'null';
    case 'string': return 'string';
    case 'boolean': return 'boolean';
    case 'integer':
    case 'number': return 'number';
    case 'array': return `${wrap(typeOf(schema.items ?? true, where))}[]`;
    default: throw new Error(`${where}: unsupported schema ${JSON.stringify(schema)}`);
  }
}

const wrap = (type) => (/[ |]/.test(type) ? `(${type})` : type);

async function generateApi() {
  const api = JSON.parse(fs.readFileSync(path.join(schemaDir, 'api.json'), 'utf8'));
  const root = 'TetherApiDefinitions';
  const types = tidy(
    await compile({ title: root, type: 'object', properties: {}, additionalProperties: false, $defs: api.$defs }, root, options),
    root,
  );
  const doc = (text) => (text ? `  /** ${text.replace(/\*\//g, '* /').replace(/\n/g, '\n   * ')} */\n` : '');
  const requests = api.methods.filter((m) => m.kind === 'request');
  const subscriptions = api.methods.filter((m) => m.kind === 'subscription');
  const unknownKinds = api.methods.filter((m) => m.kind !== 'request' && m.kind !== 'subscription');
  if (unknownKinds.length) throw new Error(`unknown method kinds: ${unknownKinds.map((m) => `${m.name}: ${m.kind}`)}`);
  let out = `// generated from rpc-schema/schema/api.json by ${script}; do not edit\n`;
  out += `// (npm run generate in extensions/vscode refreshes it)\n\n`;
  out += `/** The editor API version these types describe; \`daemon.hello\` takes it. */\n`;
  out += `export const API_VERSION = ${JSON.stringify(api.api_version)};\n\n`;
  out += types.trim() + '\n\n';
  out += `/** Every request method: its parameters (\`null\`: it takes none) and its result. */\n`;
  out += `export interface Requests {\n`;
  for (const m of requests) {
    out += doc(m.doc);
    out += `  ${JSON.stringify(m.name)}: { params: ${typeOf(m.params, m.name)}; result: ${typeOf(m.result, m.name)} };\n`;
  }
  out += `}\n\n`;
  out += `/** Every subscription: its parameters, the notification it sends and that notification's payload. */\n`;
  out += `export interface Subscriptions {\n`;
  for (const m of subscriptions) {
    out += doc(m.doc);
    out += `  ${JSON.stringify(m.name)}: { params: ${typeOf(m.params, m.name)}; notification: ${JSON.stringify(m.notification)}; item: ${typeOf(m.item, m.name)}; unsubscribe: ${JSON.stringify(m.unsubscribe)} };\n`;
  }
  out += `}\n\n`;
  out += `/** Every notification by name, with its payload. */\n`;
  out += `export interface Notifications {\n`;
  for (const m of subscriptions) out += `  ${JSON.stringify(m.notification)}: ${typeOf(m.item, m.name)};\n`;
  out += `}\n\n`;
  out += `export const REQUEST_METHODS = ${JSON.stringify(requests.map((m) => m.name), null, 2)} as const;\n\n`;
  out += `export const NOTIFICATIONS = ${JSON.stringify(subscriptions.map((m) => m.notification), null, 2)} as const;\n\n`;
  out += `/** The API's JSON-RPC error codes. */\n`;
  out += `export const ErrorCodes = {\n`;
  for (const e of api.errors) out += doc(e.doc) + `  ${e.name}: ${e.code},\n`;
  out += `} as const;\n\n`;
  out += `export type ErrorCodeName = keyof typeof ErrorCodes;\n`;
  return out;
}

async function generateConfig() {
  const schema = JSON.parse(fs.readFileSync(path.join(schemaDir, 'config.schema.json'), 'utf8'));
  const types = tidy(await compile(schema, 'Config', options), 'Config');
  return `// generated from rpc-schema/schema/config.schema.json by ${script}; do not edit\n\n` + types.trim() + '\n';
}

const outputs = {
  'src/generated/api.ts': await generateApi(),
  'src/generated/config.ts': await generateConfig(),
};
const check = process.argv.includes('--check');
const stale = [];
for (const [file, text] of Object.entries(outputs)) {
  const full = path.join(extension, file);
  const committed = fs.existsSync(full) ? fs.readFileSync(full, 'utf8') : '';
  if (committed === text) continue;
  if (check) stale.push(file);
  else {
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, text);
    console.error(`wrote ${file}`);
  }
}
if (stale.length) {
  console.error(`stale generated files: ${stale.join(', ')}; run \`npm run generate\` in extensions/vscode and commit them`);
  process.exit(1);
}
