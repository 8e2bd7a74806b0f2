/**
 * Fixed-window request limits kept in MongoDB (`rate_windows`), shared by every instance of a deployment: at most
 * `limit` requests per key per window. For requests that cost the provider or a third party something whatever their
 * outcome — a password-reset mail — where the failure-counting lockouts of `factor_attempts` do not fit (nothing here
 * fails, and a lock that doubles or becomes permanent would let anyone block a customer's reset).
 *
 * One window per key: the first request opens it, `limit` requests fit in it, the next ones are refused until it ends.
 * Two commands per request: close an ended window, then count into the open one (the unique `_id` makes a parallel
 * burst count exactly). Windows are swept by a TTL index once they end.
 */
import { Schema, type Connection, type Model } from 'mongoose';
import { isDuplicateKeyError } from '../shared/errors.ts';
import { oncePerConnection } from '../store/once_per_connection.ts';

interface WindowDoc {
  /** `<name>:<key>` */
  _id: string;
  count: number;
  endsAt: Date;
}

const windowSchema = new Schema<WindowDoc>({
  _id: { type: String, required: true },
  count: { type: Number, required: true },
  endsAt: { type: Date, required: true },
}, { versionKey: false, strict: 'throw', autoIndex: false, autoCreate: false, collection: 'rate_windows' });
windowSchema.index({ endsAt: 1 }, { expireAfterSeconds: 0, name: 'ends_at_ttl' });

function windowModel(conn: Connection): Model<WindowDoc> {
  return (conn.models.RateWindow as Model<WindowDoc> | undefined) ?? conn.model<WindowDoc>('RateWindow', windowSchema, 'rate_windows');
}

/** Creates the collection's TTL index; idempotent, once per connection. */
export const ensureRateWindowIndexes = oncePerConnection((conn) => windowModel(conn).createIndexes());

/** The answer to one request: counted, or refused until the window ends. */
export type RateAnswer = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number };

export interface RateWindow {
  /** Counts one request of `key` at `now`; refused when the key's open window is full. */
  take(key: string, now?: Date): Promise<RateAnswer>;
}

export interface RateWindowOptions {
  /** The limit's name (lower_snake_case), prefixed to its keys. */
  readonly name: string;
  /** Requests allowed per window. */
  readonly limit: number;
  /** The window's length, in milliseconds. */
  readonly windowMs: number;
}

export function createRateWindow(conn: Connection, options: RateWindowOptions): RateWindow {
  const { name, limit, windowMs } = options;
  if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`rate window "${name}" must be lower_snake_case`);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new Error('a rate window limit must be a positive integer');
  if (!Number.isSafeInteger(windowMs) || windowMs < 1) throw new Error('a rate window length must be a positive integer');
  return {
    async take(key: string, now: Date = new Date()): Promise<RateAnswer> {
      await ensureRateWindowIndexes(conn);
      const Window = windowModel(conn);
      const id = `${name}:${key}`;
      await Window.deleteOne({ _id: id, endsAt: { $lte: now } }).exec();
      try {
        await Window.updateOne(
          { _id: id, count: { $lt: limit } },
          { $inc: { count: 1 }, $setOnInsert: { endsAt: new Date(now.getTime() + windowMs) } },
          { upsert: true },
        ).exec();
        return { ok: true };
      } catch (err) {
        // The window exists and is full: the upsert tried to open a second one under the same `_id`.
        if (!isDuplicateKeyError(err)) throw err;
      }
      const open = await Window.findById(id, { endsAt: 1 }).lean<Pick<WindowDoc, 'endsAt'>>().exec();
      return { ok: false, retryAfterMs: open ? Math.max(1000, open.endsAt.getTime() - now.getTime()) : 1000 };
    },
  };
}
