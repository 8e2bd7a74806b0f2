/**
 * Which documents a request of the provider, of the sign-in pages or of the security console will read, so its first
 * read fetches them in the same command (`src/store/request_reads.ts`). Every request still reads everything it uses
 * from MongoDB, in its own first command; this only merges the round trips. Joined by what the first document names:
 *
 * - a token (the code or refresh token at the token endpoint, an access token at userinfo): its client, grant, the
 *   session it was issued in (by uid, the newest), its account and the session's proofs;
 * - a login interaction (the sign-in pages, the resume): its client, grant, session, the account it is for (a pending
 *   step-up's, a login result's, the session's) and the session's proofs;
 * - a browser's session (the authorization endpoint, the resume): the client asked for, its grant for that client, the
 *   interaction resumed, a pushed request, the account and its proofs;
 * - the client at the token endpoint: the code or refresh token of the request, with what a token joins;
 * - a console session: its signed-in account.
 *
 * An account comes with its documents per account — each factor's (a factor names its collection:
 * `Factor.accountCollection`), the stored choice of method — and its company (the policy): the step-up decision, the
 * `email_verified` claim and the console's pages read them. So does any later read of an account (the password step's
 * account by email, read once the attempt is reserved, never before: an early read would tell whether an email is
 * registered), except the login result's account, which the resume only checks.
 *
 * A guess that does not match (a stale cookie, another id) only fetches a document nobody asks for.
 */
import type { Context } from 'koa';
import { PROOFS_COLLECTION } from '../authentication/proofs.ts';
import type { JoinedRead, ReadAlong, ReadPlanner } from '../store/request_reads.ts';
import { collectionNameFor } from './adapter.ts';

const ACCOUNTS = 'accounts';
const COMPANIES = 'companies';
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

/**
 * What comes with an account's document: the documents per account named by `accountCollections` (the factors', the
 * stored choice of method) and the account's company (its policy).
 */
function alongAccount(accountCollections: readonly string[]): JoinedRead[] {
  return [...accountCollections.map((collection) => by(collection, '_id')), by(COMPANIES, 'companyId')];
}

/** What a token's document names. */
function tokenJoins(ofAccount: JoinedRead[]): readonly JoinedRead[] {
  return [
    by(CLIENTS, 'payload.clientId'),
    by(GRANTS, 'payload.grantId'),
    sessionByUid('payload.sessionUid'),
    by(ACCOUNTS, 'payload.accountId', ofAccount),
    by(PROOFS_COLLECTION, 'payload.sessionUid'),
  ];
}

/** What an interaction's document names. */
function interactionJoins(ofAccount: JoinedRead[]): readonly JoinedRead[] {
  return [
    by(CLIENTS, 'payload.params.client_id'),
    by(GRANTS, 'payload.grantId'),
    sessionByUid('payload.session.uid'),
    by(ACCOUNTS, 'payload.result.stepUpPending.accountId', ofAccount),
    by(ACCOUNTS, 'payload.result.login.accountId'),
    by(ACCOUNTS, 'payload.session.accountId', ofAccount),
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

/** What a request reads along with any account it reads outside its first read: what comes with an account. */
export function readAlongFor(accountCollections: readonly string[]): ReadAlong {
  const ofAccount = alongAccount(accountCollections);
  return (collection) => (collection === ACCOUNTS ? ofAccount : undefined);
}

/**
 * The planner of one request (`ctx`: the provider's context, or the sign-in pages'); `accountCollections`: the
 * collections holding a document per account (the factors', the stored choice of method).
 */
export function readPlanFor(ctx: Context, paths: ReadPaths, accountCollections: readonly string[]): ReadPlanner {
  const ofAccount = alongAccount(accountCollections);
  const ofToken = tokenJoins(ofAccount);
  return (collection) => {
    switch (collection) {
      case INTERACTIONS:
        return interactionJoins(ofAccount);
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
          by(ACCOUNTS, 'payload.accountId', ofAccount),
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

/**
 * The planner of the security console's pages: the console session of the cookie comes with its signed-in account, and
 * the account with what an account comes with.
 */
export function consoleReadPlan(sessionCollection: string, accountCollections: readonly string[]): ReadPlanner {
  const joins = [by(ACCOUNTS, 'signedIn.accountId', alongAccount(accountCollections))];
  return (collection) => (collection === sessionCollection ? joins : undefined);
}

/** The provider's endpoint paths from its configuration's `routes`. */
export function readPathsOf(routes: { authorization?: string; token?: string } | undefined): ReadPaths {
  return { authorization: routes?.authorization ?? '/auth', token: routes?.token ?? '/token' };
}
