import { expect } from 'chai';
import type { Connection } from 'mongoose';
import type { AdapterPayload } from 'oidc-provider';

import {
  ADAPTER_MODEL_NAMES,
  MongoAdapter,
  collectionNameFor,
  createMongoAdapter,
  ensureAdapterIndexes,
  type AdapterDocument,
} from '../../src/provider/adapter.ts';
import { freezeClock, type FrozenClock } from '../helpers/clock.ts';
import { connectFreshDb } from '../helpers/db.ts';

/** The rejection of a promise that must reject. */
async function rejection(promise: Promise<unknown>): Promise<Error & { error?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { error?: string };
  }
  throw new Error('expected the promise to reject');
}

const epochSeconds = (ms: number): number => Math.floor(ms / 1000);

let counter = 0;
const nextId = (prefix: string): string => `${prefix}-${(counter += 1)}-${Math.random().toString(36).slice(2, 10)}`;

describe('MongoDB adapter for oidc-provider', function () {
  let conn: Connection;
  let clock: FrozenClock | undefined;

  before(async function () {
    // No indexes in this database: no TTL sweeper can remove a document, so expiry is the adapter's own doing.
    conn = await connectFreshDb('adapter');
  });

  after(async function () {
    await conn?.close();
  });

  afterEach(function () {
    clock?.uninstall();
    clock = undefined;
  });

  /** Freezes `Date` at now until the test ends. */
  function freezeUntilTestEnds(): FrozenClock {
    clock = freezeClock();
    return clock;
  }

  function rawDoc(modelName: string, id: string): Promise<AdapterDocument | null> {
    return new MongoAdapter(conn, modelName).collection.findOne({ _id: id });
  }

  describe('collection names', function () {
    it('are oidc_ + snake_case plural of the model name', function () {
      expect(collectionNameFor('AuthorizationCode')).to.equal('oidc_authorization_codes');
      expect(collectionNameFor('Session')).to.equal('oidc_sessions');
      expect(collectionNameFor('ClientCredentials')).to.equal('oidc_client_credentials');
      expect(collectionNameFor('BackchannelAuthenticationRequest')).to.equal('oidc_backchannel_authentication_requests');
    });

    it('give every model its own collection', function () {
      const names = ADAPTER_MODEL_NAMES.map(collectionNameFor);
      expect(new Set(names).size).to.equal(ADAPTER_MODEL_NAMES.length);
    });

    it('refuse what is not a model name', function () {
      expect(() => collectionNameFor('session; drop')).to.throw(/not an oidc-provider model name/);
      expect(() => collectionNameFor('')).to.throw(/not an oidc-provider model name/);
    });
  });

  for (const modelName of ['Session', 'AuthorizationCode', 'Grant', 'Interaction', 'Client', 'RefreshToken', 'DeviceCode']) {
    describe(`contract for ${modelName}`, function () {
      let adapter: InstanceType<ReturnType<typeof createMongoAdapter>>;

      before(function () {
        const Adapter = createMongoAdapter(conn);
        adapter = new Adapter(modelName);
      });

      it('returns what was upserted: nested empty objects, arrays, dotted claim names', async function () {
        const id = nextId(modelName);
        const payload = {
          kind: modelName,
          jti: id,
          iat: 1_700_000_000,
          exp: 1_700_003_600,
          extra: {},
          claims: { id_token: { acr: { essential: true }, 'https://shop.example/claims/tier': null }, userinfo: {} },
          authorizations: { shop: { sid: 'abc', persistsLogout: false, grantId: 'g', empty: {} } },
          amr: ['pwd', 'otp'],
          resource: [],
          nothing: null,
        } as unknown as AdapterPayload;
        await adapter.upsert(id, payload, 3600);
        expect(await adapter.find(id)).to.deep.equal(payload);
      });

      it('returns undefined for an unknown id', async function () {
        expect(await adapter.find(nextId('unknown'))).to.equal(undefined);
      });

      it('replaces the payload and lifetime on a second upsert', async function () {
        const id = nextId(modelName);
        await adapter.upsert(id, { jti: id, grantId: 'old-grant', scope: 'openid email' }, 60);
        await adapter.upsert(id, { jti: id, scope: 'openid' });
        expect(await adapter.find(id)).to.deep.equal({ jti: id, scope: 'openid' });
        const raw = await rawDoc(modelName, id);
        expect(raw).to.not.have.property('expiresAt');
        expect(raw).to.not.have.property('grantId');
      });

      it('stores expiresAt = now + expiresIn seconds', async function () {
        const now = freezeUntilTestEnds().now;
        const id = nextId(modelName);
        await adapter.upsert(id, { jti: id }, 90);
        const raw = await rawDoc(modelName, id);
        expect(raw?.expiresAt?.getTime()).to.equal(now + 90_000);
      });

      it('hides an expired entity before any sweep removes it', async function () {
        const clock = freezeUntilTestEnds();
        const id = nextId(modelName);
        await adapter.upsert(id, { jti: id, scope: 'openid' }, 60);
        clock.tick(59_000);
        expect(await adapter.find(id)).to.deep.equal({ jti: id, scope: 'openid' });
        clock.tick(1_000);
        expect(await adapter.find(id)).to.equal(undefined);
        expect(await rawDoc(modelName, id), 'the document is still stored').to.not.equal(null);
      });

      it('keeps an entity without expiresIn forever', async function () {
        const clock = freezeUntilTestEnds();
        const id = nextId(modelName);
        await adapter.upsert(id, { jti: id });
        clock.tick(10 * 365 * 24 * 3600 * 1000);
        expect(await adapter.find(id)).to.deep.equal({ jti: id });
      });

      it('destroys one entity and leaves the others', async function () {
        const [a, b] = [nextId(modelName), nextId(modelName)];
        await adapter.upsert(a, { jti: a }, 60);
        await adapter.upsert(b, { jti: b }, 60);
        await adapter.destroy(a);
        expect(await adapter.find(a)).to.equal(undefined);
        expect(await adapter.find(b)).to.deep.equal({ jti: b });
        await adapter.destroy(nextId('never-stored')); // no error for what is not there
      });

      it('consumes once: marks epoch seconds, a second consume fails and keeps the first mark', async function () {
        const clock = freezeUntilTestEnds();
        const id = nextId(modelName);
        await adapter.upsert(id, { jti: id, scope: 'openid' }, 600);
        await adapter.consume(id);
        const firstMark = epochSeconds(clock.now);
        expect(await adapter.find(id)).to.deep.equal({ jti: id, scope: 'openid', consumed: firstMark });

        clock.tick(5_000);
        const err = await rejection(adapter.consume(id));
        expect(err.error).to.equal('invalid_grant');
        expect((await adapter.find(id))?.consumed).to.equal(firstMark);
      });

      it('lets exactly one of 20 parallel consumes win', async function () {
        const id = nextId(modelName);
        await adapter.upsert(id, { jti: id }, 600);
        const results = await Promise.allSettled(Array.from({ length: 20 }, () => adapter.consume(id)));
        const won = results.filter((result) => result.status === 'fulfilled');
        const lost = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
        expect(won).to.have.length(1);
        expect(lost).to.have.length(19);
        for (const { reason } of lost) expect((reason as { error?: string }).error).to.equal('invalid_grant');
      });

      it('refuses to consume what does not exist', async function () {
        const err = await rejection(adapter.consume(nextId('missing')));
        expect(err.error).to.equal('invalid_grant');
      });
    });
  }

  describe('findByUid (Session)', function () {
    it('finds a session by its uid, not by another one, and not once expired', async function () {
      const clock = freezeUntilTestEnds();
      const sessions = new MongoAdapter(conn, 'Session');
      const [id, uid] = [nextId('sess'), nextId('uid')];
      const payload = { jti: id, uid, kind: 'Session', accountId: 'acc-1', authorizations: {} };
      await sessions.upsert(id, payload, 300);
      await sessions.upsert(nextId('sess'), { jti: 'other', uid: nextId('uid'), kind: 'Session' }, 300);

      expect(await sessions.findByUid(uid)).to.deep.equal(payload);
      expect(await sessions.findByUid(nextId('uid'))).to.equal(undefined);
      clock.tick(300_000);
      expect(await sessions.findByUid(uid)).to.equal(undefined);
    });

    it('follows a session whose id was rotated (destroy old, save new with the same uid)', async function () {
      const sessions = new MongoAdapter(conn, 'Session');
      const [oldId, newId, uid] = [nextId('sess'), nextId('sess'), nextId('uid')];
      await sessions.upsert(oldId, { jti: oldId, uid }, 300);
      await sessions.destroy(oldId);
      await sessions.upsert(newId, { jti: newId, uid }, 300);
      expect((await sessions.findByUid(uid))?.jti).to.equal(newId);
    });
  });

  describe('findByUserCode (DeviceCode)', function () {
    it('finds a device code by its user code, and not once expired', async function () {
      const clock = freezeUntilTestEnds();
      const deviceCodes = new MongoAdapter(conn, 'DeviceCode');
      const [id, userCode] = [nextId('dc'), `WDJB-${counter}`];
      const payload = { jti: id, userCode, kind: 'DeviceCode', params: {} };
      await deviceCodes.upsert(id, payload, 600);

      expect(await deviceCodes.findByUserCode(userCode)).to.deep.equal(payload);
      expect(await deviceCodes.findByUserCode('NOPE-NOPE')).to.equal(undefined);
      clock.tick(600_000);
      expect(await deviceCodes.findByUserCode(userCode)).to.equal(undefined);
    });
  });

  describe('revokeByGrantId', function () {
    for (const modelName of ['AccessToken', 'RefreshToken', 'AuthorizationCode']) {
      it(`removes exactly that grant's ${modelName} entities`, async function () {
        const adapter = new MongoAdapter(conn, modelName);
        const [grant, otherGrant] = [nextId('grant'), nextId('grant')];
        const mine = [nextId('t'), nextId('t'), nextId('t')];
        const theirs = nextId('t');
        const grantless = nextId('t');
        for (const id of mine) await adapter.upsert(id, { jti: id, grantId: grant }, 600);
        await adapter.upsert(theirs, { jti: theirs, grantId: otherGrant }, 600);
        await adapter.upsert(grantless, { jti: grantless }, 600);

        await adapter.revokeByGrantId(grant);

        for (const id of mine) {
          expect(await adapter.find(id)).to.equal(undefined);
          expect(await rawDoc(modelName, id)).to.equal(null);
        }
        expect(await adapter.find(theirs)).to.deep.equal({ jti: theirs, grantId: otherGrant });
        expect(await adapter.find(grantless)).to.deep.equal({ jti: grantless });
      });
    }

    it('leaves the same grant id in another model alone', async function () {
      const grant = nextId('grant');
      const codes = new MongoAdapter(conn, 'AuthorizationCode');
      const tokens = new MongoAdapter(conn, 'AccessToken');
      const [codeId, tokenId] = [nextId('c'), nextId('t')];
      await codes.upsert(codeId, { jti: codeId, grantId: grant }, 60);
      await tokens.upsert(tokenId, { jti: tokenId, grantId: grant }, 60);
      await codes.revokeByGrantId(grant);
      expect(await codes.find(codeId)).to.equal(undefined);
      expect(await tokens.find(tokenId)).to.deep.equal({ jti: tokenId, grantId: grant });
    });
  });

  describe('consume of a pushed authorization request', function () {
    it('answers a lost race with invalid_request_uri', async function () {
      const requests = new MongoAdapter(conn, 'PushedAuthorizationRequest');
      const id = nextId('par');
      await requests.upsert(id, { jti: id }, 60);
      await requests.consume(id);
      expect((await rejection(requests.consume(id))).error).to.equal('invalid_request_uri');
    });
  });

  describe('clock tolerance', function () {
    it('hides an entity exactly at its expiry when no clock tolerance is configured', async function () {
      const clock = freezeUntilTestEnds();
      const adapter = new MongoAdapter(conn, 'AccessToken');
      const id = nextId('at');
      await adapter.upsert(id, { jti: id }, 60);
      clock.tick(60_000);
      expect(await adapter.find(id)).to.equal(undefined);
    });

    it('keeps an entity for expiresIn + clockTolerance seconds when the tolerance is configured', async function () {
      const clock = freezeUntilTestEnds();
      const Adapter = createMongoAdapter(conn, { clockToleranceSeconds: 15 });
      const adapter = new Adapter('AccessToken');
      const id = nextId('at');
      await adapter.upsert(id, { jti: id }, 60);
      expect((await rawDoc('AccessToken', id))?.expiresAt?.getTime()).to.equal(clock.now + 75_000);
      clock.tick(74_000);
      expect(await adapter.find(id)).to.deep.equal({ jti: id });
      clock.tick(1_000);
      expect(await adapter.find(id)).to.equal(undefined);
    });

    it('refuses a negative clock tolerance', function () {
      expect(() => new MongoAdapter(conn, 'Session', { clockToleranceSeconds: -1 })).to.throw(/clockToleranceSeconds/);
    });
  });

  describe('consume race', function () {
    it("the loser of a consume race revokes the code's grant: its tokens and the Grant itself", async function () {
      const grantId = nextId('grant');
      const codes = new MongoAdapter(conn, 'AuthorizationCode');
      const tokens = new MongoAdapter(conn, 'AccessToken');
      const refresh = new MongoAdapter(conn, 'RefreshToken');
      const grants = new MongoAdapter(conn, 'Grant');
      const [codeId, tokenId, refreshId, otherTokenId] = [nextId('c'), nextId('t'), nextId('r'), nextId('t')];
      await grants.upsert(grantId, { jti: grantId, kind: 'Grant' }, 600);
      await codes.upsert(codeId, { jti: codeId, grantId }, 60);
      await tokens.upsert(tokenId, { jti: tokenId, grantId }, 600);
      await refresh.upsert(refreshId, { jti: refreshId, grantId }, 600);
      await tokens.upsert(otherTokenId, { jti: otherTokenId, grantId: nextId('grant') }, 600);

      const results = await Promise.allSettled([codes.consume(codeId), codes.consume(codeId)]);
      expect(results.map((result) => result.status).sort()).to.deep.equal(['fulfilled', 'rejected']);
      expect(await tokens.find(tokenId)).to.equal(undefined);
      expect(await refresh.find(refreshId)).to.equal(undefined);
      expect(await grants.find(grantId)).to.equal(undefined);
      expect(await tokens.find(otherTokenId), "another grant's token stays").to.not.equal(undefined);
    });
  });

  describe('indexes', function () {
    let indexed: Connection;

    before(async function () {
      indexed = await connectFreshDb('adapter_idx');
      await ensureAdapterIndexes(indexed);
      await ensureAdapterIndexes(indexed); // idempotent
    });

    after(async function () {
      await indexed?.close();
    });

    async function indexesOf(modelName: string): Promise<Array<Record<string, unknown>>> {
      return (await new MongoAdapter(indexed, modelName).collection.listIndexes().toArray()) as Array<Record<string, unknown>>;
    }

    it('puts a TTL index on expiresAt in every model collection', async function () {
      for (const modelName of ADAPTER_MODEL_NAMES) {
        const ttl = (await indexesOf(modelName)).find((index) => (index.key as Record<string, unknown>).expiresAt === 1);
        expect(ttl, `${modelName} TTL index`).to.not.equal(undefined);
        expect(Number(ttl?.expireAfterSeconds), `${modelName} expireAfterSeconds`).to.equal(0);
      }
    });

    it('indexes grantId on the models revoked by grant', async function () {
      for (const modelName of ['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']) {
        const keys = (await indexesOf(modelName)).map((index) => Object.keys(index.key as object).join(','));
        expect(keys, modelName).to.include('grantId');
      }
    });

    it('indexes Session uid (not unique, newest first) and DeviceCode userCode uniquely', async function () {
      const uid = (await indexesOf('Session')).find((index) => (index.key as Record<string, unknown>).uid === 1);
      const userCode = (await indexesOf('DeviceCode')).find((index) => (index.key as Record<string, unknown>).userCode === 1);
      expect(uid?.key).to.deep.equal({ uid: 1, updatedAt: -1 });
      expect(uid?.unique ?? false).to.equal(false);
      expect(userCode?.unique).to.equal(true);
    });

    it('drops the old unique Session uid index of an existing database', async function () {
      const legacy = await connectFreshDb('adapter_legacy');
      try {
        const sessions = new MongoAdapter(legacy, 'Session');
        await sessions.collection.createIndex({ uid: 1 }, { name: 'uid_unique', unique: true });
        await ensureAdapterIndexes(legacy);
        const names = (await sessions.collection.listIndexes().toArray()).map((index) => index.name as string);
        expect(names).to.not.include('uid_unique');
        const uid = nextId('uid');
        await sessions.upsert(nextId('sess'), { uid }, 60);
        await sessions.upsert(nextId('sess'), { uid }, 60);
        expect(await sessions.collection.countDocuments({ uid })).to.equal(2);
      } finally {
        await legacy.dropDatabase().catch(() => undefined);
        await legacy.close();
      }
    });

    it('a stale request can not log the user out by re-saving the pre-login session id', async function () {
      // oidc-provider rotates the session id at login and keeps the uid; a slow request still holding the old id
      // saves it again afterwards. The logged-in session must survive that.
      const clock = freezeUntilTestEnds();
      const sessions = new MongoAdapter(indexed, 'Session');
      const [uid, before, after] = [nextId('uid'), nextId('sess'), nextId('sess')];
      await sessions.upsert(before, { jti: before, uid }, 600);
      clock.tick(10);
      await sessions.destroy(before);
      await sessions.upsert(after, { jti: after, uid, accountId: 'acc-1' }, 600);
      clock.tick(10);
      await sessions.upsert(before, { jti: before, uid }, 600); // the stale request

      expect(await sessions.find(after)).to.deep.equal({ jti: after, uid, accountId: 'acc-1' });
      // Like oidc-provider's memory adapter, the uid now points at the latest save.
      expect((await sessions.findByUid(uid))?.jti).to.equal(before);
    });

    it('findByUid answers with the most recently written session of a uid', async function () {
      const clock = freezeUntilTestEnds();
      const sessions = new MongoAdapter(indexed, 'Session');
      const [uid, first, second] = [nextId('uid'), nextId('sess'), nextId('sess')];
      await sessions.upsert(first, { jti: first, uid }, 60);
      clock.tick(10);
      await sessions.upsert(second, { jti: second, uid }, 60);
      expect((await sessions.findByUid(uid))?.jti).to.equal(second);
      clock.tick(10);
      await sessions.upsert(first, { jti: first, uid, accountId: 'acc-2' }, 60);
      expect((await sessions.findByUid(uid))?.jti).to.equal(first);
      expect((await sessions.find(second))?.jti, 'the other session is not deleted').to.equal(second);
    });
  });
});
