/**
 * Which documents a request of the provider or of the sign-in pages will read, so its first read fetches them in the
 * same command (`src/store/request_reads.ts`). Every request still reads everything it uses from MongoDB, in its own
 * first command; this only merges the round trips. Joined by what the first document names:
 *
 * - a token (the code or refresh token at the token endpoint, an access token at userinfo): its client, grant, the
 *   session it was issued in (by uid, the newest), its account with the factors' documents (a factor may prove the
 *   account's email: the `email_verified` claim) and the session's proofs;
 * - a login interaction (the sign-in pages, the resume): its client, grant, session, the account it is for (a pending
 *   step-up's, a login result's, the session's) and the session's proofs;
 * - a browser's session (the authorization endpoint, the resume): the client asked for, its grant for that client, the
 *   interaction resumed, a pushed request, the account and its proofs;
 * - the client at the token endpoint: the code or refresh token of the request, with what a token joins.
 *
 * Where the request may ask for a second factor (an interaction's step-up, a browser's session), the account comes with
 * the factors' documents of that account (each factor names its collection: `Factor.accountCollection`), and so does
 * any later read of an account (the password step's account by email, read once the attempt is reserved, never
 * before: an early read would tell whether an email is registered): the decision reads them when it asks for a
 * second factor.
 *
 * A guess that does not match (a stale cookie, another id) only fetches a document nobody asks for.
 */
import type { Context } from 'koa';
import { PROOFS_COLLECTION } from '../authentication/proofs.ts';
import type { JoinedRead, ReadAlong, ReadPlanner } from '../store/request_reads.ts';
import { collectionNameFor } from './adapter.ts';

const ACCOUNTS = 'accounts';
const CLIENTS = collectionNameFor('Client');
const SESSIONS = collectionNameFor('Session');
const GRANTS = collectionNameFor('Grant');
const INTERACTIONS = collectionNameFor('Interaction');
const CODES = collectionNameFor('AuthorizationCode');
const REFRESH_TOKENS = collectionNameFor('RefreshToken');
const ACCESS_TOKENS = collectionNameFor('AccessToken');
const PUSHED_REQUESTS = collectionNameFor('PushedAuthorizationRequest');
const PAR_URN = 'urn:ietf:params:oauth:request_uri:';
/** oidc-provider ids (nanoids, client ids without "."): anything else is not guessed at. */
const ID = /^[A-Za-z0-9_~:-]{1,128}$/;

function by(collection: string, localField: string, joins?: JoinedRead[]): JoinedRead {
  return { collection, localField, ...(joins ? { joins } : {}) };
}

function sessionByUid(localField: string): JoinedRead {
  return { collection: SESSIONS, localField, foreignField: 'uid', newest: 'updatedAt' };
}

/** The factors' documents of an account, joined to the account's document. */
function factorsOf(accountCollections: readonly string[]): JoinedRead[] {
  return accountCollections.map((collection) => by(collection, '_id'));
}

/** What a token's document names. */
function tokenJoins(factors: JoinedRead[]): readonly JoinedRead[] {
  return [
    by(CLIENTS, 'payload.clientId'),
    by(GRANTS, 'payload.grantId'),
    sessionByUid('payload.sessionUid'),
    by(ACCOUNTS, 'payload.accountId', factors),
    by(PROOFS_COLLECTION, 'payload.sessionUid'),
  ];
}

/** What an interaction's document names. */
function interactionJoins(factors: JoinedRead[]): readonly JoinedRead[] {
  return [
    by(CLIENTS, 'payload.params.client_id'),
    by(GRANTS, 'payload.grantId'),
    sessionByUid('payload.session.uid'),
    by(ACCOUNTS, 'payload.result.stepUpPending.accountId', factors),
    by(ACCOUNTS, 'payload.result.login.accountId'),
    by(ACCOUNTS, 'payload.session.accountId', factors),
    by(PROOFS_COLLECTION, 'payload.session.uid'),
  ];
}

