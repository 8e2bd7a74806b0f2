/**
 * Handshake and server-info commands. The `hello` reply describes a standalone MongoDB 7.0: it announces
 * `logicalSessionTimeoutMinutes` (without it the driver disables sessions) and omits `topologyVersion`
 * (streaming monitoring), `compression` and `setName` (replica set), none of which the engine implements.
 */
import type { Doc } from '../bson.ts';
import { MAX_BSON_OBJECT_BYTES, MAX_MESSAGE_BYTES } from '../wire.ts';
import { defineCommand, type CommandContext, type CommandDef } from './context.ts';

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

export const handshakeCommands: Record<string, CommandDef> = {
  hello: defineCommand('any', (_cmd, ctx) => helloReply(ctx, false)),
  isMaster: defineCommand('any', (_cmd, ctx) => helloReply(ctx, true)),
  ismaster: defineCommand('any', (_cmd, ctx) => helloReply(ctx, true)),
  buildinfo: buildInfo,
  buildInfo,
  ping: defineCommand([], () => ({})),
  serverStatus,
  endSessions: defineCommand([], () => ({})),
};
