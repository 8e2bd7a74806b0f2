import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../src/config/index.ts';

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  expect.fail('loadConfig accepted the environment');
}

function productionKeys(): { JWKS: string; COOKIE_KEYS: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'RS256' };
  return {
    JWKS: JSON.stringify({ keys: [jwk] }),
    COOKIE_KEYS: `${randomBytes(32).toString('base64url')},${randomBytes(32).toString('base64url')}`,
  };
}

describe('loadConfig', function () {
  it('starts with no configuration at all: development defaults', function () {
    const config = loadConfig({});
    expect(config.env).to.equal('development');
    expect(config.production).to.equal(false);
    expect(config.port).to.equal(3000);
    expect(config.host).to.equal('127.0.0.1');
    expect(config.issuer).to.equal('http://localhost:3000');
    expect(config.mongodbUri).to.equal(undefined);
    expect(config.dataDir).to.equal('.data');
    expect(config.embeddedDbSnapshot).to.satisfy((file: string) => isAbsolute(file) && file.endsWith(join('.data', 'embedded-db.snapshot')));
    expect(config.keys).to.equal(undefined);
    expect(config.trustProxy).to.equal(false);
    expect(config.logLevel).to.equal('info');
    expect(config.devSeed).to.equal(true);
    expect(config.resourceServers).to.deep.equal({});
    expect(config.ttl).to.deep.equal({
      accessTokenSeconds: 600,
      authorizationCodeSeconds: 60,
      clientCredentialsSeconds: 600,
      idTokenSeconds: 3600,
      refreshTokenSeconds: 1_209_600,
      interactionSeconds: 1800,
      sessionSeconds: 1_209_600,
      grantSeconds: 1_209_600,
    });
  });

  it('the result is deeply frozen', function () {
    const config = loadConfig({ RESOURCE_SERVERS: '{"https://api.example":{"scope":"orders:read"}}' });
    expect(Object.isFrozen(config)).to.equal(true);
    expect(Object.isFrozen(config.ttl)).to.equal(true);
    expect(Object.isFrozen(config.resourceServers['https://api.example'])).to.equal(true);
  });

  it('the issuer follows PORT, loses a trailing slash, and empty values count as unset', function () {
    expect(loadConfig({ PORT: '8081' }).issuer).to.equal('http://localhost:8081');
    expect(loadConfig({ ISSUER: 'https://id.shop.example/' }).issuer).to.equal('https://id.shop.example');
    expect(loadConfig({ PORT: '', LOG_LEVEL: '  ' }).port).to.equal(3000);
  });

  it('reads booleans, TTLs and resource servers', function () {
    const config = loadConfig({
      TRUST_PROXY: 'yes',
      DEV_SEED: 'false',
      ACCESS_TOKEN_TTL: '300',
      EMBEDDED_DB_SNAPSHOT: 'off',
      RESOURCE_SERVERS: '{"https://api.example":{"scope":"invoice orders:read","accessTokenTTL":120}}',
    });
    expect(config.trustProxy).to.equal(true);
    expect(config.devSeed).to.equal(false);
    expect(config.ttl.accessTokenSeconds).to.equal(300);
    expect(config.embeddedDbSnapshot).to.equal(undefined);
    expect(config.resourceServers['https://api.example']).to.deep.equal({
      audience: 'https://api.example',
      scope: 'invoice orders:read',
      accessTokenFormat: 'jwt',
      accessTokenTTL: 120,
    });
  });

  it('lists every problem at once, each naming its variable', function () {
    const problems = problemsOf({
      NODE_ENV: 'staging',
      PORT: 'eighty',
      ISSUER: 'not a url',
      MONGODB_URI: 'postgres://db',
      TRUST_PROXY: 'maybe',
      LOG_LEVEL: 'loud',
      ACCESS_TOKEN_TTL: '-5',
      RESOURCE_SERVERS: '{"not-a-uri":{"scope":""}}',
      JWKS: '{"keys":[]}',
    });
    const variables = ['NODE_ENV', 'PORT', 'ISSUER', 'MONGODB_URI', 'TRUST_PROXY', 'LOG_LEVEL', 'ACCESS_TOKEN_TTL', 'RESOURCE_SERVERS', 'JWKS'];
    for (const variable of variables) {
      expect(problems.some((p) => p.startsWith(variable)), `${variable} in ${JSON.stringify(problems, null, 1)}`).to.equal(true);
    }
    expect(problems.some((p) => p.includes('JWKS and COOKIE_KEYS go together'))).to.equal(true);
    expect(new ConfigError(problems).message.split('\n').length).to.equal(problems.length + 1);
  });

  it('production without MONGODB_URI, JWKS and COOKIE_KEYS is refused, all three named', function () {
    const problems = problemsOf({ NODE_ENV: 'production' });
    expect(problems).to.include('MONGODB_URI is required when NODE_ENV=production (the embedded engine is for development and tests only)');
    expect(problems.some((p) => p.startsWith('JWKS is required when NODE_ENV=production'))).to.equal(true);
    expect(problems.some((p) => p.startsWith('COOKIE_KEYS is required when NODE_ENV=production'))).to.equal(true);
  });

  it('production refuses the dev seed and weak keys', function () {
    const problems = problemsOf({
      NODE_ENV: 'production',
      MONGODB_URI: 'mongodb://mongo:27017/oidc_stepup',
      DEV_SEED: 'true',
      JWKS: productionKeys().JWKS,
      COOKIE_KEYS: 'short',
    });
    expect(problems.some((p) => p.startsWith('DEV_SEED must be false'))).to.equal(true);
    expect(problems.some((p) => p.startsWith('COOKIE_KEYS: cookieKeys[0] is too short'))).to.equal(true);
    expect(problems).to.have.length(2);
  });

  it('a complete production configuration loads, listening on all interfaces, without the dev seed', function () {
    const config = loadConfig({ NODE_ENV: 'production', MONGODB_URI: 'mongodb://mongo:27017/oidc_stepup', ISSUER: 'https://id.shop.example', ...productionKeys() });
    expect(config.production).to.equal(true);
    expect(config.host).to.equal('0.0.0.0');
    expect(config.devSeed).to.equal(false);
    expect(config.embeddedDbSnapshot).to.equal(undefined);
    expect(config.keys?.jwks.keys).to.have.length(1);
    expect(config.keys?.cookieKeys).to.have.length(2);
  });
});
