import { fileURLToPath } from 'node:url';
import pug from 'pug';

/** `views/` at the repository (or image) root: `src/http/` and `dist/http/` both sit two levels below it. */
export const VIEWS_DIR = fileURLToPath(new URL('../../views/', import.meta.url));

/** Locals every page receives: the page `title` and the CSP nonce of its inline `<style>`. */
export interface PageLocals {
  title: string;
  cspNonce: string;
  [key: string]: unknown;
}

/**
 * A view name: lower-case letters and underscores, optionally in sub-folders (`console/overview`). Nothing else —
 * no `..`, no leading or trailing slash, no dots or backslashes — so a name can never leave the views directory.
 */
export const VIEW_NAME = /^[a-z_]+(\/[a-z_]+)*$/;

export interface Views {
  /** Renders `views/<name>.pug` to HTML (pug escapes every interpolated value); `name` matches {@link VIEW_NAME}. */
  render(name: string, locals: PageLocals): string;
}

/** Compiled pug templates, cached per name (pages are small and few). */
export function createViews(dir: string = VIEWS_DIR): Views {
  const cache = new Map<string, pug.compileTemplate>();
  return {
    render(name, locals) {
      if (!VIEW_NAME.test(name)) throw new Error(`invalid view name ${JSON.stringify(name)}`);
      let template = cache.get(name);
      if (!template) {
        template = pug.compileFile(`${dir}${name}.pug`, { basedir: dir });
        cache.set(name, template);
      }
      return template(locals);
    },
  };
}
