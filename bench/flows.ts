/**
 * Whole flows under load, the product against plain oidc-provider 9 measured in the same run (`npm run bench:flows`).
 *
 * Servers besides this load driver and the database (the embedded engine in this process, or `MONGODB_URI`): the
 * product (`src/main.ts`, as an operator runs it) and two baselines (`bench/flows/plain_provider.ts`: oidc-provider
 * with a password page and the same hash, accounts and shop), one on the same adapter and database, one on
 * oidc-provider's own in-memory adapter (what oidc-provider costs without a database). The servers count their
 * MongoDB commands (`bench/flows/count_commands.ts`). Virtual browsers (one cookie jar each) run each flow in a closed loop for a
 * fixed time, on loopback, and check every result as a shop would (state, `iss`, PKCE, ID-token signature and
 * nonce through openid-client; `acr`/`amr` where the product sets them). Accounts are seeded with the package's
 * modules (accounts, the TOTP factor with the deployment's keys) before the servers start.
 *
 * Flows: `mfa` (password + authenticator-app code + token, a fresh browser), `stepup` (a password session asked
 * for `acr mfa`: the code page only), `password` (password + token), `refresh` (refresh-token grants), `console`
 * (the security console's overview, signed in). Each runs unmeasured first (`--warm-up`). Per flow and server:
 * flows/s, latency p50/p99, the server's CPU per flow (from /proc) split into its event loop (the main
 * thread), libuv's thread pool (the password hash, WebCrypto's signatures) and V8's own threads (garbage collection),
 * CPU beyond the password hash (less one hash measured alone per flow that has one) and beyond the thread pool,
 * MongoDB commands per flow, RSS after the run; then the ratios against plain oidc-provider, by flows/s (the whole
 * machine: server, load driver and engine share its cores) and by the servers' CPU per flow (the servers alone).
 *
 * Options: `--seconds N` (per flow, default 20), `--browsers N` (default 8), `--flows a,b,…` (default all),
 * `--profile DIR` (the servers write a V8 CPU profile there when they stop: open it in Chrome DevTools),
 * `--instances N` (the product as N processes on the one database behind a round-robin proxy in this driver; CPU,
 * commands and RSS are their sums), `--warm-up N` (seconds, default 5), `--rounds N` (default 5: each flow's seconds
 * on each server are split into N rounds that interleave the flows and servers; flows/s and the ratios are the median
 * of the rounds, with their spread), `--memory N` (afterwards, password sign-ins on the product until N and 2N of
 * them, with its RSS printed at the start, after N and after 2N: the server keeps no per-sign-in state in memory, so RSS
 * should not grow with them).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Server as HttpServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mongoose from 'mongoose';
import * as oidc from 'openid-client';
import { createAccount } from '../src/accounts/accounts.ts';
import { DEFAULT_PASSWORD_PARAMS, passwordInternals } from '../src/accounts/passwords.ts';
import { deriveMfaPeppers } from '../src/provider/mfa_secrets.ts';
import { createDefaultFactors } from '../src/factors/registry.ts';
import { createSecretBox, generateKey } from '../src/factors/shared/secret_box.ts';
import { formatKeyRing } from '../src/config/key_ring.ts';
import type { TotpFactor } from '../src/factors/totp/factor.ts';
import { ACR } from '../src/policy/acr.ts';
import { saveClient } from '../src/provider/clients.ts';
import { loadOrCreateDevKeys } from '../src/provider/keys.ts';
import { startEngine } from '../src/store/engine/index.ts';
import { appCode, secretOfUri } from '../test/factors/support.ts';
import { Browser, Shop, findForm, signIn, type Page } from '../test/helpers/shop.ts';
import { isChallenge, submitCode } from '../test/helpers/step_up.ts';
import { freePort } from '../test/helpers/net.ts';
import { benchDatabaseUri } from './flows/database_uri.ts';
import { roundRobin } from '../test/helpers/round_robin.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '20' }, browsers: { type: 'string', default: '8' }, flows: { type: 'string', default: 'mfa,stepup,password,refresh,console' },
    profile: { type: 'string' }, memory: { type: 'string' }, instances: { type: 'string', default: '1' }, 'warm-up': { type: 'string', default: '5' }, rounds: { type: 'string', default: '5' } },
});
const SECONDS = Number(values.seconds);
const BROWSERS = Number(values.browsers);
const INSTANCES = Number(values.instances);
const FLOWS = new Set(values.flows.split(','));
const SHOP_CALLBACK = 'http://127.0.0.1:9/bench-shop/callback';
/**
 * Seconds of each flow run on a server before it is measured, unmeasured: a process's first thousands of requests
 * compile its code (V8's JIT), which would be counted against whichever flow a server runs first (a refresh grant
 * costs twice as much CPU in a fresh process).
 */
