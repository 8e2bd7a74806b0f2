/** `keys generate`: a production key set for the environment (JWKS and COOKIE_KEYS), printed once. */
import { generateProviderKeys } from '../../provider/keys.ts';
import type { CommandSpec, OfflineContext } from '../io.ts';
import { parseCommandArgs } from '../parse.ts';

const GENERATE_USAGE = 'keys generate';

export const keysGenerate: CommandSpec = {
  name: 'keys generate',
  usage: GENERATE_USAGE,
  summary: 'print new signing keys and cookie keys as .env lines (JWKS=…, COOKIE_KEYS=…); needs no database',
  parse(args) {
    const { help } = parseCommandArgs('keys generate', GENERATE_USAGE, args, {});
    if (help) return { help: GENERATE_USAGE };
    return {
      offline: true,
      async run(ctx: OfflineContext) {
        const keys = await generateProviderKeys();
        ctx.print('# oidc-stepup production keys: keep them secret (a .env file outside git, or your secret store).');
        // Single quotes keep the JSON intact both for a shell `source` and for docker compose's .env parser.
        ctx.print(`JWKS='${JSON.stringify(keys.jwks)}'`);
        ctx.print(`COOKIE_KEYS='${keys.cookieKeys.join(',')}'`);
      },
    };
  },
};
