import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import ts from 'typescript';

/**
 * The package's public surface (`src/index.ts`): every export carries its documentation (TSDoc on its declaration),
 * and no export reaches into the ready server's internals (the pages, the console, the provider's policy hooks).
 */
const INDEX = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

function publicExports(): { name: string; file: string; documented: boolean }[] {
  const program = ts.createProgram([INDEX], {
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022,
    allowImportingTsExtensions: true, noEmit: true, strict: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(INDEX);
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  if (!moduleSymbol) throw new Error('src/index.ts did not load');
  return checker.getExportsOfModule(moduleSymbol).map((exported) => {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const declaration = symbol.declarations?.[0];
    return {
      name: exported.name,
      file: declaration?.getSourceFile().fileName ?? '',
      documented: symbol.getDocumentationComment(checker).some((part) => part.text.trim().length > 0),
    };
  });
}

describe('the public API (src/index.ts)', function () {
  let exports: ReturnType<typeof publicExports> = [];
  before(function () {
    this.timeout(60_000);
    exports = publicExports();
  });

  it('exports the plugin, its settings, levels, accounts and the factor contract', function () {
    expect(exports.map((entry) => entry.name)).to.include.members([
      'createStepUp', 'loadConfig', 'resolveMfaSecrets', 'createMongoAdapter', 'ACR', 'LEVEL', 'createAccount', 'createDefaultFactors', 'Factor',
    ]);
  });

  it('documents every export on its declaration', function () {
    expect(exports.filter((entry) => !entry.documented).map((entry) => entry.name)).to.deep.equal([]);
  });

  it('exposes nothing of the pages, the console or the provider\'s policy hooks', function () {
    const internal = exports.filter((entry) => /\/src\/(interactions|console|http|authentication)\//.test(entry.file) || /step_up_policy|step_up_configuration/.test(entry.file));
    expect(internal.map((entry) => `${entry.name} (${entry.file})`)).to.deep.equal([]);
  });
});