const WARM_UP_SECONDS = Number(values['warm-up']);
/** Each flow's seconds on each server are split into rounds that interleave the flows and the servers. */
const ROUNDS = Number(values.rounds);
const ROUND_SECONDS = SECONDS / ROUNDS;
/** Accounts per pool: a TOTP code works once per 30-second step, so an MFA flow never reuses an account in a run. */
const POOL = Math.ceil((SECONDS + WARM_UP_SECONDS) * 100) + BROWSERS * 4;
const CLK_TCK = 100;

interface Server {
  readonly name: string;
  /** The server's processes: one, or the product's instances behind `proxy`. */
  readonly children: readonly ChildProcess[];
  readonly proxy?: HttpServer;
  readonly issuer: string;
  readonly shop: Shop;
}

interface Customer { readonly email: string; readonly password: string; readonly secret?: string }

/** One server process (tsx, the command counter preloaded, an IPC channel) on `port`; resolves once it prints `ready`. */
async function spawnServer(name: string, script: string, env: Record<string, string>, ready: string, port: number, issuer: string): Promise<ChildProcess> {
  const profile = values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', '--import', './bench/flows/count_commands.ts', script], {
    cwd: process.cwd(), env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...env, PORT: String(port), ISSUER: issuer }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes(ready)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}):\n${output}`)));
  });
  // Warnings and errors of the server from now on (its log level is `warn`).
  child.stderr?.pipe(process.stderr);
  return child;
}

/** A server of `instances` processes (more than one: behind a round-robin proxy on the issuer's port). */
async function startServer(name: string, script: string, env: Record<string, string>, ready: string, client: { clientId: string; clientSecret: string }, instances = 1): Promise<Server> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  if (instances === 1) {
    const child = await spawnServer(name, script, env, ready, port, issuer);
    return { name, children: [child], issuer, shop: await Shop.discover(issuer, { ...client, redirectUri: SHOP_CALLBACK, postLogoutRedirectUri: SHOP_CALLBACK }) };
  }
  const ports = await Promise.all(Array.from({ length: instances }, () => freePort()));
  const children = await Promise.all(ports.map((own) => spawnServer(name, script, env, ready, own, issuer)));
  const { server: proxy } = roundRobin(ports);
  proxy.listen(port, '127.0.0.1');
  await once(proxy, 'listening');
  return { name: `${name} ×${instances}`, children, proxy, issuer, shop: await Shop.discover(issuer, { ...client, redirectUri: SHOP_CALLBACK, postLogoutRedirectUri: SHOP_CALLBACK }) };
}

/** The MongoDB commands a server's processes sent so far (summed). */
async function commandsOf(server: Server): Promise<number> {
  const counts = await Promise.all(server.children.map(async (child) => {
    const reply = once(child, 'message') as Promise<[{ commands: number }]>;
    child.send('commands');
    return (await reply)[0].commands;
  }));
  return counts.reduce((a, b) => a + b, 0);
}

async function sumOver(server: Server, of: (pid: number) => Promise<number>): Promise<number> {
  return (await Promise.all(server.children.map((child) => of(child.pid as number)))).reduce((a, b) => a + b, 0);
}

/** utime + stime of a process or one of its threads, in milliseconds (`stat` fields 14 and 15). */
async function cpuMsAt(statPath: string): Promise<number> {
  const stat = await readFile(statPath, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

async function cpuMsOf(pid: number): Promise<number> {
  return cpuMsAt(`/proc/${pid}/stat`);
}

/**
 * CPU of a process's event loop (its main thread) and of libuv's thread pool (threads named `libuv-worker`: the
 * password hash, and WebCrypto's signatures), in milliseconds. The rest of the process's CPU is V8's own threads
 * (garbage collection, compilation). Threads that ended are no longer listed, which only a pool shrinking would do.
 */
async function threadCpuMsOf(pid: number): Promise<{ main: number; pool: number }> {
  const tids = await readdir(`/proc/${pid}/task`);
  const split = { main: 0, pool: 0 };
  await Promise.all(tids.map(async (tid) => {
    const [name, ms] = await Promise.all([readFile(`/proc/${pid}/task/${tid}/comm`, 'utf8'), cpuMsAt(`/proc/${pid}/task/${tid}/stat`)]).catch(() => ['', 0] as const);
    if (tid === String(pid)) split.main += ms;
    else if (name.trim() === 'libuv-worker') split.pool += ms;
  }));
  return split;
}

async function rssMiBOf(pid: number): Promise<number> {
  const match = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number : NaN;
}

function expectOk(condition: boolean, what: string, page?: Page): void {
  if (!condition) throw new Error(`${what}${page ? ` (status ${page.status} at ${page.url})` : ''}`);
}

/** What one round of a flow on a server measured. */
interface Round { latencies: number[]; seconds: number; cpuMs: number; mainMs: number; poolMs: number; commands: number }

/** A flow on a server over all its rounds: totals per flow, and the flows per second of each round. */
interface Result {
  flows: number; perSecond: number; perSecondRange: [number, number]; roundsPerSecond: number[]; roundsCpuMs: number[];
  p50: number; p99: number; cpuMs: number; mainMs: number; poolMs: number; commands: number; rssMiB: number;
}

/** Runs `flow` in a closed loop on every virtual browser for `seconds`, adding each flow's latency to `latencies`. */
async function runFor(seconds: number, flow: (browser: number) => Promise<void>, latencies: number[] = []): Promise<void> {
  const end = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: BROWSERS }, async (_, browser) => {
    while (performance.now() < end) {
      const began = performance.now();
      await flow(browser);
      latencies.push(performance.now() - began);
    }
  }));
}

/** Runs `flow` for `seconds` and measures the server meanwhile. */
async function measureRound(server: Server, flow: (browser: number) => Promise<void>, seconds: number): Promise<Round> {
  const latencies: number[] = [];
  const threads = async (): Promise<{ main: number; pool: number }> => (await Promise.all(server.children.map((child) => threadCpuMsOf(child.pid as number))))
    .reduce((a, b) => ({ main: a.main + b.main, pool: a.pool + b.pool }), { main: 0, pool: 0 });
  const [cpuBefore, threadsBefore, commandsBefore] = [await sumOver(server, cpuMsOf), await threads(), await commandsOf(server)];
  const start = performance.now();
  await runFor(seconds, flow, latencies);
  const elapsed = (performance.now() - start) / 1000;
  const [cpuAfter, threadsAfter, commandsAfter] = [await sumOver(server, cpuMsOf), await threads(), await commandsOf(server)];
  return {
    latencies, seconds: elapsed, cpuMs: cpuAfter - cpuBefore, mainMs: threadsAfter.main - threadsBefore.main,
    poolMs: threadsAfter.pool - threadsBefore.pool, commands: commandsAfter - commandsBefore,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function combine(rounds: readonly Round[], rssMiB: number): Result {
  const latencies = rounds.flatMap((round) => round.latencies).sort((a, b) => a - b);
  const flows = latencies.length;
  const sum = (of: (round: Round) => number): number => rounds.reduce((total, round) => total + of(round), 0);
  const roundsPerSecond = rounds.map((round) => round.latencies.length / round.seconds);
  return {
    flows, perSecond: median(roundsPerSecond), perSecondRange: [Math.min(...roundsPerSecond), Math.max(...roundsPerSecond)], roundsPerSecond,
    roundsCpuMs: rounds.map((round) => round.cpuMs / round.latencies.length),
    p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99),
    cpuMs: sum((round) => round.cpuMs) / flows, mainMs: sum((round) => round.mainMs) / flows, poolMs: sum((round) => round.poolMs) / flows,
    commands: sum((round) => round.commands) / flows, rssMiB,
  };
}

/** Runs `flow` in a closed loop on every virtual browser until `count` flows completed. */
async function runCount(count: number, flow: (browser: number) => Promise<void>): Promise<void> {
  let started = 0;
  await Promise.all(Array.from({ length: BROWSERS }, async (_, browser) => {
    while (started < count) {
      started += 1;
      await flow(browser);
    }
  }));
}

function pool<T>(items: readonly T[]): () => T {
  let next = 0;
  return () => {
    const item = items[next];
    next += 1;
    if (item === undefined) throw new Error('account pool exhausted: lower --seconds');
    return item;
  };
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'oidc-stepup-bench-'));
  const engine = process.env.MONGODB_URI ? undefined : await startEngine({ host: '127.0.0.1', port: 0 });
  const database = `bench_${randomBytes(4).toString('hex')}`;
  const dbUri = process.env.MONGODB_URI ? benchDatabaseUri(process.env.MONGODB_URI, database) : `${engine?.uri}/${database}`;
  const conn = await mongoose.createConnection(dbUri).asPromise();
  const servers: Server[] = [];
  try {
    // The deployment: keys, secrets, one first-party shop, the accounts.
    await loadOrCreateDevKeys(conn);
    const factorKeys = { activeKeyId: 'k1', keys: { k1: generateKey() } };
    const pepper = randomBytes(32);
    const { registry } = createDefaultFactors({ conn, secretBox: createSecretBox(factorKeys), issuer: 'bench', recoveryPepper: deriveMfaPeppers(pepper).recoveryCodes });
    const totp = registry.all.find((factor) => factor.enrol && !factor.challenge && factor.role === 'primary') as TotpFactor;
    const saved = await saveClient(conn, { clientId: 'bench-shop', name: 'Bench Shop', redirectUris: [SHOP_CALLBACK], postLogoutRedirectUris: [], firstParty: true });
    const client = { clientId: 'bench-shop', clientSecret: saved.clientSecret as string };
    const seedAccount = async (kind: string, i: number, withApp: boolean): Promise<Customer> => {
      const email = `${kind}-${i}@bench.example`;
      const password = `${kind}-password-${i}`;
      const created = await createAccount(conn, { email, password, name: `${kind} ${i}` });
      if (!withApp) return { email, password };
      const begun = await totp.enrol.begin({ id: created.id, email });
      if (!begun.ok) throw new Error(begun.code);
      const secret = secretOfUri(begun.view.otpauthUri);
      // Confirmed with the previous step's code: the current one stays usable for a sign-in. A step boundary passed
      // between making the code and checking it makes it too old: once more with the new previous step.
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const confirmed = await totp.enrol.confirm(created.id, await appCode(secret, Date.now() - 30_000));
        if (confirmed.ok) return { email, password, secret };
        if (attempt === 1) throw new Error(`the enrolment of ${email} failed: ${confirmed.code}`);
      }
      throw new Error('unreachable');
    };
    const seed = async (kind: string, count: number, withApp: boolean): Promise<Customer[]> => {
      const out: Customer[] = [];
      for (let i = 0; i < count; i += 8) out.push(...await Promise.all(Array.from({ length: Math.min(8, count - i) }, (_, j) => seedAccount(kind, i + j, withApp))));
      return out;
    };
    console.log(`seeding ${POOL} accounts per pool …`);
    const mfaPool = FLOWS.has('mfa') ? await seed('mfa', POOL, true) : [];
    const stepPool = FLOWS.has('stepup') ? await seed('step', POOL, true) : [];
    const plainPool = await seed('plain', BROWSERS, false);

    const env = {
      NODE_ENV: 'development', MONGODB_URI: dbUri, FACTOR_KEYS: formatKeyRing(factorKeys), MFA_PEPPER: pepper.toString('base64'),
      DEV_SEED: 'false', LOG_LEVEL: 'warn', DATA_DIR: dataDir, EMBEDDED_DB_SNAPSHOT: 'off',
    };
    const product = await startServer('product', 'src/main.ts', env, 'Stop with Ctrl+C', client, INSTANCES);
    servers.push(product);
    const plain = await startServer('plain oidc-provider', 'bench/flows/plain_provider.ts', env, 'listening', client);
    servers.push(plain);
    const plainInMemory = await startServer('plain oidc-provider, memory adapter', 'bench/flows/plain_provider.ts', { ...env, PLAIN_ADAPTER: 'memory' }, 'listening', client);
    servers.push(plainInMemory);

    /** The password form of a fresh browser's sign-in; the product's and the baseline's login forms differ only in their path. */
    const passwordStep = async (server: Server, browser: Browser, customer: Customer, params: Record<string, string>) => {
      const pending = await server.shop.startLogin(params);
      const login = await browser.go(pending.url.href);
      const page = await browser.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
      return { pending, page };
    };
    /** A flow on a server, prepared (its accounts, sessions or tokens ready), measured in the rounds below. */
    const jobs: { flow: string; server: Server; hashes: number; body: (browser: number) => Promise<void>; rounds: Round[] }[] = [];
    const plan = (flow: string, server: Server, hashes: number, body: (browser: number) => Promise<void>): void => {
      jobs.push({ flow, server, hashes, body, rounds: [] });
    };

    if (FLOWS.has('mfa')) {
      const next = pool(mfaPool);
      plan('mfa', product, 1, async () => {
        const customer = next();
        const browser = new Browser([SHOP_CALLBACK]);
        const { pending, page } = await passwordStep(product, browser, customer, { acr_values: ACR.mfa });
        expectOk(isChallenge(page), 'the code page', page);
        const done = await submitCode(browser, page, await appCode(customer.secret as string));
        expectOk(done.status === 0, 'the redirect to the shop', done);
        const claims = (await product.shop.finishLogin(pending, done.url)).claims();
        expectOk(claims?.acr === ACR.mfa && Array.isArray(claims.amr) && claims.amr.includes('otp'), `acr ${String(claims?.acr)}, amr ${String(claims?.amr)}`);
      });
    }
    if (FLOWS.has('stepup')) {
      // Each step-up starts from a password session made beforehand (not measured).
      const sessions: { browser: Browser; customer: Customer }[] = [];
      for (let i = 0; i < stepPool.length; i += BROWSERS) {
        sessions.push(...await Promise.all(stepPool.slice(i, i + BROWSERS).map(async (customer) => {
          const browser = new Browser([SHOP_CALLBACK]);
          await signIn(product.shop, browser, customer);
          return { browser, customer };
        })));
      }
      const next = pool(sessions);
      plan('stepup', product, 0, async () => {
        const { browser, customer } = next();
        const pending = await product.shop.startLogin({ acr_values: ACR.mfa });
        const page = await browser.go(pending.url.href);
        expectOk(isChallenge(page), 'the code page of the step-up', page);
        const done = await submitCode(browser, page, await appCode(customer.secret as string));
        expectOk(done.status === 0, 'the redirect to the shop', done);
        expectOk((await product.shop.finishLogin(pending, done.url)).claims()?.acr === ACR.mfa, 'acr mfa (the value asked for)');
      });
    }
    for (const server of [product, plain, plainInMemory]) {
      if (FLOWS.has('password')) {
        plan('password', server, 1, async (i) => {
          const browser = new Browser([SHOP_CALLBACK]);
          const { pending, page } = await passwordStep(server, browser, plainPool[i] as Customer, {});
          expectOk(page.status === 0, 'the redirect to the shop', page);
          const claims = (await server.shop.finishLogin(pending, page.url)).claims();
          expectOk(server !== product || claims?.acr === ACR.pwd, `acr ${String(claims?.acr)}`);
        });
      }
      if (FLOWS.has('refresh')) {
        const tokens = await Promise.all(plainPool.map(async (customer) => {
          const { pending, callbackUrl } = await signIn(server.shop, new Browser([SHOP_CALLBACK]), customer, { params: { scope: 'openid email offline_access', prompt: 'consent' } });
          const refresh = (await server.shop.finishLogin(pending, callbackUrl)).refresh_token;
          if (!refresh) throw new Error(`${server.name} issued no refresh token`);
          return refresh;
        }));
        plan('refresh', server, 0, async (i) => {
          const answer = await oidc.refreshTokenGrant(server.shop.config, tokens[i] as string);
          expectOk(typeof answer.access_token === 'string', 'an access token');
          if (answer.refresh_token) tokens[i] = answer.refresh_token;
        });
      }
    }
    if (FLOWS.has('console')) {
      const browsers = await Promise.all(plainPool.map(async (customer) => {
        const browser = new Browser();
        const login = await browser.go(`${product.issuer}/account`);
        const overview = await browser.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
        expectOk(overview.status === 200 && overview.html.includes(customer.email), 'the console overview', overview);
        return browser;
      }));
      plan('console', product, 0, async (i) => {
        const page = await (browsers[i] as Browser).go(`${product.issuer}/account`);
        expectOk(page.status === 200 && page.html.includes((plainPool[i] as Customer).email), 'the console overview', page);
      });
    }

    for (const job of jobs) {
      console.log(`warming up ${job.flow} on ${job.server.name} for ${WARM_UP_SECONDS} s …`);
      await runFor(WARM_UP_SECONDS, job.body);
    }
    // Rounds interleave the flows and servers, so a drift of the machine's speed during the run (it is shared) touches
    // every figure alike, and each round gives its own ratios.
    for (let round = 1; round <= ROUNDS; round += 1) {
      console.log(`round ${round} of ${ROUNDS}: each flow on each server for ${ROUND_SECONDS.toFixed(1)} s …`);
      for (const job of jobs) job.rounds.push(await measureRound(job.server, job.body, ROUND_SECONDS));
    }
    const results = await Promise.all(jobs.map(async (job) => ({ flow: job.flow, server: job.server.name, hashes: job.hashes, result: combine(job.rounds, await sumOver(job.server, rssMiBOf)) })));

    if (values.memory) {
      const each = Number(values.memory);
      const rss = [await sumOver(product, rssMiBOf)];
      for (const goal of [each, each]) {
        console.log(`running ${goal} password sign-ins on product for memory …`);
        await runCount(goal, async (i) => {
          const { pending, page } = await passwordStep(product, new Browser([SHOP_CALLBACK]), plainPool[i] as Customer, {});
          expectOk(page.status === 0, 'the redirect to the shop', page);
          await product.shop.finishLogin(pending, page.url);
        });
        rss.push(await sumOver(product, rssMiBOf));
      }
      const [start, first, second] = rss as [number, number, number];
      console.log(`\nproduct RSS: ${start.toFixed(0)} MiB at the start, ${first.toFixed(0)} MiB after ${each} password sign-ins, ${second.toFixed(0)} MiB after ${2 * each} (growth from ${each} to ${2 * each}: ${(((second - first) / first) * 100).toFixed(1)} %)`);
    }

    // The password hash alone, measured here in the same run (it runs on the server's thread pool).
    const hashSamples: number[] = [];
    for (let i = 0; i < 15; i += 1) {
      const before = process.cpuUsage();
      await passwordInternals.derive(`hash ${i}`, randomBytes(16), DEFAULT_PASSWORD_PARAMS);
      const used = process.cpuUsage(before);
      hashSamples.push((used.user + used.system) / 1000);
    }
    hashSamples.sort((a, b) => a - b);
    const hashMs = percentile(hashSamples, 0.5);

    console.log(`\n${BROWSERS} browsers, ${SECONDS} s per flow in ${ROUNDS} rounds, node ${process.version}, ${engine ? 'embedded engine' : 'MONGODB_URI'}; password hash ${hashMs.toFixed(1)} ms CPU\n`);
    console.log('| flow | server | flows | flows/s (median of rounds) | min … max | p50 ms | p99 ms | CPU ms/flow | event loop | thread pool | V8 threads | CPU beyond the hash | beyond the pool | MongoDB commands/flow | RSS MiB |');
    console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const { flow, server, hashes, result: r } of results) {
      console.log(`| ${flow} | ${server} | ${r.flows} | ${r.perSecond.toFixed(1)} | ${r.perSecondRange[0].toFixed(1)} … ${r.perSecondRange[1].toFixed(1)} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${r.cpuMs.toFixed(1)} | ${r.mainMs.toFixed(1)} | ${r.poolMs.toFixed(1)} | ${(r.cpuMs - r.mainMs - r.poolMs).toFixed(1)} | ${Math.max(0, r.cpuMs - hashes * hashMs).toFixed(1)} | ${(r.cpuMs - r.poolMs).toFixed(1)} | ${r.commands.toFixed(1)} | ${r.rssMiB.toFixed(0)} |`);
    }
    const find = (flow: string, server: string): Result | undefined => results.find((r) => r.flow === flow && r.server === server)?.result;
    const plainPassword = find('password', plain.name);
    const ratios: [string, Result | undefined, Result | undefined][] = [
      ['MFA flows/s ÷ plain password flows/s', find('mfa', product.name), plainPassword],
      ['password flows/s ÷ plain password flows/s', find('password', product.name), plainPassword],
      ['refresh grants/s ÷ plain refresh grants/s', find('refresh', product.name), find('refresh', plain.name)],
    ];
    const spread = (perRound: readonly number[]): string => `${median(perRound).toFixed(2)} (median of the rounds' ratios; ${Math.min(...perRound).toFixed(2)} … ${Math.max(...perRound).toFixed(2)})`;
    console.log('');
    for (const [label, a, b] of ratios) {
      if (a && b) console.log(`${label}: ${spread(a.roundsPerSecond.map((value, i) => value / (b.roundsPerSecond[i] as number)))}`);
    }
    // The same comparison by the servers' own CPU: flows/s above also carry the load driver's and the engine's share of
    // the same cores, which differs between the flows (an MFA flow makes the driver compute a code and the engine join).
    console.log('');
    for (const [label, a, b] of ratios) {
      if (a && b) console.log(`${label.replace(/flows\/s|grants\/s/g, (unit) => `${unit.split('/')[0]} per CPU second`)}: ${spread(a.roundsCpuMs.map((ms, i) => (b.roundsCpuMs[i] as number) / ms))}`);
    }
  } finally {
    for (const server of servers) {
      server.proxy?.closeAllConnections();
      server.proxy?.close();
      await Promise.all(server.children.map(async (child) => {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }));
    }
    await conn.dropDatabase().catch(() => undefined);
    await conn.close();
    await engine?.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
