/**
 * Counts the MongoDB commands an app sends, with the driver's command monitoring (`commandStarted` on
 * `conn.getClient()`; the connection must be opened with `monitorCommands: true`, see `connectFreshDb`).
 * Counts, never times: the numbers are deterministic for a given flow, so a test can bound them.
 */
import type { Connection, mongo } from 'mongoose';

/**
 * Commands the driver sends on its own, not on the app's behalf: connection handshakes (`hello`, legacy
 * `isMaster`/`ismaster`) and authentication (`saslStart`, `saslContinue`, `authenticate`, `getnonce`) of a new pool
 * connection, server monitoring (`ping`, `buildInfo`), and session clean-up at close (`endSessions`). Their number
 * depends on pool timing, not on what a request needs.
 */
export const DRIVER_COMMANDS: ReadonlySet<string> = new Set([
  'hello', 'isMaster', 'ismaster', 'ping', 'buildInfo', 'buildinfo',
  'saslStart', 'saslContinue', 'authenticate', 'getnonce', 'endSessions',
]);

/** One command the app sent. */
export interface MongoCommand {
  /** The step of the flow it was sent in (the label passed to `step`). */
  step: string;
  commandName: string;
  /** The collection it addressed (`-` for a database-level command). */
  collection: string;
  /** The fields it filtered or updated on, never their values (e.g. `{_id}` or `{payload.uid} $set{…}`). */
  shape: string;
}

export interface CommandRecorder {
  /** Commands counted since the last `start`. */
  readonly commands: readonly MongoCommand[];
  /** Driver commands ({@link DRIVER_COMMANDS}) seen since the last `start`, not in `commands`. */
  readonly excluded: readonly MongoCommand[];
  /** Forgets what was counted and starts counting, labelling commands with `step` until the next `step`. */
  start(step: string): void;
  /** Labels the commands from now on. */
  step(step: string): void;
  /** Renames the current step (e.g. once the response shows which page it was). */
  renameStep(step: string): void;
  /** Stops counting and returns what was counted. */
  stop(): readonly MongoCommand[];
  /** Removes the listener. */
  detach(): void;
}

function keysOf(value: unknown): string {
  return value && typeof value === 'object' ? `{${Object.keys(value).join(',')}}` : '';
}

function collectionOf(commandName: string, command: mongo.Document): string {
  if (commandName === 'getMore' && typeof command.collection === 'string') return command.collection;
  const target: unknown = command[commandName];
  return typeof target === 'string' ? target : '-';
}

function shapeOf(commandName: string, command: mongo.Document): string {
  const first = (list: unknown): mongo.Document | undefined => (Array.isArray(list) ? (list[0] as mongo.Document | undefined) : undefined);
  const more = (list: unknown): string => (Array.isArray(list) && list.length > 1 ? ` ×${list.length}` : '');
  switch (commandName) {
    case 'find':
      return keysOf(command.filter);
    case 'findAndModify':
      return `${keysOf(command.query)} ${command.remove ? 'remove' : keysOf(command.update)}${command.upsert ? ' upsert' : ''}`;
    case 'update': {
      const update = first(command.updates);
      return `${keysOf(update?.q)} ${keysOf(update?.u)}${update?.upsert ? ' upsert' : ''}${more(command.updates)}`;
    }
    case 'delete':
      return `${keysOf(first(command.deletes)?.q)}${more(command.deletes)}`;
    case 'insert':
      return Array.isArray(command.documents) ? `${command.documents.length} doc(s)` : '';
    case 'aggregate':
      return Array.isArray(command.pipeline) ? command.pipeline.map((stage) => keysOf(stage)).join(' ') : '';
    default:
      return '';
  }
}

/** Listens to `conn`'s commands; nothing is counted before `start`. */
export function recordCommands(conn: Connection): CommandRecorder {
  let running = false;
  let current = '';
  let commands: MongoCommand[] = [];
  let excluded: MongoCommand[] = [];
  const client = conn.getClient();
  const listener = (event: mongo.CommandStartedEvent): void => {
    if (!running) return;
    const entry = {
      step: current,
      commandName: event.commandName,
      collection: collectionOf(event.commandName, event.command),
      shape: shapeOf(event.commandName, event.command),
    };
    (DRIVER_COMMANDS.has(event.commandName) ? excluded : commands).push(entry);
  };
  client.on('commandStarted', listener);
  return {
    get commands() {
      return commands;
    },
    get excluded() {
      return excluded;
    },
    start(step) {
      commands = [];
      excluded = [];
      current = step;
      running = true;
    },
    step(step) {
      current = step;
    },
    renameStep(step) {
      for (const list of [commands, excluded]) {
        for (const entry of list) if (entry.step === current) entry.step = step;
      }
      current = step;
    },
    stop() {
      running = false;
      return commands;
    },
    detach() {
      running = false;
      client.off('commandStarted', listener);
    },
  };
}

function tally(keys: string[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  return [...counts.entries()].sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
}

/**
 * A readable breakdown of `commands`: the count per `commandName collection` (most first), per step (in flow
 * order), and every command in order with its shape.
 */
export function describeCommands(commands: readonly MongoCommand[], excluded: readonly MongoCommand[] = []): string {
  const steps = [...new Set(commands.map((c) => c.step))];
  const lines = [`${commands.length} commands`, '', 'per command and collection:'];
  for (const [key, count] of tally(commands.map((c) => `${c.commandName} ${c.collection}`))) lines.push(`  ${String(count).padStart(3)}  ${key}`);
  lines.push('', 'per step:');
  for (const step of steps) {
    const inStep = commands.filter((c) => c.step === step);
    const detail = tally(inStep.map((c) => `${c.commandName} ${c.collection}`)).map(([key, count]) => (count > 1 ? `${count}× ${key}` : key)).join(', ');
    lines.push(`  ${String(inStep.length).padStart(3)}  ${step}: ${detail}`);
  }
  lines.push('', 'in order:');
  for (const c of commands) lines.push(`  ${c.step.padEnd(26)} ${c.commandName} ${c.collection} ${c.shape}`.trimEnd());
  if (excluded.length > 0) {
    lines.push('', `driver commands not counted: ${tally(excluded.map((c) => c.commandName)).map(([name, count]) => `${count}× ${name}`).join(', ')}`);
  }
  return lines.join('\n');
}
