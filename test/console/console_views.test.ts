import { expect } from 'chai';
import { csvCell, reportCsv, type MemberReport } from '../../src/console/company_report.ts';
import { createViews } from '../../src/http/views.ts';
import { english, german } from '../helpers/words.ts';

describe('account console: shared views with sub-folders', function () {
  const views = createViews();

  it('renders a console page by its sub-folder name', function () {
    const html = views.render('console/error', { title: 'Oops', cspNonce: 'n', heading: 'Oops', message: 'Bad thing', code: 'bad_thing' });
    expect(html).to.include('<h1>Oops</h1>');
    expect(html).to.include('bad_thing');
  });

  it('refuses names that could leave the views folder or are not plain names', function () {
    for (const name of ['../layout', 'console/../layout', '/console/error', 'console/', 'console//error', 'Console/error', 'console/error.pug', 'console\\error', '']) {
      expect(() => views.render(name, { title: 't', cspNonce: 'n' }), name).to.throw(/invalid view name/);
    }
  });
});

describe('company report CSV: a spreadsheet reads every cell as text', function () {
  it('quotes every cell, doubling the quotes (RFC 4180), so no delimiter inside a cell splits it', function () {
    expect(csvCell('plain')).to.equal('"plain"');
    expect(csvCell('')).to.equal('""');
    expect(csvCell('Doe, Jo')).to.equal('"Doe, Jo"');
    expect(csvCell('Doe; Jo')).to.equal('"Doe; Jo"');
    expect(csvCell('say "hi"')).to.equal('"say ""hi"""');
    expect(csvCell('two\nlines')).to.equal('"two\nlines"');
  });

  it('a cell starting with =, +, -, @, tab or carriage return gets a leading apostrophe (formula injection)', function () {
    expect(csvCell('=1+2')).to.equal('"\'=1+2"');
    expect(csvCell('+49 30 1234')).to.equal('"\'+49 30 1234"');
    expect(csvCell('-2')).to.equal('"\'-2"');
    expect(csvCell('@SUM(A1)')).to.equal('"\'@SUM(A1)"');
    expect(csvCell('\tx')).to.equal('"\'\tx"');
    expect(csvCell(' =1')).to.equal('"\' =1"');
    expect(csvCell('=A1,"b"')).to.equal('"\'=A1,""b"""');
    expect(csvCell('a=b')).to.equal('"a=b"');
  });

  it('a cell with a formula after a comma, semicolon, tab, pipe or line break gets a leading apostrophe too', function () {
    expect(csvCell('x;=1+1')).to.equal('"\'x;=1+1"');
    expect(csvCell('Bob,@SUM(1)')).to.equal('"\'Bob,@SUM(1)"');
    expect(csvCell('tab\t=1')).to.equal('"\'tab\t=1"');
    expect(csvCell('Pip|+cmd')).to.equal('"\'Pip|+cmd"');
    expect(csvCell('Sam; -2')).to.equal('"\'Sam; -2"');
    expect(csvCell('two\r\n@x')).to.equal('"\'two\r\n@x"');
    expect(csvCell('Smith; John')).to.equal('"Smith; John"');
    expect(csvCell('a-b, c+d')).to.equal('"a-b, c+d"');
  });

  it('writes a header and one CRLF-terminated line per user', function () {
    const row: MemberReport = {
      id: 'x', name: 'Ann', email: 'ann@example.com', role: 'member', self: false, active: true, methods: ['factors.totp.label', 'Code card'],
      recoveryLeft: 7, hasTwoFactor: true, resettable: true, asks: 'user', lock: { permanent: true },
    };
    const lines = reportCsv([row], english).split('\r\n');
    expect(lines).to.have.length(3);
    expect(lines[0]).to.equal('"Name","Email","Role","Two-factor authentication","Methods","Recovery codes left","Asks at every sign-in","Locked"');
    expect(lines[1]).to.equal('"Ann","ann@example.com","Member","Yes","Authenticator app; Code card","7","Yes","Locked until unlocked"');
    expect(lines[2]).to.equal('');
  });

  it('speaks the admin\'s language: headers, words and times in German', function () {
    const row: MemberReport = {
      id: 'y', name: 'Bea', email: 'bea@example.com', role: 'admin', self: false, active: true, methods: ['factors.email.label'],
      recoveryLeft: undefined, hasTwoFactor: true, resettable: true, asks: 'company', lock: { permanent: false, until: new Date('2026-11-25T19:35:00Z') },
    };
    const lines = reportCsv([row], german).split('\r\n');
    expect(lines[0]).to.equal(`"Name","${german.t('company.report.column.email')}","Rolle","Zwei-Faktor-Authentifizierung","Methoden","Verbleibende Wiederherstellungscodes","Code bei jeder Anmeldung","Gesperrt"`);
    expect(lines[1]).to.equal(`"Bea","bea@example.com","Administrator","Ja","E-Mail-Code","","Ja (Richtlinie des Unternehmens)","Gesperrt bis ${german.formatTime(new Date('2026-11-25T19:35:00Z'))}"`);
  });
});
