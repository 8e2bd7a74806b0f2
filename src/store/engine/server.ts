/**
 * The TCP side: frames messages per connection and answers them. Commands run synchronously, one at a time
 * (Node's event loop is the engine's single command queue), which makes every command atomic with respect to
 * every other. A connection that sends malformed or oversized input is closed; others keep being served.
 */
import net from 'node:net';
import type { Doc } from './bson.ts';
import { CommandError } from './errors.ts';
import { encodeMsgReply, encodeOpReply, MAX_WIRE_DOCUMENT_BYTES, parseMessage, peekMessageLength, WireError, type WireMessage } from './wire.ts';

/** Runs one command document; `legacyDb` is set for OP_QUERY commands (their database comes from the namespace). */
export type CommandRunner = (cmd: Doc, connectionId: number, legacyDb?: string) => Doc;

const LEGACY_COMMANDS = new Set(['isMaster', 'ismaster', 'hello']);

export class WireServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private nextConnectionId = 1;
  private nextRequestId = 1;

  constructor(private readonly runCommand: CommandRunner, private readonly onProtocolError: (message: string) => void) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Open connections and connections accepted since the start (`serverStatus`). */
  connections(): { current: number; totalCreated: number } {
    return { current: this.sockets.size, totalCreated: this.nextConnectionId - 1 };
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    const connectionId = this.nextConnectionId++;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const chunks: Buffer[] = [];
    let buffered = 0;
    const drop = (reason: string): void => {
      this.onProtocolError(`connection ${connectionId} closed: ${reason}`);
      chunks.length = 0;
      buffered = 0;
      socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      buffered += chunk.length;
      try {
        while (buffered >= 4) {
          const head = chunks[0] as Buffer;
          const length = peekMessageLength(head.length >= 4 ? head : Buffer.concat(chunks, buffered));
          if (length === undefined || buffered < length) return;
          const all = chunks.length === 1 ? head : Buffer.concat(chunks, buffered);
          chunks.length = 0;
          if (all.length > length) chunks.push(all.subarray(length));
          buffered -= length;
          this.handle(socket, parseMessage(all.subarray(0, length)), connectionId);
          if (socket.destroyed) return;
        }
      } catch (err) {
        drop(err instanceof WireError ? err.message : `internal error: ${(err as Error).message}`);
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
  }

  private handle(socket: net.Socket, message: WireMessage, connectionId: number): void {
    const requestId = this.nextRequestId++;
    if (message.kind === 'query') {
      const inner = message.query.$query;
      const cmd = inner !== null && typeof inner === 'object' && !Array.isArray(inner) ? inner as Doc : message.query;
      const name = Object.keys(cmd)[0] ?? '';
      const db = message.collection.slice(0, -'.$cmd'.length);
      const reply = LEGACY_COMMANDS.has(name)
        ? this.runCommand(cmd, connectionId, db)
        : new CommandError('UnsupportedOpQueryCommand', `Unsupported OP_QUERY command: ${name}. The client driver may require an upgrade.`).toReply();
      socket.write(encodeOpReply(requestId, message.requestId, reply));
      return;
    }
    const reply = message.oversizedDocumentBytes === undefined
      ? this.runCommand(message.body, connectionId)
      : new CommandError('BSONObjectTooLarge', `BSONObj size: ${message.oversizedDocumentBytes} is invalid. Size must be between 0 and ${MAX_WIRE_DOCUMENT_BYTES}`).toReply();
    if (message.moreToCome) return;
    let bytes: Buffer;
    try {
      bytes = encodeMsgReply(requestId, message.requestId, reply);
    } catch (err) {
      bytes = encodeMsgReply(requestId, message.requestId,
        new CommandError('BadValue', `reply could not be encoded: ${(err as Error).message}`).toReply());
    }
    socket.write(bytes);
  }
}
