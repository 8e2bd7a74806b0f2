import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isAbsolute, join } from 'node:path';
import { expect } from 'chai';
import { CONFIG_KEYS, ConfigError, loadConfig } from '../../src/config/index.ts';
import { MAIL_REQUIRED_IN_PRODUCTION } from '../../src/config/mail_settings.ts';

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

/** Mail and MFA secrets a production configuration needs besides the provider keys. */
function productionSecrets(): Record<string, string> {
  return {
    SMTP_URL: 'smtps://mailer:s3cret@smtp.shop.example:465',
    MAIL_FROM: 'Shop Login <no-reply@id.shop.example>',
    FACTOR_KEYS: `2026-01:${randomBytes(32).toString('base64')}`,
    MFA_PEPPER: randomBytes(32).toString('base64'),
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
    expect(config.proxyHops, 'true is one proxy').to.equal(1);
    expect(loadConfig({ TRUST_PROXY: '2' })).to.include({ trustProxy: true, proxyHops: 2 });
    expect(loadConfig({})).to.include({ trustProxy: false, proxyHops: 0 });
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

  it('production without mail and MFA secrets is refused, each named', function () {
    const problems = problemsOf({ NODE_ENV: 'production' });
    expect(problems).to.include(MAIL_REQUIRED_IN_PRODUCTION);
    for (const variable of ['MAIL_FROM', 'FACTOR_KEYS', 'MFA_PEPPER']) {
      expect(problems.some((p) => p.startsWith(`${variable} is required when NODE_ENV=production`)), variable).to.equal(true);
    }
  });

  it('production refuses the dev seed and weak keys', function () {
    const problems = problemsOf({
      NODE_ENV: 'production',
      MONGODB_URI: 'mongodb://mongo:27017/oidc_stepup',
      DEV_SEED: 'true',
      JWKS: productionKeys().JWKS,
      COOKIE_KEYS: 'short',
      ...productionSecrets(),
    });
    expect(problems.some((p) => p.startsWith('DEV_SEED must be false'))).to.equal(true);
    expect(problems.some((p) => p.startsWith('COOKIE_KEYS: cookieKeys[0] is too short'))).to.equal(true);
    expect(problems).to.have.length(2);
  });

  it('reads the brand: BRAND_NAME over ISSUER_NAME, a logo URL, a colour normalised and refused below WCAG AA', function () {
    expect(loadConfig({}).brand).to.deep.equal({ name: 'oidc-stepup', logoUrl: undefined, primaryColor: undefined });
    const config = loadConfig({ ISSUER_NAME: 'Old Name', BRAND_NAME: 'Keks Shop', BRAND_LOGO_URL: 'https://keks.example/logo.svg', BRAND_PRIMARY_COLOR: '#06C' });
    expect(config.issuerName, 'the mails, the authenticator app and the pages use it').to.equal('Keks Shop');
    expect(config.brand).to.deep.equal({ name: 'Keks Shop', logoUrl: 'https://keks.example/logo.svg', primaryColor: '#0066cc' });
    expect(problemsOf({ BRAND_PRIMARY_COLOR: 'blue' })).to.deep.equal(['BRAND_PRIMARY_COLOR: must be a hex colour (#0b5cad or #06c)']);
    expect(problemsOf({ BRAND_PRIMARY_COLOR: '#ffcc00' })[0]).to.match(/^BRAND_PRIMARY_COLOR: #ffcc00 has a contrast of 1\.\d\d:1/);
    expect(problemsOf({ BRAND_NAME: 'a:b' })[0]).to.match(/^BRAND_NAME: must not contain ":"/);
    const production = problemsOf({
      NODE_ENV: 'production', MONGODB_URI: 'mongodb://mongo:27017/oidc_stepup', ...productionKeys(), ...productionSecrets(), BRAND_LOGO_URL: 'http://keks.example/logo.svg',
    });
    expect(production).to.deep.equal(['BRAND_LOGO_URL: must be an https URL when NODE_ENV=production']);
  });

  it('reads where customers get support, and refuses a bad address, a non-http page and plain http in production', function () {
    expect(loadConfig({}).support).to.deep.equal({ url: undefined, email: undefined });
    expect(loadConfig({ SUPPORT_URL: ' https://help.shop.example/sign-in ', SUPPORT_EMAIL: 'help@shop.example' }).support)
      .to.deep.equal({ url: 'https://help.shop.example/sign-in', email: 'help@shop.example' });
    expect(loadConfig({ SUPPORT_URL: 'http://localhost:8080/help' }).support.url, 'http outside production').to.equal('http://localhost:8080/help');
    const problems = problemsOf({ SUPPORT_URL: 'javascript:alert(1)', SUPPORT_EMAIL: 'not an address' });
    expect(problems.some((p) => p.startsWith('SUPPORT_URL'))).to.equal(true);
    expect(problems.some((p) => p.startsWith('SUPPORT_EMAIL'))).to.equal(true);
    const production = problemsOf({
      NODE_ENV: 'production', MONGODB_URI: 'mongodb://mongo:27017/oidc_stepup', ...productionKeys(), ...productionSecrets(), SUPPORT_URL: 'http://help.shop.example',
    });
    expect(production).to.deep.equal(['SUPPORT_URL: must be an https URL when NODE_ENV=production']);
  });

  it('a complete production configuration loads, listening on all interfaces, without the dev seed', function () {
    const secrets = productionSecrets();
    const config = loadConfig({
      NODE_ENV: 'production', MONGODB_URI: 'mongodb://mongo:27017/oidc_stepup', ISSUER: 'https://id.shop.example', ...productionKeys(), ...secrets,
    });
    expect(config.production).to.equal(true);
    expect(config.host).to.equal('0.0.0.0');
    expect(config.devSeed).to.equal(false);
    expect(config.embeddedDbSnapshot).to.equal(undefined);
    expect(config.keys?.jwks.keys).to.have.length(1);
    expect(config.keys?.cookieKeys).to.have.length(2);
    expect(config.mail).to.deep.equal({ smtpUrl: secrets.SMTP_URL, from: secrets.MAIL_FROM });
    expect(config.factorKeys?.activeKeyId).to.equal('2026-01');
    expect(config.factorKeys?.keys['2026-01']?.equals(Buffer.from(secrets.FACTOR_KEYS!.slice(8), 'base64'))).to.equal(true);
    expect(config.mfaPepper?.equals(Buffer.from(secrets.MFA_PEPPER!, 'base64'))).to.equal(true);
  });
});

describe('loadConfig: mail, audit, MFA secrets and metrics', function () {
  it('development defaults: the dev outbox, the default sender and name, 400 days of audit, generated MFA secrets, open metrics', function () {
    const config = loadConfig({});
    expect(config.mail).to.deep.equal({ smtpUrl: undefined, from: 'no-reply@localhost' });
    expect(config.issuerName).to.equal('oidc-stepup');
    expect(config.auditRetentionDays).to.equal(400);
    expect(config.factorKeys).to.equal(undefined);
    expect(config.mfaPepper).to.equal(undefined);
    expect(config.metricsToken).to.equal(undefined);
  });

  it('reads every new setting', function () {
    const pepper = randomBytes(48);
    const key1 = randomBytes(32);
    const key2 = randomBytes(32);
    const config = loadConfig({
      SMTP_URL: 'smtp://localhost:1025',
      MAIL_FROM: 'no-reply@id.shop.example',
      ISSUER_NAME: 'Keys Express',
      AUDIT_RETENTION_DAYS: '30',
      FACTOR_KEYS: `new:${key1.toString('base64url')}, old:${key2.toString('base64')}`,
      MFA_PEPPER: pepper.toString('base64url'),
      METRICS_TOKEN: 'a-long-enough-scrape-token',
    });
    expect(config.mail).to.deep.equal({ smtpUrl: 'smtp://localhost:1025', from: 'no-reply@id.shop.example' });
    expect(config.issuerName).to.equal('Keys Express');
    expect(config.auditRetentionDays).to.equal(30);
    expect(config.factorKeys?.activeKeyId).to.equal('new');
    expect(Object.keys(config.factorKeys?.keys ?? {})).to.deep.equal(['new', 'old']);
    expect(config.factorKeys?.keys.old?.equals(key2)).to.equal(true);
    expect(config.mfaPepper?.equals(pepper)).to.equal(true);
    expect(config.metricsToken).to.equal('a-long-enough-scrape-token');
    expect(Object.isFrozen(config.mail)).to.equal(true);
    expect(Object.isFrozen(config.factorKeys)).to.equal(true);
  });

  it('AUDIT_RETENTION_DAYS 0 or forever keeps audit records forever', function () {
    expect(loadConfig({ AUDIT_RETENTION_DAYS: '0' }).auditRetentionDays).to.equal(null);
    expect(loadConfig({ AUDIT_RETENTION_DAYS: 'Forever' }).auditRetentionDays).to.equal(null);
    expect(loadConfig({ AUDIT_RETENTION_DAYS: '3650' }).auditRetentionDays).to.equal(3650);
  });

  it('lists every problem of the new settings at once, without repeating secrets', function () {
    const secretKey = randomBytes(32).toString('base64');
    const problems = problemsOf({
      SMTP_URL: 'http://mailer:hunter2@smtp.example:99999',
      MAIL_FROM: 'two@example.com, three@example.com',
      ISSUER_NAME: 'Shop: Login',
      AUDIT_RETENTION_DAYS: '5000',
      FACTOR_KEYS: `${secretKey}:k1`,
      MFA_PEPPER: randomBytes(16).toString('base64'),
      METRICS_TOKEN: 'short',
    });
    for (const variable of ['SMTP_URL', 'MAIL_FROM', 'ISSUER_NAME', 'AUDIT_RETENTION_DAYS', 'FACTOR_KEYS', 'MFA_PEPPER', 'METRICS_TOKEN']) {
      expect(problems.some((p) => p.startsWith(variable)), `${variable} in ${JSON.stringify(problems, null, 1)}`).to.equal(true);
    }
    const text = problems.join('\n');
    expect(text).not.to.include('hunter2');
    expect(text).not.to.include(secretKey);
    expect(problems.some((p) => p.startsWith('MFA_PEPPER: must decode to at least 32 bytes, got 16'))).to.equal(true);
  });

  it('a pepper that is not base64 and a key of the wrong size are refused', function () {
    const problems = problemsOf({ MFA_PEPPER: 'correct horse battery staple correct horse battery', FACTOR_KEYS: `k1:${randomBytes(16).toString('base64')}` });
    expect(problems).to.deep.equal([
      'FACTOR_KEYS: key "k1" must decode to 32 bytes, got 16',
      'MFA_PEPPER: must be base64 or base64url text (e.g. the output of `openssl rand -base64 32`)',
    ]);
  });

  it('CONFIG_KEYS names every new setting', function () {
    expect(CONFIG_KEYS).to.include.members(['SMTP_URL', 'MAIL_FROM', 'ISSUER_NAME', 'AUDIT_RETENTION_DAYS', 'FACTOR_KEYS', 'MFA_PEPPER', 'METRICS_TOKEN']);
    expect(CONFIG_KEYS).to.include.members(['BRAND_NAME', 'BRAND_LOGO_URL', 'BRAND_PRIMARY_COLOR', 'SUPPORT_URL', 'SUPPORT_EMAIL']);
  });
});
