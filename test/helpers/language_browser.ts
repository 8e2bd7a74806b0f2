/**
 * A {@link Browser} that speaks a language: like a real browser it sends its `Accept-Language` (and any other fixed
 * headers) on every request — the first one, every redirect it follows and every form it posts — and it shows each
 * response to a watcher, so a test sees every page a walk passes through, the ones in between included.
 */
import { Browser, type Page } from './shop.ts';

export interface LanguageBrowserOptions {
  /** Redirects to a URL starting with one of these are not followed (the shop's callback), as for {@link Browser}. */
  readonly stopAt?: string[];
  /** Sent on every request (e.g. `{ 'accept-language': 'de' }`); a request's own headers win. */
  readonly headers?: Record<string, string>;
  /** Called with every response, before the browser goes on. */
  readonly onResponse?: (page: Page, method: string) => void;
}

export class LanguageBrowser extends Browser {
  private readonly headers: Record<string, string>;
  private readonly onResponse: ((page: Page, method: string) => void) | undefined;

  constructor(options: LanguageBrowserOptions = {}) {
    super(options.stopAt ?? []);
    this.headers = { ...options.headers };
    this.onResponse = options.onResponse;
  }

  override async request(
    url: string, init: { method?: string; body?: string | URLSearchParams; headers?: Record<string, string> } = {},
  ): Promise<Page> {
    const page = await super.request(url, { ...init, headers: { ...this.headers, ...init.headers } });
    this.onResponse?.(page, init.method ?? 'GET');
    return page;
  }
}
