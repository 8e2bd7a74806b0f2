/**
 * A shop in Python with Authlib (Debian's `python3-authlib`), the README's `examples/authlib_shop.py`: it asks an
 * essential `acr` and validates the ID token with `claims_options={"acr": {"essential": True, "values": [ACR]}}`,
 * which compares strings. The customer signs in with an authenticator-app code (level 3): the ID token answers the
 * value asked for, so Authlib accepts it. Needs the Debian package (CI installs it); skipped outside CI without it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { ACR } from '../../src/policy/acr.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, findForm } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { isChallenge, nextCode, submitCode } from '../helpers/step_up.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = resolve(import.meta.dirname, '../../examples/authlib_shop.py');
const run = promisify(execFile);

async function authlibInstalled(): Promise<boolean> {
  if (!existsSync(PYTHON)) return false;
  return run(PYTHON, ['-c', 'import authlib, requests']).then(() => true, () => false);
}

describe('a Python shop with Authlib: the essential acr it asks for is the acr it gets', function () {
  this.timeout(30_000);
  before(async function () {
    if (await authlibInstalled()) return;
    if (process.env.CI) throw new Error('python3-authlib must be installed in CI (.ci/run does it)');
    this.skip();
  });
  const server = useTestServer('authlib_shop');
  const clock = useFrozenClock();

  async function python<T>(...args: string[]): Promise<T> {
    const { stdout } = await run(PYTHON, [SCRIPT, ...args], { env: { PATH: process.env.PATH ?? '', AUTHLIB_INSECURE_TRANSPORT: '1' } });
    return JSON.parse(stdout) as T;
  }

  for (const acr of [ACR.mfa, ACR.mfaApp]) {
    it(`asks ${acr}, the customer uses the app: Authlib validates an ID token saying ${acr}`, async function () {
      const { clientId, clientSecret, redirectUri } = server.clients.firstParty;
      const shop = [server.issuer, clientId, clientSecret, redirectUri, acr];
      const started = await python<{ url: string; state: string; code_verifier: string; nonce: string }>('start', ...shop);
      const browser = new Browser([redirectUri]);
      const login = await browser.go(started.url);
      const challenge = await browser.submit(findForm(login, '/login'), { email: server.mfaAccounts.carol.email, password: server.mfaAccounts.carol.password });
      expect(isChallenge(challenge)).to.equal(true);
      const done = await submitCode(browser, challenge, await nextCode(clock, server.totpSecrets.carol));
      expect(done.status).to.equal(0);
      const claims = await python<{ acr: string; amr: string[]; sub: string }>('finish', ...shop, done.url, started.state, started.code_verifier, started.nonce);
      expect(claims).to.include({ acr, sub: server.mfaAccounts.carol.id });
      expect(claims.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    });
  }
});
