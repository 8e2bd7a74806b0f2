/**
 * The one-way dependency rules of docs/ARCHITECTURE.md ("Dependency rules"), checked by `npm run lint`.
 * Domain folders are every folder of `src/` except `shared/` (and the folder itself).
 */
const DOMAIN = '^src/(accounts|audit|authentication|cli|config|console|factors|http|i18n|interactions|mail|password_reset|policy|provider|security|seed|store)/';

module.exports = {
  forbidden: [
    {
      name: 'factors-stay-below-the-pages',
      severity: 'error',
      comment: 'A factor is a plugin of the pages and the policy, never their client: it must not import them.',
      from: { path: '^src/factors/' },
      to: { path: '^src/(policy|interactions|console|provider)/' },
    },
    {
      name: 'store-knows-no-domain',
      severity: 'error',
      comment: 'The store (connection and embedded engine) knows no domain word.',
      from: { path: '^src/store/' },
      to: { path: DOMAIN, pathNot: '^src/store/' },
    },
    {
      name: 'config-knows-no-domain',
      severity: 'error',
      comment: 'Configuration is environment → validated values: no domain imports, no I/O.',
      from: { path: '^src/config/' },
      to: { path: DOMAIN, pathNot: '^src/config/' },
    },
    {
      name: 'pages-ask-no-provider-internals',
      severity: 'error',
      comment: 'The sign-in pages and the provider policy share their contract through src/policy/interaction.ts.',
      from: { path: '^src/interactions/' },
      to: { path: '^src/provider/' },
    },
    {
      name: 'console-is-not-the-sign-in',
      severity: 'error',
      comment: 'The console and the sign-in pages share the web kit (src/http) and the factors, never each other.',
      from: { path: '^src/console/' },
      to: { path: '^src/(interactions|password_reset)/' },
    },
    {
      name: 'reset-pages-stand-alone',
      comment: 'The password reset is its own page group: it shares the web kit, accounts and security events, not other pages.',
      from: { path: '^src/password_reset/' },
      to: { path: '^src/(interactions|console|provider)/' },
    },
    {
      name: 'provider-is-not-the-plugin',
      severity: 'error',
      comment: 'The plugin (src/plugin.ts) lays itself over the provider configuration; the configuration never calls it.',
      from: { path: '^src/provider/' },
      to: { path: '^src/plugin\\.ts$' },
    },
    {
      name: 'sign-in-is-not-the-console',
      severity: 'error',
      comment: 'The sign-in pages and the console share the web kit (src/http) and the factors, never each other.',
      from: { path: '^src/interactions/' },
      to: { path: '^src/(console|password_reset)/' },
    },
    {
      name: 'shared-and-policy-stay-pure',
      severity: 'error',
      comment: 'src/shared is below every folder; src/policy holds pure decisions over shared values only.',
      from: { path: '^src/(shared|policy)/' },
      to: { path: DOMAIN, pathNot: '^src/policy/' },
    },
    {
      name: 'config-does-no-io',
      severity: 'error',
      comment: 'Configuration parses the environment; the database, mail and files belong to the composition root.',
      from: { path: '^src/config/' },
      to: { path: '(^|/)node_modules/(mongoose|mongodb|nodemailer)/|^(fs|fs/promises|net|http|https|child_process)$' },
    },
    {
      name: 'languages-know-no-domain',
      severity: 'error',
      comment: 'The catalogues and their words serve every page group and the mails; they import nothing of the domain.',
      from: { path: '^src/i18n/' },
      to: { path: DOMAIN, pathNot: '^src/i18n/' },
    },
    {
      name: 'no-module-cycles',
      severity: 'error',
      comment: 'No module imports itself around a loop.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'every-import-resolves',
      severity: 'error',
      comment: 'An import that does not resolve would pass every other rule unseen.',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'nothing-imports-main',
      severity: 'error',
      comment: 'main.ts is the composition root: only Node starts it.',
      from: {},
      to: { path: '^src/main\\.ts$' },
    },
    {
      name: 'no-folder-cycles',
      severity: 'error',
      comment: 'Folders depend on each other one way only.',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'], exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
