/**
 * Handshake and server-info commands. The `hello` reply describes a standalone MongoDB 7.0: it announces
 * `logicalSessionTimeoutMinutes` (without it the driver disables sessions) and omits `topologyVersion`
 * (streaming monitoring), `compression` and `setName` (replica set), none of which the engine implements.
 */
import { Double, Long, type Doc } from '../bson.ts';
import { fail } from '../errors.ts';
import { MAX_BSON_OBJECT_BYTES, MAX_MESSAGE_BYTES } from '../wire.ts';
import { defineCommand, type CommandContext, type CommandDef, type EngineControls } from './context.ts';

export const SERVER_VERSION = '7.0.0';
export const MAX_WIRE_VERSION = 21;

export function helloReply(ctx: CommandContext, legacy: boolean): Doc {
  return {
    helloOk: true,
    isWritablePrimary: true,
    ...(legacy ? { ismaster: true } : {}),
    maxBsonObjectSize: MAX_BSON_OBJECT_BYTES,
    maxMessageSizeBytes: MAX_MESSAGE_BYTES,
    maxWriteBatchSize: 100_000,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    connectionId: ctx.connectionId,
    minWireVersion: 0,
    maxWireVersion: MAX_WIRE_VERSION,
    readOnly: false,
  };
}

const buildInfo = defineCommand('any', () => ({
  version: SERVER_VERSION,
  gitVersion: 'oidc-stepup-embedded-engine',
  versionArray: [7, 0, 0, 0],
  bits: 64,
  debug: false,
  maxBsonObjectSize: MAX_BSON_OBJECT_BYTES,
  storageEngines: ['embedded'],
  modules: [],
}));

/**
 * A minimal `serverStatus` (https://www.mongodb.com/docs/manual/reference/command/serverStatus/): what tools and
 * drivers' helpers read — the version, the uptime and the connections. The engine keeps no other statistics, so the
 * sections it does not have are absent rather than made up.
 */
const serverStatus = defineCommand('any', (_cmd, ctx) => {
  const now = Date.now();
  const startedAt = ctx.engine?.startedAt ?? now;
  const connections = ctx.engine?.connections() ?? { current: 1, totalCreated: 1 };
  return {
    host: 'embedded-engine',
    version: SERVER_VERSION,
    process: 'mongod',
    pid: process.pid,
    uptime: Math.floor((now - startedAt) / 1000),
    uptimeMillis: now - startedAt,
    localTime: new Date(now),
    connections: { current: connections.current, available: 1_000_000 - connections.current, totalCreated: connections.totalCreated },
  };
});

/** Fields of a `setParameter`/`getParameter` command that are not parameters. */
const NOT_PARAMETERS = new Set(['$db', 'lsid', '$clusterTime', '$readPreference', 'readPreference', 'writeConcern',
  'comment', 'apiVersion', 'apiStrict', 'apiDeprecationErrors', 'maxTimeMS', 'readConcern', '$client']);

function parameterNames(cmd: Doc, name: string): string[] {
  return Object.keys(cmd).filter((key) => key !== name && !NOT_PARAMETERS.has(key));
}

function engineControls(ctx: CommandContext, name: string): EngineControls {
  if (ctx.db !== 'admin') fail('Unauthorized', `${name} may only be run against the admin database.`);
  if (!ctx.engine) fail('NotImplemented', `${name} needs a running engine`);
  return ctx.engine;
}

function refuseParameter(name: string, parameter: string): never {
  return fail('NotImplemented', `the embedded engine does not support ${name} of '${parameter}' (it supports ttlMonitorSleepSecs)`);
}

/**
 * `setParameter` of `ttlMonitorSleepSecs`, the TTL monitor's sleep between sweeps
 * (https://www.mongodb.com/docs/manual/reference/parameters/#mongodb-parameter-param.ttlMonitorSleepSecs), answered
 * `{ was: <previous> }` as mongod does. The engine also takes fractions of a second (tests use short sweeps).
 */
const setParameter = defineCommand('any', (cmd, ctx) => {
  const engine = engineControls(ctx, 'setParameter');
  const names = parameterNames(cmd, 'setParameter');
  if (names.length === 0) fail('BadValue', 'no option found to set, use help:true to see options ');
  const unsupported = names.find((name) => name !== 'ttlMonitorSleepSecs');
  if (unsupported) refuseParameter('setParameter', unsupported);
  const raw = cmd.ttlMonitorSleepSecs;
  const seconds = raw instanceof Double || raw instanceof Long ? Number(raw.valueOf()) : raw;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
    fail('BadValue', `ttlMonitorSleepSecs must be a positive number of seconds, got ${String(raw)}`);
  }
  const was = engine.ttlSweepMs() / 1000;
  engine.setTtlSweepMs(seconds * 1000);
  return { was };
});

/** `getParameter` of `ttlMonitorSleepSecs` (or `'*'`, which lists the one parameter the engine has). */
const getParameter = defineCommand('any', (cmd, ctx) => {
  const engine = engineControls(ctx, 'getParameter');
  const names = cmd.getParameter === '*' ? ['ttlMonitorSleepSecs'] : parameterNames(cmd, 'getParameter');
  if (names.length === 0) fail('BadValue', 'no option found to get');
  const unsupported = names.find((name) => name !== 'ttlMonitorSleepSecs');
  if (unsupported) refuseParameter('getParameter', unsupported);
  return { ttlMonitorSleepSecs: engine.ttlSweepMs() / 1000 };
});

export const handshakeCommands: Record<string, CommandDef> = {
  hello: defineCommand('any', (_cmd, ctx) => helloReply(ctx, false)),
  isMaster: defineCommand('any', (_cmd, ctx) => helloReply(ctx, true)),
  ismaster: defineCommand('any', (_cmd, ctx) => helloReply(ctx, true)),
  buildinfo: buildInfo,
  buildInfo,
  ping: defineCommand([], () => ({})),
  serverStatus,
  endSessions: defineCommand([], () => ({})),
  setParameter,
  getParameter,
};
