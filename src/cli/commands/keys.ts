/**
 * `keys generate`: every secret production needs, as .env lines printed once — signing keys (JWKS), cookie keys
 * (COOKIE_KEYS), the key ring for authenticator secrets at rest (FACTOR_KEYS) and the MFA pepper (MFA_PEPPER).
 */
import { randomBytes } from 'node:crypto';
import { generateKey } from '../../factors/shared/secret_box.ts';
import { formatKeyRing } from '../../config/key_ring.ts';
import { generateProviderKeys } from '../../provider/keys.ts';
import type { CommandSpec, OfflineContext } from '../io.ts';
import { parseCommandArgs } from '../parse.ts';

const GENERATE_USAGE = 'keys generate';

export const keysGenerate: CommandSpec = {
  name: 'keys generate',
  usage: GENERATE_USAGE,
  summary: 'print new production secrets as .env lines (JWKS, COOKIE_KEYS, FACTOR_KEYS, MFA_PEPPER); needs no database',
  parse(args) {
    const { help } = parseCommandArgs('keys generate', GENERATE_USAGE, args, {});
    if (help) return { help: GENERATE_USAGE };
    return {
      offline: true,
      async run(ctx: OfflineContext) {
        const keys = await generateProviderKeys();
        // A key id that says when the key was made, so a later rotation can tell the keys apart.
        const keyId = new Date().toISOString().slice(0, 10);
        const factorKeys = formatKeyRing({ activeKeyId: keyId, keys: { [keyId]: generateKey() } });
        ctx.print('# oidc-stepup production secrets: keep them secret (a .env file outside git, or your secret store).');
        ctx.print('# Rotate JWKS, COOKIE_KEYS and FACTOR_KEYS by putting a new key first and keeping the old ones a while.');
        ctx.print('# Never change MFA_PEPPER: it keys the stored recovery-code hashes.');
        // Single quotes keep the JSON intact both for a shell `source` and for docker compose's .env parser.
        ctx.print(`JWKS='${JSON.stringify(keys.jwks)}'`);
        ctx.print(`COOKIE_KEYS='${keys.cookieKeys.join(',')}'`);
        ctx.print(`FACTOR_KEYS='${factorKeys}'`);
        ctx.print(`MFA_PEPPER='${randomBytes(32).toString('base64url')}'`);
      },
    };
  },
};
