/**
 * The console's pug pages (`views/account/*.pug`, extending the shared layout). Compiled once per name.
 */
import pug from 'pug';
import { VIEWS_DIR } from '../http/views.ts';

export interface ConsoleViews {
  render(name: string, locals: Record<string, unknown> & { title: string; cspNonce: string }): string;
}

export function createConsoleViews(dir: string = VIEWS_DIR): ConsoleViews {
  const cache = new Map<string, pug.compileTemplate>();
  return {
    render(name, locals) {
      if (!/^[a-z_]+$/.test(name)) throw new Error(`invalid view name ${JSON.stringify(name)}`);
      let template = cache.get(name);
      if (!template) {
        template = pug.compileFile(`${dir}account/${name}.pug`, { basedir: dir });
        cache.set(name, template);
      }
      return template(locals);
    },
  };
}