function id(value: unknown): string | undefined {
  return typeof value === 'string' && ID.test(value) ? value : undefined;
}

/** What the request names in its URL and its parameters. */
interface Named {
  readonly clientId?: string | undefined;
  readonly pushedRequest?: string | undefined;
  /** The interaction the URL resumes (`/auth/:uid`). */
  readonly resumed?: string | undefined;
  /** At the token endpoint: the code or refresh token redeemed. */
  readonly token?: JoinedRead | undefined;
}

function namedBy(ctx: Context, paths: ReadPaths, joins: readonly JoinedRead[]): Named {
  const params = ((ctx as { oidc?: { params?: Record<string, unknown> } }).oidc?.params ?? ctx.query) as Record<string, unknown>;
  if (ctx.method === 'POST' && ctx.path === paths.token) {
    const grantType = params.grant_type;
    const code = grantType === 'authorization_code' ? id(params.code) : undefined;
    const refresh = grantType === 'refresh_token' ? id(params.refresh_token) : undefined;
    const token = code ? { collection: CODES, id: code } : refresh ? { collection: REFRESH_TOKENS, id: refresh } : undefined;
    return { token: token && { ...token, joins: joins.filter((join) => join.collection !== CLIENTS) } };
  }
  const requestUri = typeof params.request_uri === 'string' && params.request_uri.startsWith(PAR_URN) ? params.request_uri.slice(PAR_URN.length) : undefined;
  const resumed = ctx.path.startsWith(`${paths.authorization}/`) ? id(ctx.path.slice(paths.authorization.length + 1)) : undefined;
  return { clientId: id(params.client_id), pushedRequest: id(requestUri), resumed };
}

/** Where the provider's endpoints are (its `routes`). */
export interface ReadPaths {
  readonly authorization: string;
  readonly token: string;
}

/** What a request reads along with any account it reads (outside its first read): the factors' documents. */
export function readAlongFor(accountCollections: readonly string[]): ReadAlong {
  const factors = factorsOf(accountCollections);
  return (collection) => (collection === ACCOUNTS ? factors : undefined);
}

/**
 * The planner of one request (`ctx`: the provider's context, or the sign-in pages'); `accountCollections`: the
 * collections holding a factor's document per account.
 */
export function readPlanFor(ctx: Context, paths: ReadPaths, accountCollections: readonly string[]): ReadPlanner {
  const factors = factorsOf(accountCollections);
  const ofToken = tokenJoins(factors);
  return (collection) => {
    switch (collection) {
      case INTERACTIONS:
        return interactionJoins(factors);
      case CODES:
      case REFRESH_TOKENS:
      case ACCESS_TOKENS:
        return ofToken;
      case SESSIONS: {
        const named = namedBy(ctx, paths, ofToken);
        // Client ids never contain "." (`clients.ts`), so the session's grant for the client is a plain path.
        return [
          ...(named.clientId ? [{ collection: CLIENTS, id: named.clientId }, by(GRANTS, `payload.authorizations.${named.clientId}.grantId`)] : []),
          ...(named.resumed ? [{ collection: INTERACTIONS, id: named.resumed, joins: [by(CLIENTS, 'payload.params.client_id'), by(GRANTS, 'payload.grantId')] }] : []),
          ...(named.pushedRequest ? [{ collection: PUSHED_REQUESTS, id: named.pushedRequest }] : []),
          by(ACCOUNTS, 'payload.accountId', factors),
          by(PROOFS_COLLECTION, 'payload.uid'),
        ];
      }
      case CLIENTS: {
        const named = namedBy(ctx, paths, ofToken);
        if (named.token) return [named.token];
        return named.pushedRequest ? [{ collection: PUSHED_REQUESTS, id: named.pushedRequest }] : undefined;
      }
      default:
        return undefined;
    }
  };
}

/** The provider's endpoint paths from its configuration's `routes`. */
export function readPathsOf(routes: { authorization?: string; token?: string } | undefined): ReadPaths {
  return { authorization: routes?.authorization ?? '/auth', token: routes?.token ?? '/token' };
}
