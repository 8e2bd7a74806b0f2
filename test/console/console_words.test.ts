import { expect } from 'chai';
import { AUDIT_EVENTS, type AuditEvent } from '../../src/audit/audit_log.ts';
import { describeEvents, type EventLine } from '../../src/console/events.ts';
import { flattenCatalogue, readCatalogues } from '../../src/i18n/languages.ts';
import { english, german, languages } from '../helpers/words.ts';

/** The words of the security settings and the company admin pages, in every language there is. */
describe('account console: words', function () {
  const catalogues = readCatalogues();
  const ours = (id: string): boolean => id.startsWith('console.') || id.startsWith('company.');

  it('every message of the console and the company pages is translated into German', function () {
    const source = flattenCatalogue(catalogues.en ?? {}).filter(ours);
    expect(source.length).to.be.greaterThan(100);
    const ids = new Set(flattenCatalogue(catalogues.de ?? {}));
    expect(source.filter((id) => !ids.has(id))).to.deep.equal([]);
  });

  it('every security event has words in the recent events list', function () {
    for (const name of AUDIT_EVENTS) {
      expect(english.t(`console.event.${name}`), name).to.not.equal(`console.event.${name}`);
      expect(german.t(`console.event.${name}`), name).to.not.equal(english.t(`console.event.${name}`));
    }
  });

  describe('the recent events', function () {
    const at = new Date('2026-11-25T12:00:00Z');
    const event = (name: AuditEvent['event'], details?: Record<string, unknown>): AuditEvent => (
      { id: name, accountId: 'a', actor: { type: 'user', id: 'a' }, event: name, at, ...(details ? { details } : {}) }
    );
    const known = new Set(languages.messageIds);
    const lines = (events: AuditEvent[]): EventLine[] => describeEvents(events, (id) => known.has(id));
    /** A line as the page writes it (without the time). */
    const words = (line: EventLine, t: typeof english): string => {
      const detail = line.detail === undefined ? '' : `: ${'text' in line.detail ? line.detail.text : t.t(line.detail.message)}`;
      return `${t.t(line.event)}${detail}`;
    };

    it('names the method by its label id, in the reader\'s language; older records\' English labels as stored', function () {
      const [added, old] = lines([event('factor_added', { method: 'factors.totp.label' }), event('factor_removed', { method: 'Email code' })]);
      expect(words(added as EventLine, english)).to.equal('Sign-in method added: Authenticator app');
      expect(words(added as EventLine, german)).to.equal('Anmeldemethode hinzugefügt: Authenticator-App');
      expect(words(old as EventLine, german)).to.equal('Anmeldemethode entfernt: Email code');
    });

    it('shows a label id this deployment has no words for, and a company name, as stored (never looked up)', function () {
      const [gone, company] = lines([
        event('factor_added', { method: 'factors.sms.label' }),
        event('company_policy_forced', { company: 'acme.example' }),
      ]);
      expect(words(gone as EventLine, german)).to.equal('Anmeldemethode hinzugefügt: factors.sms.label');
      expect(words(company as EventLine, german)).to.equal(`${german.t('console.event.company_policy_forced')}: acme.example`);
    });

    it('counts the recovery codes left', function () {
      const [used] = lines([event('recovery_code_used', { remaining: 9 })]);
      expect(words(used as EventLine, english)).to.equal('A recovery code was used: 9 left');
      expect(words(used as EventLine, german)).to.equal('Ein Wiederherstellungscode wurde verwendet: noch 9 übrig');
    });
  });
});
